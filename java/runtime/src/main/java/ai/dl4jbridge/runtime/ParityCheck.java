package ai.dl4jbridge.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Checks an exported model in ONNX Runtime Java against outputs that DL4J computed elsewhere (the
 * training JVM, where ONNX Runtime Java is not on the classpath), and prints the comparison as JSON.
 *
 * <pre>
 * java -cp dl4j-bridge-runtime-service.jar ai.dl4jbridge.runtime.ParityCheck \
 *     model.onnx input.f32 2,3,224,224 expected.f32
 * {"rows":2,"row_shape":[1000],"max_abs_diff":1.2e-06,"argmax_agreement":1.0}
 * </pre>
 *
 * The .f32 files are raw little-endian float32 in C order (numpy's {@code tofile}). Arg-max agreement
 * is taken over the last axis of the output, as the Python parity tests do. Exit status 0 when the
 * comparison ran (the caller judges the numbers), 2 on bad arguments or files, 1 when prediction failed.
 */
public final class ParityCheck {
    private ParityCheck() {}

    public static void main(String[] args) {
        if (args.length != 4) {
            fail(
                    2,
                    "usage: ParityCheck MODEL.onnx INPUT.f32 N,D1,D2,... EXPECTED.f32 (received " + args.length
                            + " arguments)");
        }
        try {
            long[] shape = parseShape(args[2]);
            float[] input = readFloats(Path.of(args[1]), "input");
            float[] expected = readFloats(Path.of(args[3]), "expected output");
            try (Predictor predictor =
                    OnnxPredictor.builder().setModel(Path.of(args[0])).build()) {
                Prediction prediction = predictor.predict(input, shape);
                System.out.println(report(prediction, expected));
            }
        } catch (IllegalArgumentException | IOException e) {
            fail(2, e.getMessage());
        } catch (RuntimeException e) {
            fail(1, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    static long[] parseShape(String text) {
        try {
            long[] shape = Arrays.stream(text.split(","))
                    .mapToLong(s -> Long.parseLong(s.trim()))
                    .toArray();
            if (shape.length < 2 || Arrays.stream(shape).anyMatch(d -> d <= 0)) {
                throw new NumberFormatException();
            }
            return shape;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("shape must be positive ints N,D1,... (at least two), e.g. "
                    + "2,3,224,224; received '" + text + "'");
        }
    }

    static float[] readFloats(Path path, String what) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(what + " file " + path + " does not exist");
        }
        byte[] bytes = Files.readAllBytes(path);
        if (bytes.length % Float.BYTES != 0) {
            throw new IllegalArgumentException(
                    what + " file " + path + " has " + bytes.length + " bytes, not a whole number of float32 values");
        }
        float[] values = new float[bytes.length / Float.BYTES];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    /** Max abs difference over all values and arg-max agreement over the last axis, as JSON. */
    static String report(Prediction prediction, float[] expected) {
        float[] actual = prediction.flatProbabilities();
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("ONNX Runtime gave " + actual.length + " output values (rows "
                    + prediction.rows() + ", row shape " + Arrays.toString(prediction.rowShape())
                    + ") but the expected file holds " + expected.length);
        }
        double worst = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs((double) actual[i] - expected[i]));
        }
        long[] rowShape = prediction.rowShape();
        int last = (int) rowShape[rowShape.length - 1];
        return String.format(
                Locale.ROOT,
                "{\"rows\":%d,\"row_shape\":%s,\"max_abs_diff\":%.9g,\"argmax_agreement\":%.9g}",
                prediction.rows(),
                Arrays.toString(rowShape).replace(" ", ""),
                worst,
                argmaxAgreement(actual, expected, last));
    }

    /** The share of last-axis vectors whose arg-max is the same in both arrays. */
    static double argmaxAgreement(float[] actual, float[] expected, int last) {
        int vectors = actual.length / last;
        int same = 0;
        for (int v = 0; v < vectors; v++) {
            if (argmax(actual, v * last, last) == argmax(expected, v * last, last)) {
                same++;
            }
        }
        return vectors == 0 ? 1.0 : (double) same / vectors;
    }

    private static int argmax(float[] values, int from, int length) {
        int best = 0;
        for (int i = 1; i < length; i++) {
            if (values[from + i] > values[from + best]) {
                best = i;
            }
        }
        return best;
    }

    private static void fail(int status, String message) {
        System.err.println("ParityCheck: " + message);
        System.exit(status);
    }
}
