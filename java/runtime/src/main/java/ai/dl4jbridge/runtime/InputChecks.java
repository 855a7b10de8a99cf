package ai.dl4jbridge.runtime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/** Input validation and packing shared by every {@link Predictor}. */
public final class InputChecks {
    /** Larger batches are refused rather than risking an out-of-memory error in native code. */
    public static final int MAX_ROWS = 1 << 20;

    private InputChecks() {
    }

    /** Packs rows [n][size] into one direct, native-order buffer, checking every row's length. */
    public static FloatBuffer pack(float[][] rows, int size) {
        if (rows == null) {
            throw new InvalidInputException("rows is null, expected float[n][" + size + "]");
        }
        checkCount(rows.length, size);
        FloatBuffer buffer = ByteBuffer.allocateDirect(rows.length * size * Float.BYTES)
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int r = 0; r < rows.length; r++) {
            float[] row = rows[r];
            if (row == null || row.length != size) {
                throw new InvalidInputException("row " + r + " has " + (row == null ? "null" : row.length + " values")
                        + ", expected " + size + " floats per row");
            }
            buffer.put(row);
        }
        buffer.flip();
        return buffer;
    }

    /** Checks one row's length. */
    public static void checkRow(float[] row, int size) {
        if (row == null || row.length != size) {
            throw new InvalidInputException("input has " + (row == null ? "null" : row.length + " values")
                    + ", expected one row of " + size + " floats");
        }
    }

    /** Checks that a buffer holds n rows of size floats from its position. */
    public static void checkBuffer(FloatBuffer rows, int n, int size) {
        if (rows == null) {
            throw new InvalidInputException("rows is null, expected a FloatBuffer of n * " + size + " floats");
        }
        checkCount(n, size);
        if (rows.remaining() < (long) n * size) {
            throw new InvalidInputException("buffer has " + rows.remaining() + " floats remaining, expected n * "
                    + size + " = " + (long) n * size + " for n=" + n);
        }
    }

    /** Under {@link NanPolicy#REFUSE}, throws on the first NaN or infinite value, naming its row and column. */
    public static void checkFinite(FloatBuffer rows, int n, int size, NanPolicy policy) {
        if (policy == NanPolicy.ALLOW) {
            return;
        }
        int start = rows.position();
        int end = start + n * size;
        for (int i = start; i < end; i++) {
            float v = rows.get(i);
            if (Float.isNaN(v) || Float.isInfinite(v)) {
                int offset = i - start;
                throw new InvalidInputException("input value " + v + " at row " + offset / size + ", column "
                        + offset % size + " is not finite; NaN and Inf are refused (NanPolicy.REFUSE)");
            }
        }
    }

    private static void checkCount(int n, int size) {
        // One tensor must fit a Java buffer: n * size floats addressable with an int byte offset.
        long limit = Math.min(MAX_ROWS, (Integer.MAX_VALUE / Float.BYTES) / Math.max(1, size));
        if (n < 1 || n > limit) {
            throw new InvalidInputException("batch has " + n + " rows, expected 1 to " + limit
                    + " rows of " + size + " floats; split larger batches");
        }
    }
}
