package ai.dl4jbridge.modelzip;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

/**
 * The headers of an array that ND4J's Nd4j.write wrote ({@code coefficients.bin}, {@code updaterState.bin}),
 * checked against the bytes the entry holds before DL4J reads it. Nd4j.read trusts the lengths it reads: an entry of
 * a few bytes declaring 4 GB of parameters fails inside ND4J with an IllegalArgumentException without a message.
 *
 * <p>The layout (DL4J 1.0.0-M2.1, allocation mode {@value #MODE}): two buffers, the shape information then the data,
 * each {@code writeUTF(mode), writeLong(length), writeUTF(dtype)} and {@code length} elements of the dtype, big-endian.
 * Entries that do not start in that mode (older DL4J versions) are left to DL4J.
 */
final class Nd4jArrayHeader {
    static final String MODE = "MIXED_DATA_TYPES";
    private static final Map<String, Integer> ELEMENT_BYTES = Map.ofEntries(
            Map.entry("DOUBLE", 8),
            Map.entry("FLOAT", 4),
            Map.entry("HALF", 2),
            Map.entry("BFLOAT16", 2),
            Map.entry("LONG", 8),
            Map.entry("INT", 4),
            Map.entry("SHORT", 2),
            Map.entry("BYTE", 1),
            Map.entry("UBYTE", 1),
            Map.entry("BOOL", 1),
            Map.entry("UINT16", 2),
            Map.entry("UINT32", 4),
            Map.entry("UINT64", 8));

    private Nd4jArrayHeader() {}

    /** Refuses {@code content} when its buffers declare other lengths than the entry holds. */
    static void check(byte[] content, String source, String entry) {
        if (!startsWithMode(content)) {
            return; // an older layout (or not ND4J's at all): DL4J's own reader decides
        }
        long position = 0;
        for (String buffer : new String[] {"shape information", "data"}) {
            int at = (int) position;
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(content, at, content.length - at))) {
                String mode = in.readUTF();
                if (!MODE.equals(mode)) {
                    throw refused(source, entry, "its " + buffer + " buffer is not in the layout of its first");
                }
                long length = in.readLong();
                String type = in.readUTF();
                Integer size = ELEMENT_BYTES.get(type);
                position += 2 + mode.length() + 8 + 2 + type.length();
                long left = content.length - position;
                if (size == null || length < 0 || length > left / size) {
                    throw refused(
                            source,
                            entry,
                            buffer + " buffer declares " + length + " elements of " + type
                                    + (size == null ? " (an unknown type)" : " (" + length * size + " bytes)")
                                    + " where "
                                    + left + " bytes are left");
                }
                position += length * size;
            } catch (IOException e) {
                throw refused(source, entry, "its " + buffer + " header is truncated");
            }
        }
        if (position != content.length) {
            throw refused(source, entry, (content.length - position) + " bytes follow the array's data");
        }
    }

    private static boolean startsWithMode(byte[] content) {
        byte[] mode = MODE.getBytes(StandardCharsets.US_ASCII);
        if (content.length < 2 + mode.length || content[0] != 0 || content[1] != mode.length) {
            return false;
        }
        return Arrays.equals(mode, Arrays.copyOfRange(content, 2, 2 + mode.length));
    }

    private static ModelZipException refused(String source, String entry, String detail) {
        return new ModelZipException(source + ": entry " + entry + " is not the array it claims to be: " + detail
                + ". The file is damaged or forged.");
    }
}
