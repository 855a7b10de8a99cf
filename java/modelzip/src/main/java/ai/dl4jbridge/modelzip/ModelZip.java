package ai.dl4jbridge.modelzip;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * A DL4J model zip, read safely: the one place that decides what of a model zip reaches DL4J's ModelSerializer.
 * Python's {@code bridge.load} ({@link Use#TRAINING}) and the DL4J predictor ({@link Use#INFERENCE}) both use it.
 *
 * <p>Why: DL4J 1.0.0-M2.1's restoreMultiLayerNetwork / restoreComputationGraph read a {@code preprocessor.bin}
 * entry, when present, with a plain ObjectInputStream (no class filter: any serialisable class on the classpath is
 * instantiated, the classic deserialisation gadget), and they read the zip with ZipInputStream, from its local
 * headers, where zip tools read the central directory. So, before DL4J sees anything:
 *
 * <ol>
 *   <li>the layout is checked ({@link ZipLayout}): the entries tile the file, local headers agree with the
 *       directory, no entry twice;
 *   <li>one allow-list applies: DL4J's {@value #CONFIGURATION}, {@value #COEFFICIENTS} and {@value #NO_PARAMS}, plus
 *       {@value #UPDATER_STATE} when training resumes; and dl4j-bridge's own entries ({@value #METADATA}, the legacy
 *       {@value #LEGACY_METADATA}, {@value #TRAINING_STATE}), read here as text and never handed to DL4J. An entry
 *       outside the list is skipped and listed in {@link #skipped()} when serving, refused when training;
 *   <li>every entry is read with a bound: declared sizes are capped, then not trusted (an entry that unpacks to
 *       more or less than its directory declares is refused);
 *   <li>the parameters' array headers ({@link Nd4jArrayHeader}) must declare the bytes the entry holds;
 *   <li>JSON entries nesting deeper than {@link #MAX_JSON_DEPTH} are refused before any parser sees them
 *       (recursive parsers overflow their stack on them);
 *   <li>DL4J gets a zip rebuilt from the kept DL4J entries only ({@link #dl4jZip()}), stored, not recompressed.
 * </ol>
 *
 * Nothing from the file is Java-deserialised: the legacy metadata (a java.lang.String that
 * ModelSerializer.addObjectToFile wrote) is decoded by {@link JavaSerializedString}.
 */
public final class ModelZip {
    public static final String CONFIGURATION = "configuration.json";
    public static final String COEFFICIENTS = "coefficients.bin";
    public static final String NO_PARAMS = "noParams.marker";
    public static final String UPDATER_STATE = "updaterState.bin";
    /** dl4j-bridge's metadata: plain UTF-8 JSON {"name", "labels", "input_shapes"}. */
    public static final String METADATA = "dl4j-bridge.json";
    /** The metadata as zips written before {@value #METADATA} hold it: one Java-serialised String. */
    public static final String LEGACY_METADATA = "objects/dl4j-bridge.json";
    /** What resuming training needs beside DL4J's entries: UTF-8 JSON. */
    public static final String TRAINING_STATE = "dl4j-bridge-training.json";
    /** The entry DL4J's restore Java-deserialises: refused when training, skipped when serving. */
    public static final String DESERIALIZED_BY_DL4J = "preprocessor.bin";

    /** The deepest JSON nesting read from a zip: DL4J's configurations nest about 6 deep. */
    public static final int MAX_JSON_DEPTH = 64;
    /** dl4j-bridge's own entries (metadata, training state) may hold at most this much. */
    public static final int BRIDGE_ENTRY_MAX_BYTES = 1 << 20;
    /** Any other entry but the parameters (configuration.json, ...): a sanity cap against zip bombs. */
    public static final int OTHER_ENTRY_MAX_BYTES = 256 << 20;
    /** Everything the zip unpacks to: a Java array's limit (the zip is read whole, as ModelSerializer does). */
    public static final long MAX_TOTAL_BYTES = Integer.MAX_VALUE - (1 << 20);

    private static final Set<String> BRIDGE_ENTRIES = Set.of(METADATA, LEGACY_METADATA, TRAINING_STATE);
    private static final Set<String> PARAMETER_ENTRIES = Set.of(COEFFICIENTS, UPDATER_STATE);

    /** What the zip is read for: which DL4J entries are kept, and what becomes of entries outside the list. */
    public enum Use {
        /** Serving (the DL4J predictor): the network without its updater state; other entries skipped, listed. */
        INFERENCE(Set.of(CONFIGURATION, COEFFICIENTS, NO_PARAMS), false),
        /** bridge.load, training may resume: the updater state too; any other entry is refused, named. */
        TRAINING(Set.of(CONFIGURATION, COEFFICIENTS, NO_PARAMS, UPDATER_STATE), true);

        private final Set<String> dl4jEntries;
        private final boolean refusesOthers;

        Use(Set<String> dl4jEntries, boolean refusesOthers) {
            this.dl4jEntries = dl4jEntries;
            this.refusesOthers = refusesOthers;
        }

        boolean allows(String name) {
            return dl4jEntries.contains(name) || BRIDGE_ENTRIES.contains(name);
        }
    }

    private final String source;
    private final byte[] dl4jZip;
    private final int dl4jZipLength;
    private final String configuration;
    private final String metadataEntry;
    private final String metadataJson;
    private final String trainingStateJson;
    private final List<String> skipped;

    private ModelZip(String source, Read read) {
        this.source = source;
        this.dl4jZip = read.dl4jZip.buffer();
        this.dl4jZipLength = read.dl4jZip.size();
        byte[] conf = read.kept.get(CONFIGURATION);
        this.configuration =
                JsonDepth.checked(new String(conf, StandardCharsets.UTF_8), MAX_JSON_DEPTH, source, CONFIGURATION);
        this.metadataEntry = read.kept.containsKey(METADATA)
                ? METADATA
                : read.kept.containsKey(LEGACY_METADATA) ? LEGACY_METADATA : null;
        this.metadataJson = metadataEntry == null
                ? null
                : METADATA.equals(metadataEntry)
                        ? text(read.kept.get(METADATA), "metadata entry " + METADATA + " is not valid JSON")
                        : JavaSerializedString.decode(
                                read.kept.get(LEGACY_METADATA), source + ": legacy metadata entry " + LEGACY_METADATA);
        JsonDepth.checked(metadataJson, MAX_JSON_DEPTH, source, "metadata entry " + metadataEntry);
        this.trainingStateJson = read.kept.containsKey(TRAINING_STATE)
                ? text(read.kept.get(TRAINING_STATE), "its " + TRAINING_STATE + " entry is damaged")
                : null;
        JsonDepth.checked(trainingStateJson, MAX_JSON_DEPTH, source, TRAINING_STATE);
        this.skipped = Collections.unmodifiableList(read.skipped);
    }

    /** Reads the model zip at {@code path} for {@code use}; ModelZipException names the problem. */
    public static ModelZip read(Path path, Use use) {
        String source = path.toString();
        try {
            if (Files.size(path) > MAX_TOTAL_BYTES) {
                throw new ModelZipException(source + " is larger than " + MAX_TOTAL_BYTES + " bytes: refused.");
            }
            return of(Files.readAllBytes(path), source, use);
        } catch (IOException e) {
            throw new ModelZipException("cannot read " + source + ": " + e, e);
        }
    }

    /** Reads a model zip held in memory; {@code source} names it in messages (a path, a resource, ...). */
    public static ModelZip of(byte[] zip, String source, Use use) {
        List<ZipLayout.Entry> entries = ZipLayout.read(zip, source);
        if (entries.stream().noneMatch(e -> CONFIGURATION.equals(e.name))) {
            throw new ModelZipException(source + " is not a DL4J model zip: it has no " + CONFIGURATION + " (entries: "
                    + names(entries) + ").");
        }
        if (use.refusesOthers) {
            refuseOthers(entries, source, use);
        }
        checkDeclaredSizes(entries, source);
        return new ModelZip(source, Read.of(zip, entries, source, use));
    }

    private static void refuseOthers(List<ZipLayout.Entry> entries, String source, Use use) {
        String file = source.substring(source.lastIndexOf('/') + 1);
        if (entries.stream().anyMatch(e -> DESERIALIZED_BY_DL4J.equals(e.name))) {
            throw new ModelZipException(source + " holds " + DESERIALIZED_BY_DL4J + ", a Java-serialised object that"
                    + " DL4J's restore would deserialize; dl4j-bridge never deserializes objects from a file. Remove"
                    + " the entry (zip -d " + file + " " + DESERIALIZED_BY_DL4J + ") if you trust the file.");
        }
        List<String> others = new ArrayList<>();
        for (ZipLayout.Entry e : entries) {
            if (!use.allows(e.name)) {
                others.add(e.name);
            }
        }
        if (!others.isEmpty()) {
            throw new ModelZipException(source + " holds " + String.join(", ", others) + ": not among the entries"
                    + " dl4j-bridge reads from a model zip (" + String.join(", ", allowList(use)) + "). Remove "
                    + (others.size() == 1 ? "it" : "them") + " (zip -d " + file + " " + String.join(" ", others)
                    + ") if you trust the file.");
        }
    }

    private static List<String> allowList(Use use) {
        List<String> names = new ArrayList<>();
        for (String name : List.of(
                CONFIGURATION, COEFFICIENTS, NO_PARAMS, UPDATER_STATE, METADATA, LEGACY_METADATA, TRAINING_STATE)) {
            if (use.allows(name)) {
                names.add(name);
            }
        }
        return names;
    }

    /** The declared sizes within their caps (what is read is checked against them again). */
    private static void checkDeclaredSizes(List<ZipLayout.Entry> entries, String source) {
        long total = 0;
        for (ZipLayout.Entry e : entries) {
            long cap = cap(e.name);
            if (e.size > cap) {
                throw new ModelZipException(source + ": entry " + e.name + " declares " + e.size
                        + " bytes, more than the " + cap + " allowed for it; the file is damaged or not ours.");
            }
            total += e.size;
        }
        if (total > MAX_TOTAL_BYTES) {
            throw new ModelZipException(source + " unpacks to " + total + " bytes, more than the " + MAX_TOTAL_BYTES
                    + " a model zip may hold: refused.");
        }
    }

    private static long cap(String name) {
        return BRIDGE_ENTRIES.contains(name)
                ? BRIDGE_ENTRY_MAX_BYTES
                : PARAMETER_ENTRIES.contains(name) ? MAX_TOTAL_BYTES : OTHER_ENTRY_MAX_BYTES;
    }

    private String text(byte[] bytes, String problem) {
        try {
            return ZipLayout.utf8(bytes);
        } catch (CharacterCodingException e) {
            throw new ModelZipException(source + ": " + problem + " (its bytes are not UTF-8 text).");
        }
    }

    private static String names(List<ZipLayout.Entry> entries) {
        List<String> names = new ArrayList<>();
        entries.forEach(e -> names.add(e.name));
        return names.toString();
    }

    /** Where the zip came from, as messages name it. */
    public String source() {
        return source;
    }

    /** A zip of the kept DL4J entries only, for ModelSerializer.restore*(InputStream, ...): a fresh stream per call. */
    public InputStream dl4jZip() {
        return new ByteArrayInputStream(dl4jZip, 0, dl4jZipLength);
    }

    /** configuration.json's text. */
    public String configuration() {
        return configuration;
    }

    /** Which metadata entry the zip holds ({@value #METADATA}, else {@value #LEGACY_METADATA}); null when none. */
    public String metadataEntry() {
        return metadataEntry;
    }

    /** The metadata's JSON text (decoded from the legacy entry where that is what the zip holds); null when none. */
    public String metadataJson() {
        return metadataJson;
    }

    /** {@value #TRAINING_STATE}'s JSON text; null when the zip has none. */
    public String trainingStateJson() {
        return trainingStateJson;
    }

    /** The entries left out ({@link Use#INFERENCE}: outside the allow-list; never read, never deserialised). */
    public List<String> skipped() {
        return skipped;
    }

    /** The zip's entries read through ZipInputStream (DL4J's view), each bounded by its declared size. */
    private static final class Read {
        final Map<String, byte[]> kept = new LinkedHashMap<>();
        final List<String> skipped = new ArrayList<>();
        final Exposed dl4jZip;

        private Read(long capacity) {
            dl4jZip = new Exposed((int) Math.min(capacity, Integer.MAX_VALUE - 64));
        }

        static Read of(byte[] zip, List<ZipLayout.Entry> entries, String source, Use use) {
            long capacity = 1024;
            for (ZipLayout.Entry e : entries) {
                capacity += use.dl4jEntries.contains(e.name) ? e.size + 2L * e.rawName.length + 128 : 0;
            }
            Read read = new Read(capacity);
            String current = null;
            try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip), StandardCharsets.UTF_8);
                    ZipOutputStream out = new ZipOutputStream(read.dl4jZip)) {
                out.setMethod(ZipOutputStream.STORED);
                for (ZipLayout.Entry e : entries) {
                    current = e.name;
                    ZipEntry seen = in.getNextEntry();
                    if (seen == null || !e.name.equals(seen.getName())) {
                        throw new ModelZipException(source + " is not a well-formed model zip: ZipInputStream reads "
                                + (seen == null ? "no entry" : "entry " + seen.getName()) + " where the directory"
                                + " lists " + e.name + ". Its entries would read differently to DL4J than to other"
                                + " zip readers, so it is refused.");
                    }
                    boolean keep = use.allows(e.name);
                    byte[] content = readExactly(in, e, keep, source);
                    if (!keep) {
                        read.skipped.add(e.name);
                    } else if (use.dl4jEntries.contains(e.name)) {
                        if (PARAMETER_ENTRIES.contains(e.name)) {
                            Nd4jArrayHeader.check(content, source, e.name);
                        }
                        store(out, e.name, content);
                        if (CONFIGURATION.equals(e.name)) {
                            read.kept.put(e.name, content);
                        }
                    } else {
                        read.kept.put(e.name, content);
                    }
                }
                current = null;
                if (in.getNextEntry() != null) {
                    throw new ModelZipException(source + " is not a well-formed model zip: ZipInputStream reads more"
                            + " entries than the directory lists, so it is refused.");
                }
            } catch (IOException | IllegalArgumentException e) {
                throw new ModelZipException(
                        source + " is not a readable model zip: "
                                + (current == null ? "" : "entry " + current + " is damaged ") + "(" + e + ").",
                        e);
            }
            return read;
        }

        /** The entry's bytes (null when skipped): exactly as many as the directory declares, or a refusal. */
        private static byte[] readExactly(ZipInputStream in, ZipLayout.Entry e, boolean keep, String source)
                throws IOException {
            byte[] content = null;
            long count;
            if (keep) {
                content = in.readNBytes((int) e.size);
                count = content.length;
            } else {
                count = in.skip(e.size);
            }
            if (count < e.size || in.read() != -1) {
                throw new ModelZipException(source + ": entry " + e.name + " unpacks to "
                        + (count < e.size ? "fewer" : "more") + " bytes than the " + e.size + " its directory"
                        + " declares: refused (a zip bomb or a damaged file).");
            }
            return content;
        }

        private static void store(ZipOutputStream out, String name, byte[] content) throws IOException {
            ZipEntry entry = new ZipEntry(name);
            CRC32 crc = new CRC32();
            crc.update(content);
            entry.setMethod(ZipEntry.STORED);
            entry.setSize(content.length);
            entry.setCompressedSize(content.length);
            entry.setCrc(crc.getValue());
            out.putNextEntry(entry);
            out.write(content);
            out.closeEntry();
        }
    }

    /** A ByteArrayOutputStream whose buffer is read in place (no copy of a model-sized array). */
    private static final class Exposed extends ByteArrayOutputStream {
        Exposed(int capacity) {
            super(capacity);
        }

        byte[] buffer() {
            return buf;
        }
    }
}
