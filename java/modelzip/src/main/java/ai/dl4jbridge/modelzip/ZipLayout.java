package ai.dl4jbridge.modelzip;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A zip's central directory, checked against its local headers: the entries must tile the file from its first
 * byte to the directory, each local header saying what the directory says (name, method, sizes). Readers that
 * walk local headers (Java's ZipInputStream, which DL4J's ModelSerializer uses) and readers that trust the
 * directory (zip tools, Python's zipfile) then see the same entries: nothing hidden between them, nothing
 * prepended, no name that reads differently to one of them. Zip64, encrypted entries and methods other than
 * stored and deflated are refused: a model zip needs none of them.
 */
final class ZipLayout {
    private static final int LOCAL = 0x04034b50;
    private static final int CENTRAL = 0x02014b50;
    private static final int END = 0x06054b50;
    private static final int DESCRIPTOR = 0x08074b50;
    private static final int END_SIZE = 22;
    private static final long MAGIC32 = 0xFFFFFFFFL;

    /** One entry as the central directory lists it. */
    static final class Entry {
        final String name;
        final byte[] rawName;
        final int method;
        final int flags;
        final long crc;
        final long compressedSize;
        final long size;
        final long offset;

        Entry(byte[] rawName, int method, int flags, long crc, long compressedSize, long size, long offset)
                throws CharacterCodingException {
            this.rawName = rawName;
            this.name = utf8(rawName);
            this.method = method;
            this.flags = flags;
            this.crc = crc;
            this.compressedSize = compressedSize;
            this.size = size;
            this.offset = offset;
        }
    }

    private final byte[] zip;
    private final String source;

    /** Strict UTF-8: the name ZipInputStream reads, or a refusal (never a replacement character). */
    static String utf8(byte[] bytes) throws CharacterCodingException {
        return StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes))
                .toString();
    }

    private ZipLayout(byte[] zip, String source) {
        this.zip = zip;
        this.source = source;
    }

    /** The entries in file order, once the layout is checked; ModelZipException naming what is wrong. */
    static List<Entry> read(byte[] zip, String source) {
        return new ZipLayout(zip, source).entries();
    }

    private List<Entry> entries() {
        int end = findEnd();
        if (u16(end + 4) != 0 || u16(end + 6) != 0 || u16(end + 8) != u16(end + 10)) {
            throw malformed("it spans several disks");
        }
        int count = u16(end + 10);
        long directorySize = u32(end + 12);
        long directoryOffset = u32(end + 16);
        if (count == 0xFFFF || directorySize == MAGIC32 || directoryOffset == MAGIC32) {
            throw malformed("it is a zip64 archive (a model zip is read whole into memory: at most 2 GiB)");
        }
        if (directoryOffset + directorySize != end) {
            throw malformed("its central directory is not where its end record says (data before or inside it)");
        }
        List<Entry> entries = directory((int) directoryOffset, count, end);
        checkLocalHeaders(entries, directoryOffset);
        return entries;
    }

    /** The end-of-central-directory record: the last one whose comment ends exactly at the end of the file. */
    private int findEnd() {
        for (int at = zip.length - END_SIZE; at >= Math.max(0, zip.length - END_SIZE - 0xFFFF); at--) {
            if (u32(at) == END && at + END_SIZE + u16(at + 20) == zip.length) {
                return at;
            }
        }
        throw new ModelZipException(
                source + " is not a DL4J model zip (not a zip archive; truncated or another format?).");
    }

    private List<Entry> directory(int at, int count, int end) {
        List<Entry> entries = new ArrayList<>(count);
        Set<String> names = new HashSet<>();
        for (int i = 0; i < count; i++) {
            if (at + 46 > end || u32(at) != CENTRAL) {
                throw malformed("its central directory is shorter than the " + count + " entries it declares");
            }
            int nameLength = u16(at + 28);
            int next = at + 46 + nameLength + u16(at + 30) + u16(at + 32);
            if (next > end) {
                throw malformed("its central directory runs past its end record");
            }
            Entry entry;
            try {
                entry = new Entry(
                        Arrays.copyOfRange(zip, at + 46, at + 46 + nameLength),
                        u16(at + 10),
                        u16(at + 8),
                        u32(at + 16),
                        u32(at + 20),
                        u32(at + 24),
                        u32(at + 42));
            } catch (CharacterCodingException e) {
                throw malformed("an entry's name is not UTF-8 text");
            }
            if (entry.compressedSize == MAGIC32 || entry.size == MAGIC32 || entry.offset == MAGIC32) {
                throw malformed("entry " + entry.name + " is a zip64 entry (a model zip is read whole: at most 2 GiB)");
            }
            if ((entry.flags & 1) != 0) {
                throw malformed("entry " + entry.name + " is encrypted");
            }
            if (entry.method != 0 && entry.method != 8) {
                throw malformed("entry " + entry.name + " uses compression method " + entry.method
                        + " (a model zip's entries are stored or deflated)");
            }
            if (!names.add(entry.name)) {
                throw malformed("entry " + entry.name + " appears twice (readers disagree on which one counts)");
            }
            entries.add(entry);
            at = next;
        }
        if (at != end) {
            throw malformed("its central directory holds more than the " + count + " entries it declares");
        }
        entries.sort(Comparator.comparingLong(e -> e.offset));
        return entries;
    }

    private void checkLocalHeaders(List<Entry> entries, long directoryOffset) {
        long position = 0;
        for (Entry e : entries) {
            if (e.offset != position || position + 30 > directoryOffset || u32((int) position) != LOCAL) {
                throw malformed("entry " + e.name + " is not where its local header should be");
            }
            int at = (int) position;
            int nameLength = u16(at + 26);
            byte[] name = Arrays.copyOfRange(zip, at + 30, Math.min(zip.length, at + 30 + nameLength));
            if (!Arrays.equals(name, e.rawName)) {
                throw malformed("a local header names " + new String(name, StandardCharsets.UTF_8) + ", the directory "
                        + e.name);
            }
            int flags = u16(at + 6);
            if (u16(at + 8) != e.method || (flags & 0x0809) != (e.flags & 0x0809)) {
                throw malformed("the local header of " + e.name + " gives another method or flags than the directory");
            }
            boolean descriptor = (flags & 0x08) != 0;
            if (!descriptor && !same(at + 14, e)) {
                throw malformed("the local header of " + e.name + " gives other sizes than the directory");
            }
            position += 30L + nameLength + u16(at + 28) + e.compressedSize;
            if (descriptor) {
                int d = (int) Math.min(position, directoryOffset);
                int skip = d + 4 <= directoryOffset && u32(d) == DESCRIPTOR ? 4 : 0;
                if (position + skip + 12 > directoryOffset || !same(d + skip, e)) {
                    throw malformed("the data descriptor of " + e.name + " gives other sizes than the directory");
                }
                position += skip + 12;
            }
            if (position > directoryOffset) {
                throw malformed("entry " + e.name + " runs into the central directory");
            }
        }
        if (position != directoryOffset) {
            throw malformed("data lies between the last entry and the directory");
        }
    }

    /** Whether crc, compressed size and size at {@code at} are the directory's. */
    private boolean same(int at, Entry e) {
        return u32(at) == e.crc && u32(at + 4) == e.compressedSize && u32(at + 8) == e.size;
    }

    private ModelZipException malformed(String detail) {
        return new ModelZipException(source + " is not a well-formed model zip: " + detail
                + ". Its entries would read differently to DL4J than to other zip readers, so it is refused.");
    }

    private int u16(int at) {
        if (at < 0 || at + 2 > zip.length) {
            throw malformed("it is truncated");
        }
        return (zip[at] & 0xFF) | (zip[at + 1] & 0xFF) << 8;
    }

    private long u32(int at) {
        if (at < 0 || at + 4 > zip.length) {
            throw malformed("it is truncated");
        }
        return (zip[at] & 0xFFL)
                | (zip[at + 1] & 0xFFL) << 8
                | (zip[at + 2] & 0xFFL) << 16
                | (zip[at + 3] & 0xFFL) << 24;
    }
}
