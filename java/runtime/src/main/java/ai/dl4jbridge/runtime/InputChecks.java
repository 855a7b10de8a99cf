package ai.dl4jbridge.runtime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Input validation and packing shared by every {@link Predictor}. */
public final class InputChecks {
    /** Larger batches are refused rather than risking an out-of-memory error in native code. */
    public static final int MAX_ROWS = 1 << 20;

    private InputChecks() {}

    /** Packs rows [n][size] into one direct, native-order buffer, checking every row's length. */
    public static FloatBuffer pack(float[][] rows, int size) {
        if (rows == null) {
            throw new InvalidInputException("rows is null, expected float[n][" + size + "]");
        }
        checkCount(rows.length, size);
        FloatBuffer buffer = ByteBuffer.allocateDirect(rows.length * size * Float.BYTES)
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
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
            throw new InvalidInputException("buffer has " + rows.remaining() + " floats remaining, expected n * " + size
                    + " = " + (long) n * size + " for n=" + n);
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

    /**
     * Checks a tensor's shape [n, ...] against the model's input and that {@code values} holds exactly its floats;
     * returns n. The shape is the model's, or flat rows [n, C*H*W] of an image model ({@link #exampleProblem});
     * a channels-first/last mix-up is named, with the transpose that fixes it.
     */
    public static int checkShape(float[] values, long[] shape, ModelInfo info) {
        long[] declared = info.inputShape();
        if (values == null || shape == null) {
            throw new InvalidInputException((values == null ? "values" : "shape") + " is null, expected a tensor of"
                    + " shape " + describe(declared) + " and its floats in C order");
        }
        String problem = shape.length < 2 ? "" : exampleProblem(Arrays.copyOfRange(shape, 1, shape.length), info);
        if (problem != null) {
            throw new InvalidInputException("input shape " + Arrays.toString(shape) + " does not match the model's "
                    + describe(declared) + layoutOf(info) + problem);
        }
        if (shape[0] < 1 || shape[0] > Integer.MAX_VALUE) {
            throw new InvalidInputException(
                    "input shape " + Arrays.toString(shape) + " has batch size " + shape[0] + ", expected at least 1");
        }
        int n = (int) shape[0];
        checkCount(n, info.inputSize());
        if (values.length != (long) n * info.inputSize()) {
            throw new InvalidInputException("values has " + values.length + " floats, expected "
                    + (long) n * info.inputSize() + " for shape " + Arrays.toString(shape));
        }
        return n;
    }

    /**
     * Why one example of shape {@code example} (no batch axis) cannot be fed to the model, or null when it can.
     * Taken: the model's own per-example shape; for an image model, a flat row of its C*H*W values in C order (the
     * exporter's metadata "input_flat_rows" declares that reshape); for a flat model [N, F], any shape of F values,
     * as OnnxModel takes them. Refused with the transpose that fixes it: an image in the other channel order (as
     * many values, other pixels), also where a flat model's metadata says its rows are flattened NCHW images. The
     * problem starts with "; " ("" when there is nothing to add).
     */
    public static String exampleProblem(long[] example, ModelInfo info) {
        long[] declared = info.inputShape();
        long[] row = Arrays.copyOfRange(declared, 1, declared.length);
        if (Arrays.equals(example, row)) {
            return null;
        }
        long count = 1;
        for (long d : example) {
            if (d < 1 || count * d > Integer.MAX_VALUE) {
                return "";
            }
            count *= d;
        }
        if (count != info.inputSize()) {
            return "";
        }
        long[] image = row.length == 1 ? flattenedImage(info) : row;
        String hint = image == null ? "" : channelHint(example, image);
        return hint.isEmpty() && (row.length == 1 || example.length == 1) ? null : hint;
    }

    // An older export's flat input that DL4J reshapes into an image: its metadata "input_layout" names the image.
    private static final Pattern FLATTENED_IMAGE = Pattern.compile("^NCHW \\[N,(\\d+),(\\d+),(\\d+)\\] flattened to");

    /**
     * [C, H, W] of a flat input that the model's metadata says is a flattened NCHW image of several channels, or null
     * (one channel reads the same in either order).
     */
    private static long[] flattenedImage(ModelInfo info) {
        Matcher m = FLATTENED_IMAGE.matcher(info.inputLayout().orElse(""));
        return m.find() && Long.parseLong(m.group(1)) > 1
                ? new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3))}
                : null;
    }

    private static String describe(long[] declared) {
        StringBuilder out = new StringBuilder("[n");
        for (int i = 1; i < declared.length; i++) {
            out.append(", ").append(declared[i]);
        }
        return out.append(']').toString();
    }

    private static String layoutOf(ModelInfo info) {
        return info.inputLayout().map(layout -> " (layout " + layout + ")").orElse("");
    }

    /** A hint when {@code example} is the model's per-example {@code row} with the channel axis at the other end. */
    private static String channelHint(long[] example, long[] row) {
        if (example.length != 3 || row.length != 3) {
            return "";
        }
        if (example[0] == row[1] && example[1] == row[2] && example[2] == row[0]) {
            return "; this looks like channels-last [n, H, W, C] data: transpose it to [n, C, H, W]"
                    + " (numpy: x.transpose(0, 3, 1, 2)), its values would be"
                    + " misread as they are";
        }
        if (example[0] == row[2] && example[1] == row[0] && example[2] == row[1]) {
            return "; this looks like channels-first [n, C, H, W] data: transpose it to [n, H, W, C]"
                    + " (numpy: x.transpose(0, 2, 3, 1)), its values would be"
                    + " misread as they are";
        }
        return "";
    }

    private static void checkCount(int n, int size) {
        // One tensor must fit a Java buffer: n * size floats addressable with an int byte offset.
        long limit = Math.min(MAX_ROWS, (Integer.MAX_VALUE / Float.BYTES) / Math.max(1, size));
        if (n < 1 || n > limit) {
            throw new InvalidInputException("batch has " + n + " rows, expected 1 to " + limit + " rows of " + size
                    + " floats; split larger batches");
        }
    }
}
