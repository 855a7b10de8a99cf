package ai.dl4jbridge.modelzip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ModelZipTest {
    private static final byte[] CONF = "{\"confs\": []}".getBytes(StandardCharsets.UTF_8);
    private static final byte[] PARAMS = new byte[4096];

    /** A zip as ZipOutputStream writes it (deflated, data descriptors: how DL4J writes its zips). */
    static byte[] zip(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream out = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                out.putNextEntry(new ZipEntry(e.getKey()));
                out.write(e.getValue());
                out.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static Map<String, byte[]> model(Object... more) {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put(ModelZip.CONFIGURATION, CONF);
        entries.put(ModelZip.COEFFICIENTS, PARAMS);
        for (int i = 0; i < more.length; i += 2) {
            Object content = more[i + 1];
            entries.put((String) more[i], content instanceof String ? utf8((String) content) : (byte[]) content);
        }
        return entries;
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] serialised(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    private static List<String> names(InputStream zip) throws IOException {
        List<String> names = new java.util.ArrayList<>();
        try (ZipInputStream in = new ZipInputStream(zip)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                names.add(e.getName());
            }
        }
        return names;
    }

    private static String refusal(byte[] zip, ModelZip.Use use) {
        return assertThrows(ModelZipException.class, () -> ModelZip.of(zip, "m.zip", use))
                .getMessage();
    }

    @Test
    void trainingKeepsTheUpdaterStateAndReadsTheBridgeEntriesAsText() throws IOException {
        byte[] zip = zip(model(
                ModelZip.UPDATER_STATE, new byte[64],
                ModelZip.METADATA, "{\"name\": \"n\"}",
                ModelZip.TRAINING_STATE, "{\"format\": 1}"));
        ModelZip read = ModelZip.of(zip, "m.zip", ModelZip.Use.TRAINING);
        assertEquals(
                List.of(ModelZip.CONFIGURATION, ModelZip.COEFFICIENTS, ModelZip.UPDATER_STATE), names(read.dl4jZip()));
        assertEquals("{\"confs\": []}", read.configuration());
        assertEquals("{\"name\": \"n\"}", read.metadataJson());
        assertEquals(ModelZip.METADATA, read.metadataEntry());
        assertEquals("{\"format\": 1}", read.trainingStateJson());
        assertEquals(List.of(), read.skipped());
    }

    @Test
    void inferenceSkipsAndListsWhatItDoesNotNeed() throws IOException {
        byte[] zip = zip(model(
                ModelZip.UPDATER_STATE,
                new byte[64],
                "preprocessor.bin",
                serialised("x"),
                "normalizer.bin",
                new byte[8]));
        ModelZip read = ModelZip.of(zip, "m.zip", ModelZip.Use.INFERENCE);
        assertEquals(List.of(ModelZip.CONFIGURATION, ModelZip.COEFFICIENTS), names(read.dl4jZip()));
        assertEquals(List.of(ModelZip.UPDATER_STATE, "preprocessor.bin", "normalizer.bin"), read.skipped());
        assertNull(read.metadataJson());
        assertNull(read.trainingStateJson());
    }

    @Test
    void trainingRefusesPreprocessorBinAndEntriesOutsideTheList() throws IOException {
        String pre = refusal(zip(model("preprocessor.bin", serialised("x"))), ModelZip.Use.TRAINING);
        assertTrue(pre.contains("never deserializes objects") && pre.contains("zip -d m.zip preprocessor.bin"), pre);
        String other =
                refusal(zip(model("normalizer.bin", new byte[8], "objects/x", new byte[1])), ModelZip.Use.TRAINING);
        assertTrue(other.contains("m.zip holds normalizer.bin, objects/x: not among the entries"), other);
    }

    @Test
    void legacyMetadataIsDecodedWithoutDeserialising() throws IOException {
        byte[] legacy = zip(model(ModelZip.LEGACY_METADATA, serialised("{\"name\": \"old\"}")));
        ModelZip read = ModelZip.of(legacy, "m.zip", ModelZip.Use.TRAINING);
        assertEquals("{\"name\": \"old\"}", read.metadataJson());
        assertEquals(ModelZip.LEGACY_METADATA, read.metadataEntry());
        Set<Object> set = new HashSet<>();
        set.add(new Tripwire());
        String refused = refusal(zip(model(ModelZip.LEGACY_METADATA, serialised(set))), ModelZip.Use.INFERENCE);
        assertTrue(refused.contains("not a String; it is refused without being deserialized"), refused);
        assertTrue(!Tripwire.tripped);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "plain", "é ü 中 😀 nul\0", "long"})
    void serialisedStringsDecodeAsJavaWroteThem(String text) throws IOException {
        String value = "long".equals(text) ? "x".repeat(70_000) + "é" : text;
        assertEquals(value, JavaSerializedString.decode(serialised(value), "test"));
    }

    @Test
    void serialisedStreamsThatAreNotExactlyOneStringAreRefused() throws IOException {
        byte[] good = serialised("abc");
        byte[] trailing = java.util.Arrays.copyOf(good, good.length + 1);
        assertTrue(assertThrows(ModelZipException.class, () -> JavaSerializedString.decode(trailing, "t"))
                .getMessage()
                .contains("declares 3"));
        byte[] raw = utf8("{\"name\": 1}");
        assertTrue(assertThrows(ModelZipException.class, () -> JavaSerializedString.decode(raw, "t"))
                .getMessage()
                .contains("not a Java serialization stream"));
    }

    @Test
    void anEntryPrependedOutsideTheDirectoryIsRefused() throws IOException {
        byte[] hidden = zip(Map.of("preprocessor.bin", new byte[] {1, 2, 3}));
        int directory = indexOf(hidden, new byte[] {'P', 'K', 1, 2});
        byte[] good = zip(model());
        byte[] smuggled = new byte[directory + good.length];
        System.arraycopy(hidden, 0, smuggled, 0, directory);
        System.arraycopy(good, 0, smuggled, directory, good.length);
        for (ModelZip.Use use : ModelZip.Use.values()) {
            assertTrue(refusal(smuggled, use).contains("m.zip is not a well-formed model zip"), use.name());
        }
    }

    @Test
    void anEntryThatUnpacksToMoreThanItDeclaresIsRefusedBeforeItIsRead() throws IOException {
        byte[] zip = zip(model(ModelZip.UPDATER_STATE, new byte[1 << 20]));
        // The directory and the data descriptor both say 1000 bytes: the layout agrees, the data does not.
        patchSize(zip, ModelZip.UPDATER_STATE, 1000);
        String refused = refusal(zip, ModelZip.Use.TRAINING);
        assertTrue(refused.contains("entry updaterState.bin unpacks to more bytes than the 1000"), refused);
    }

    @Test
    void declaredSizesAreCapped() throws IOException {
        String refused = refusal(zip(model(ModelZip.METADATA, new byte[(1 << 20) + 1])), ModelZip.Use.INFERENCE);
        assertTrue(refused.contains("more than the 1048576 allowed"), refused);
    }

    @Test
    void truncatedGarbageAndModelLessZipsAreNamed() throws IOException {
        byte[] good = zip(model());
        byte[] half = java.util.Arrays.copyOf(good, good.length / 2);
        assertTrue(refusal(half, ModelZip.Use.TRAINING).contains("not a zip archive; truncated or another format?"));
        assertTrue(refusal(utf8("hello"), ModelZip.Use.TRAINING).contains("not a zip archive"));
        String none = refusal(zip(Map.of("hello.txt", utf8("hi"))), ModelZip.Use.TRAINING);
        assertTrue(none.contains("it has no configuration.json (entries: [hello.txt])"), none);
    }

    @Test
    void anEntryNamedTwiceIsRefused() throws IOException {
        byte[] zip = zip(model("configuratioX.json", "{}"));
        byte[] name = utf8("configuratioX.json");
        for (int at = indexOf(zip, name, 0); at >= 0; at = indexOf(zip, name, at + 1)) {
            zip[at + name.length - 6] = 'n';
        }
        assertTrue(refusal(zip, ModelZip.Use.INFERENCE).contains("appears twice"));
    }

    @Test
    void jsonNestedTooDeeplyIsRefusedBeforeAnyParserSeesIt() throws IOException {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        String refused = refusal(zip(model(ModelZip.CONFIGURATION, deep)), ModelZip.Use.INFERENCE);
        assertTrue(refused.contains("configuration.json nests JSON deeper than 64 levels"), refused);
        String meta = "{\"name\": " + "[".repeat(65) + "]".repeat(65) + "}";
        refused = refusal(zip(model(ModelZip.METADATA, meta)), ModelZip.Use.TRAINING);
        assertTrue(refused.contains("metadata entry dl4j-bridge.json nests JSON deeper"), refused);
        // Brackets inside strings do not count.
        String quoted = "{\"name\": \"" + "[".repeat(100) + "\\\"\"}";
        assertEquals(
                quoted,
                ModelZip.of(zip(model(ModelZip.METADATA, quoted)), "m.zip", ModelZip.Use.TRAINING)
                        .metadataJson());
    }

    /** An array as Nd4j.write writes it: a float vector of {@code held} values declaring {@code declared}. */
    private static byte[] nd4jVector(long declared, int held) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            out.writeUTF("MIXED_DATA_TYPES");
            out.writeLong(6);
            out.writeUTF("LONG");
            for (long v : new long[] {1, declared, 1, 8192, 1, 99}) {
                out.writeLong(v);
            }
            out.writeUTF("MIXED_DATA_TYPES");
            out.writeLong(declared);
            out.writeUTF("FLOAT");
            for (int i = 0; i < held; i++) {
                out.writeFloat(i);
            }
        }
        return bytes.toByteArray();
    }

    @Test
    void parametersDeclaringMoreThanTheEntryHoldsAreRefusedByName() throws IOException {
        ModelZip.of(zip(model(ModelZip.COEFFICIENTS, nd4jVector(16, 16))), "m.zip", ModelZip.Use.INFERENCE);
        String refused =
                refusal(zip(model(ModelZip.COEFFICIENTS, nd4jVector(1_000_000_000L, 16))), ModelZip.Use.INFERENCE);
        assertTrue(
                refused.contains("entry coefficients.bin is not the array it claims to be: data buffer declares"
                        + " 1000000000 elements of FLOAT (4000000000 bytes) where 64 bytes are left"),
                refused);
        refused = refusal(zip(model(ModelZip.UPDATER_STATE, nd4jVector(4, 16))), ModelZip.Use.TRAINING);
        assertTrue(refused.contains("updaterState.bin is not the array it claims to be: 48 bytes follow"), refused);
    }

    @Test
    void theRebuiltZipIsStoredAndKeepsTheBytes() throws IOException {
        byte[] params = new byte[10_000];
        new java.util.Random(1).nextBytes(params);
        ModelZip read = ModelZip.of(zip(model(ModelZip.COEFFICIENTS, params)), "m.zip", ModelZip.Use.INFERENCE);
        try (ZipInputStream in = new ZipInputStream(read.dl4jZip())) {
            in.getNextEntry();
            ZipEntry coefficients = in.getNextEntry();
            assertEquals(ZipEntry.STORED, coefficients.getMethod());
            assertArrayEquals(params, in.readAllBytes());
        }
    }

    /** Sets {@code name}'s uncompressed size in its central directory record and its data descriptor. */
    private static void patchSize(byte[] zip, String name, int size) {
        byte[] raw = utf8(name);
        int central = indexOf(zip, new byte[] {'P', 'K', 1, 2});
        for (int at = central; at >= 0; at = indexOf(zip, new byte[] {'P', 'K', 1, 2}, at + 1)) {
            if (indexOf(zip, raw, at) == at + 46) {
                putInt(zip, at + 24, size);
                int local = getInt(zip, at + 42);
                int data = local + 30 + raw.length + (getShort(zip, local + 28));
                int descriptor = data + getInt(zip, at + 20);
                putInt(zip, descriptor + 12, size); // PK78, crc, compressed size, size
                return;
            }
        }
        throw new AssertionError(name + " not found");
    }

    private static int indexOf(byte[] data, byte[] needle) {
        return indexOf(data, needle, 0);
    }

    private static int indexOf(byte[] data, byte[] needle, int from) {
        outer:
        for (int i = from; i <= data.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (data[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static int getShort(byte[] b, int at) {
        return (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8;
    }

    private static int getInt(byte[] b, int at) {
        return (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8 | (b[at + 2] & 0xFF) << 16 | (b[at + 3] & 0xFF) << 24;
    }

    private static void putInt(byte[] b, int at, int value) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (value >>> (8 * i));
        }
    }

    /** Records whether Java deserialisation ever instantiated it. */
    static final class Tripwire implements Serializable {
        private static final long serialVersionUID = 1L;
        static volatile boolean tripped;

        private void readObject(java.io.ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            tripped = true;
        }
    }
}
