package ai.dl4jbridge.modelzip;

/**
 * The java.lang.String in a Java serialization stream that holds exactly one String (what DL4J's
 * ModelSerializer.addObjectToFile writes for a String), decoded from its bytes: never through ObjectInputStream.
 *
 * <p>Anything else (another class, trailing objects, a truncated stream, text that is not modified UTF-8) is
 * refused without any class being looked up: a deserialisation bomb costs nothing here.
 */
public final class JavaSerializedString {
    private static final int MAGIC = 0xACED0005;
    private static final int TC_STRING = 0x74;
    private static final int TC_LONGSTRING = 0x7C;

    private JavaSerializedString() {}

    /**
     * The String that {@code data} holds. {@code what} names the bytes in messages, e.g. "m.zip: legacy metadata
     * entry objects/dl4j-bridge.json"; ModelZipException when the bytes are anything but one serialized String.
     */
    public static String decode(byte[] data, String what) {
        if (data.length < 7 || readInt(data, 0) != MAGIC) {
            throw new ModelZipException(what + " is not a Java serialization stream; the file is damaged or not ours.");
        }
        int tag = data[4] & 0xFF;
        long length;
        int start;
        if (tag == TC_STRING) {
            length = ((data[5] & 0xFF) << 8) | (data[6] & 0xFF);
            start = 7;
        } else if (tag == TC_LONGSTRING && data.length >= 13) {
            length = ((long) readInt(data, 5) << 32) | (readInt(data, 9) & 0xFFFFFFFFL);
            start = 13;
        } else {
            throw new ModelZipException(what + " holds a serialized Java object (type code 0x"
                    + String.format("%02x", tag) + "), not a String; it is refused without being deserialized.");
        }
        if (start + length != data.length) {
            throw new ModelZipException(what + " holds " + (data.length - start)
                    + " bytes after its header where the String declares " + length + ": refused.");
        }
        return modifiedUtf8(data, start, what);
    }

    /** Java's modified UTF-8 (DataOutput.writeUTF's encoding: NUL as C0 80, supplementary characters as two
     * 3-byte surrogates, no 4-byte forms) to a String; malformed sequences are refused. */
    private static String modifiedUtf8(byte[] data, int start, String what) {
        StringBuilder text = new StringBuilder(data.length - start);
        int i = start;
        while (i < data.length) {
            int a = data[i] & 0xFF;
            if (a < 0x80 && a != 0) {
                text.append((char) a);
                i += 1;
            } else if ((a & 0xE0) == 0xC0 && i + 1 < data.length && continuation(data[i + 1])) {
                text.append((char) (((a & 0x1F) << 6) | (data[i + 1] & 0x3F)));
                i += 2;
            } else if ((a & 0xF0) == 0xE0
                    && i + 2 < data.length
                    && continuation(data[i + 1])
                    && continuation(data[i + 2])) {
                text.append((char) (((a & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)));
                i += 3;
            } else {
                throw new ModelZipException(
                        what + " is not valid text (malformed modified UTF-8 at byte " + (i - start) + ").");
            }
        }
        return text.toString();
    }

    private static boolean continuation(byte b) {
        return (b & 0xC0) == 0x80;
    }

    private static int readInt(byte[] data, int at) {
        return ((data[at] & 0xFF) << 24)
                | ((data[at + 1] & 0xFF) << 16)
                | ((data[at + 2] & 0xFF) << 8)
                | (data[at + 3] & 0xFF);
    }
}
