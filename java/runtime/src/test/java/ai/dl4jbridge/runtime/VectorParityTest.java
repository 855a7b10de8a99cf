package ai.dl4jbridge.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ONNX Runtime Java on the exported model.onnx vs DL4J's own outputs (outputs.f32), on the 1,000 shared
 * MNIST digits: max abs difference within 1e-5 and 100% arg-max agreement, at two batch sizes. The image
 * model (resnet, a ComputationGraph taking NCHW [N, 1, 28, 28]) is also fed as one tensor with its shape.
 */
class VectorParityTest {
    private static float[][] images;
    private static int[] labels;

    @BeforeAll
    static void read() {
        images = Vectors.images();
        labels = Vectors.labels();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mlp", "lenet", "resnet"})
    void onnxRuntimeJavaMatchesDl4j(String model) throws Exception {
        float[] expected = Vectors.dl4jOutputs(model);
        long[] shape = Vectors.inputShape(model);
        try (Predictor predictor = OnnxPredictor.builder()
                .setModel(Vectors.model(model, "model.onnx"))
                .build()) {
            ModelInfo info = predictor.info();
            String context = model + " (" + info.engine() + ", model.onnx metadata " + info.metadata() + ")";
            assertArrayEquals(shape, info.inputShape(), context + ": input shape (meta.json)");
            assertEquals(Vectors.FEATURES, info.inputSize(), context + ": input size");
            assertEquals(Vectors.CLASSES, info.numClasses(), context + ": classes");

            Prediction whole = predictor.predict(images);
            assertClose(expected, whole.flatProbabilities(), context + ", one batch of 1000");
            if (shape.length > 2) {
                long[] batch = shape.clone();
                batch[0] = Vectors.ROWS;
                assertClose(
                        expected,
                        predictor.predict(Vectors.flatImages(), batch).flatProbabilities(),
                        context + ", one tensor of shape " + java.util.Arrays.toString(batch));
            }

            float[] oneByOne = new float[expected.length];
            for (int r = 0; r < Vectors.ROWS; r++) {
                System.arraycopy(
                        predictor.predict(images[r]).flatProbabilities(),
                        0,
                        oneByOne,
                        r * Vectors.CLASSES,
                        Vectors.CLASSES);
            }
            assertClose(expected, oneByOne, context + ", batch size 1");

            int agree = 0;
            int correct = 0;
            for (int r = 0; r < Vectors.ROWS; r++) {
                agree += whole.classOf(r) == Vectors.argmax(expected, r, Vectors.CLASSES) ? 1 : 0;
                correct += whole.classOf(r) == labels[r] ? 1 : 0;
            }
            assertEquals(Vectors.ROWS, agree, context + ": arg-max agreement with DL4J");
            assertTrue(
                    correct > Vectors.ROWS / 2, context + ": accuracy " + correct + "/1000 means the inputs are wrong");
            String meta = Files.readString(Vectors.model(model, "meta.json"));
            assertTrue(meta.contains("\"" + "tolerance"), model + "/meta.json has no tolerance: " + meta);
        }
    }

    static void assertClose(float[] expected, float[] actual, String context) {
        assertEquals(expected.length, actual.length, context + ": output length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs((double) expected[i] - actual[i]);
            if (!(diff <= worst)) {
                worst = diff;
                at = i;
            }
        }
        double max = worst;
        int where = at;
        assertTrue(
                max <= Vectors.TOLERANCE,
                () -> context + ": max abs diff " + max + " > " + Vectors.TOLERANCE
                        + " at row " + where / Vectors.CLASSES + ", class " + where % Vectors.CLASSES + " (DL4J "
                        + expected[where] + ", ONNX Runtime " + actual[where] + ")");
    }
}
