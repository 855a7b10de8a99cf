package ai.dl4jbridge.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The shared test vectors in models/vectors (format: models/README.md). They are committed files:
 * when one is missing the test fails and says how to regenerate them; it never skips.
 */
public final class Vectors {
    public static final int ROWS = 1000;
    public static final int FEATURES = 784;
    public static final int CLASSES = 10;
    /** DL4J vs ONNX Runtime, float32 on both sides (models/README.md, meta.json "tolerance"). */
    public static final double TOLERANCE = 1e-5;

    private Vectors() {}

    /** models/vectors, from the system property dl4jbridge.vectors (set by the pom) or the repository layout. */
    public static Path dir() {
        String configured = System.getProperty("dl4jbridge.vectors");
        return configured != null ? Paths.get(configured) : Paths.get("../../models/vectors");
    }

    public static Path file(String name) {
        Path path = dir().resolve(name).normalize();
        if (!Files.isRegularFile(path)) {
            throw new AssertionError("shared test vector " + path.toAbsolutePath() + " is missing. These files are "
                    + "committed; regenerate them with `.venv/bin/python models/make_vectors.py` (models/README.md).");
        }
        return path;
    }

    public static Path model(String model, String file) {
        return file(model + "/" + file);
    }

    /** The 1,000 digits as the network input: float32(u8) / 255, row-major [1000, 784]. */
    public static float[][] images() {
        byte[] raw = read(file("mnist_test_1000.u8"), ROWS * FEATURES);
        float[][] x = new float[ROWS][FEATURES];
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < FEATURES; i++) {
                x[r][i] = (raw[r * FEATURES + i] & 0xff) / 255f;
            }
        }
        return x;
    }

    /** The same digits as one C-order tensor of {@code ROWS * FEATURES} floats, for {@code predict(values, shape)}. */
    public static float[] flatImages() {
        float[] flat = new float[ROWS * FEATURES];
        float[][] x = images();
        for (int r = 0; r < ROWS; r++) {
            System.arraycopy(x[r], 0, flat, r * FEATURES, FEATURES);
        }
        return flat;
    }

    private static final Pattern INPUT_SHAPE = Pattern.compile("\"input_shape\"\\s*:\\s*\\[([0-9,\\s]+)]");

    /**
     * The model's input shape from its meta.json "input_shape" ([1000, 784] for a flat model, [1000, 1, 28, 28]
     * for an NCHW image model), with -1 for the batch dimension as {@link ModelInfo#inputShape()} has it.
     */
    public static long[] inputShape(String model) {
        Path meta = model(model, "meta.json");
        String text;
        try {
            text = Files.readString(meta);
        } catch (IOException e) {
            throw new AssertionError("cannot read " + meta + ": " + e, e);
        }
        Matcher m = INPUT_SHAPE.matcher(text);
        if (!m.find()) {
            throw new AssertionError(meta + " has no \"input_shape\": " + text);
        }
        long[] shape = Arrays.stream(m.group(1).split(","))
                .map(String::trim)
                .mapToLong(Long::parseLong)
                .toArray();
        if (shape[0] != ROWS || Arrays.stream(shape).skip(1).reduce(1, (a, b) -> a * b) != FEATURES) {
            throw new AssertionError(meta + ": input_shape " + Arrays.toString(shape) + " is not " + ROWS + " rows of "
                    + FEATURES + " values");
        }
        shape[0] = -1;
        return shape;
    }

    public static int[] labels() {
        byte[] raw = read(file("mnist_test_1000_labels.u8"), ROWS);
        int[] y = new int[ROWS];
        for (int r = 0; r < ROWS; r++) {
            y[r] = raw[r] & 0xff;
        }
        return y;
    }

    /** DL4J's output() on the 1,000 digits: little-endian float32 [1000, 10]. */
    public static float[] dl4jOutputs(String model) {
        byte[] raw = read(model(model, "outputs.f32"), ROWS * CLASSES * Float.BYTES);
        float[] out = new float[ROWS * CLASSES];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    public static int argmax(float[] flat, int row, int classes) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
            if (flat[row * classes + c] > flat[row * classes + best]) {
                best = c;
            }
        }
        return best;
    }

    private static byte[] read(Path path, int expected) {
        try {
            byte[] raw = Files.readAllBytes(path);
            if (raw.length != expected) {
                throw new AssertionError(path + " has " + raw.length + " bytes, expected " + expected);
            }
            return raw;
        } catch (IOException e) {
            throw new AssertionError("cannot read " + path + ": " + e, e);
        }
    }
}
