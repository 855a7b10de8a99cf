package ai.dl4jbridge.runtime.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The DL4J model zip, run by DL4J in Java, against outputs.f32 (DL4J's output written by the Python
 * side) and against ONNX Runtime Java on the same inputs: the comparison a Java team runs on its data.
 * An image model (resnet: a ComputationGraph on NCHW [N, 1, 28, 28]) is fed as rows of 784 and as one
 * tensor with its shape; both predictors must declare that shape.
 */
class Dl4jVectorParityTest {
    private static final double TOLERANCE = 1e-5;

    static Path vector(String name) {
        String dir = System.getProperty("dl4jbridge.vectors", "../../models/vectors");
        Path path = Paths.get(dir).resolve(name).normalize();
        if (!Files.isRegularFile(path)) {
            throw new AssertionError("shared test vector " + path.toAbsolutePath() + " is missing. These files are "
                    + "committed; regenerate them with `.venv/bin/python models/make_vectors.py` (models/README.md).");
        }
        return path;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"mlp, 784", "lenet, 1 28 28", "resnet, 1 28 28"})
    void dl4jJavaMatchesOutputsAndOnnxRuntime(String model, String example) throws IOException {
        byte[] raw = Files.readAllBytes(vector("mnist_test_1000.u8"));
        float[][] x = new float[1000][784];
        float[] flat = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            flat[i] = (raw[i] & 0xff) / 255f;
            x[i / 784][i % 784] = flat[i];
        }
        long[] shape = Arrays.stream(("-1 " + example).split(" "))
                .mapToLong(Long::parseLong)
                .toArray();
        float[] expected = new float[10000];
        ByteBuffer.wrap(Files.readAllBytes(vector(model + "/outputs.f32")))
                .order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer()
                .get(expected);
        try (Predictor dl4j = Dl4jPredictor.builder()
                        .setModel(vector(model + "/model.zip"))
                        .build();
                Predictor onnx = OnnxPredictor.builder()
                        .setModel(vector(model + "/model.onnx"))
                        .build()) {
            assertArrayEquals(
                    shape,
                    dl4j.info().inputShape(),
                    model + ": DL4J input shape " + dl4j.info().engine());
            assertArrayEquals(
                    shape,
                    onnx.info().inputShape(),
                    model + ": ONNX input shape " + onnx.info().engine());
            assertEquals( // lenet's convolutionalFlat image takes its flat rows too, and both engines say how
                    onnx.info().metadata().get("input_flat_rows"),
                    dl4j.info().metadata().get("input_flat_rows"),
                    model + ": input_flat_rows");
            assertEquals(onnx.info().inputLayout(), dl4j.info().inputLayout(), model + ": input_layout");
            Prediction fromDl4j = dl4j.predict(x);
            Prediction fromOnnx = onnx.predict(x);
            assertClose(
                    expected,
                    fromDl4j.flatProbabilities(),
                    model + ": DL4J Java vs outputs.f32 (" + dl4j.info().engine() + ")");
            if (shape.length > 2) {
                long[] batch = shape.clone();
                batch[0] = 1000;
                assertClose(
                        expected,
                        dl4j.predict(flat, batch).flatProbabilities(),
                        model + ": DL4J Java on one " + "tensor of shape " + Arrays.toString(batch)
                                + " vs outputs.f32");
                assertClose(
                        expected,
                        onnx.predict(flat, batch).flatProbabilities(),
                        model + ": ONNX Runtime Java " + "on one tensor of shape " + Arrays.toString(batch)
                                + " vs outputs.f32");
            }
            assertClose(
                    fromDl4j.flatProbabilities(),
                    fromOnnx.flatProbabilities(),
                    model + ": ONNX Runtime Java (" + onnx.info().engine() + ") vs DL4J Java");
            for (int r = 0; r < 1000; r++) {
                assertEquals(fromDl4j.classOf(r), fromOnnx.classOf(r), model + ": arg-max of row " + r);
            }
        }
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int at = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs((double) expected[i] - actual[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        double max = worst;
        int where = at;
        assertTrue(
                max <= TOLERANCE,
                () -> what + ": max abs diff " + max + " at row " + where / 10 + " class " + where % 10 + " ("
                        + expected[where] + " vs " + actual[where] + ")");
    }
}
