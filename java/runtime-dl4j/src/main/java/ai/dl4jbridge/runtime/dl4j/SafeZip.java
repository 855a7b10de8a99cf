package ai.dl4jbridge.runtime.dl4j;

import ai.dl4jbridge.runtime.ModelLoadException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * A DL4J model zip cut down to what inference needs, before ModelSerializer sees it.
 *
 * <p>Why: ModelSerializer 1.0.0-M2.1's restoreMultiLayerNetwork / restoreComputationGraph read a
 * {@code preprocessor.bin} entry, when present, with a plain {@code ObjectInputStream} (no class filter:
 * any serializable class on the classpath is instantiated, the classic deserialisation gadget), and
 * {@code normalizer.bin} can be Java-serialised too. A model zip from elsewhere must not get that far:
 * only the configuration (JSON), the parameters (ND4J's binary array format) and the no-parameters marker
 * are passed on; every other entry is skipped and listed in {@link #skipped()}. The updater state is not
 * needed for inference and is skipped as well.
 */
final class SafeZip {
    static final String CONFIGURATION = "configuration.json";
    private static final Set<String> KEPT = Set.of(CONFIGURATION, "coefficients.bin", "noParams.marker");
    /** The uncompressed size we accept: a Java array's limit (ModelSerializer buffers entries in memory). */
    private static final long MAX_UNCOMPRESSED = Integer.MAX_VALUE - 64;

    private final byte[] zip;
    private final String configuration;
    private final List<String> skipped;

    private SafeZip(byte[] zip, String configuration, List<String> skipped) {
        this.zip = zip;
        this.configuration = configuration;
        this.skipped = Collections.unmodifiableList(skipped);
    }

    /** Reads {@code original}, keeping only the entries inference needs. */
    static SafeZip of(byte[] original, String source) {
        ByteArrayOutputStream kept = new ByteArrayOutputStream(original.length);
        List<String> skipped = new ArrayList<>();
        String configuration = null;
        long total = 0;
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(original));
                ZipOutputStream out = new ZipOutputStream(kept)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                if (!KEPT.contains(e.getName())) {
                    skipped.add(e.getName());
                    continue;
                }
                byte[] content = readBounded(in, MAX_UNCOMPRESSED - total, source);
                total += content.length;
                if (CONFIGURATION.equals(e.getName())) {
                    configuration = new String(content, StandardCharsets.UTF_8);
                }
                out.putNextEntry(new ZipEntry(e.getName()));
                out.write(content);
                out.closeEntry();
            }
        } catch (IOException e) {
            throw new ModelLoadException("model " + source + " is not a readable zip: " + e, e);
        }
        if (configuration == null) {
            throw new ModelLoadException("model " + source + " has no " + CONFIGURATION + " entry: not a DL4J model zip"
                    + " (ModelSerializer.writeModel writes one); entries found: " + skipped);
        }
        return new SafeZip(kept.toByteArray(), configuration, skipped);
    }

    private static byte[] readBounded(InputStream in, long limit, String source) throws IOException {
        byte[] content = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 64, limit + 1));
        if (content.length > limit) {
            throw new ModelLoadException(
                    "model " + source + " unpacks to more than " + MAX_UNCOMPRESSED + " bytes; refused");
        }
        return content;
    }

    /** The zip with the kept entries only. */
    byte[] bytes() {
        return zip;
    }

    /** configuration.json's text. */
    String configuration() {
        return configuration;
    }

    /** True when the configuration is a ComputationGraph's (it has "vertices"; a MultiLayerNetwork's has "confs"). */
    boolean isComputationGraph() {
        return configuration.contains("\"vertices\"") && configuration.contains("\"networkInputs\"");
    }

    /** Names of the entries left out (never deserialised). */
    List<String> skipped() {
        return skipped;
    }
}
