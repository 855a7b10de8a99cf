package ai.dl4jbridge.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** An image-shaped model ([N, 3, 8, 8] in, [N, 1, 8, 8] out) and the graphs the predictor refuses. */
class ImageModelTest {
    private static OnnxPredictor predictor;

    @BeforeAll
    static void load() {
        predictor = OnnxPredictor.builder().setModel(ImageModel.path()).build();
    }

    @AfterAll
    static void close() {
        predictor.close();
    }

    static void assertMatches(double[] expected, Prediction out, int n, String what) {
        assertEquals(n, out.rows(), what + ": rows");
        assertArrayEquals(new long[] {1, 8, 8}, out.rowShape(), what + ": row shape");
        float[] actual = out.flatProbabilities();
        assertEquals(expected.length, actual.length, what + ": values");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(
                    expected[i],
                    actual[i],
                    1e-5,
                    what + ": row " + i / ImageModel.OUT + " pixel " + i % ImageModel.OUT);
        }
    }

    @Test
    void infoReportsShapesAndLayout() {
        ModelInfo info = predictor.info();
        assertArrayEquals(new long[] {-1, 3, 8, 8}, info.inputShape());
        assertArrayEquals(new long[] {-1, 1, 8, 8}, info.outputShape());
        assertEquals(192, info.inputSize());
        assertEquals(64, info.outputSize());
        assertEquals("NCHW [N,3,8,8]", info.inputLayout().orElse(null));
        assertEquals(false, info.isClassifier());
    }

    @ParameterizedTest(name = "batch of {0}")
    @ValueSource(ints = {1, 6})
    void shapedAndFlatInputsMatchIndependentComputation(int n) {
        float[] x = ImageModel.images(n, n);
        double[] expected = ImageModel.expected(x, n);
        assertMatches(expected, predictor.predict(x, new long[] {n, 3, 8, 8}), n, "shaped [n, 3, 8, 8]");
        float[][] rows = new float[n][];
        for (int r = 0; r < n; r++) {
            rows[r] = Arrays.copyOfRange(x, r * ImageModel.IN, (r + 1) * ImageModel.IN);
        }
        assertMatches(expected, predictor.predict(rows), n, "flat rows of 192, C order");
        assertMatches(expected, predictor.predict(x, new long[] {n, 192}), n, "shaped [n, 192]: flat rows");
    }

    @Test
    void channelsLastIsRefusedWithTheFix() {
        float[] nhwc = ImageModel.toNhwc(ImageModel.images(2, 3), 2);
        InvalidInputException e =
                assertThrows(InvalidInputException.class, () -> predictor.predict(nhwc, new long[] {2, 8, 8, 3}));
        assertTrue(
                e.getMessage().contains("[2, 8, 8, 3] does not match the model's [n, 3, 8, 8]")
                        && e.getMessage().contains("channels-last")
                        && e.getMessage().contains("x.transpose(0, 3, 1, 2)")
                        && e.getMessage().contains("NCHW [N,3,8,8]"),
                e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = ';',
            value = {
                "2,3,8;does not match the model's [n, 3, 8, 8]",
                "0,3,8,8;batch size 0",
                "3,3,8,8;values has 384 floats, expected 576"
            })
    void otherShapesAreRefused(String shape, String fragment) {
        long[] dims = Arrays.stream(shape.split(",")).mapToLong(Long::parseLong).toArray();
        InvalidInputException e =
                assertThrows(InvalidInputException.class, () -> predictor.predict(new float[384], dims));
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = ';',
            value = {"two_inputs.onnx;inputs [image, mask]", "two_outputs.onnx;outputs [boxes, scores]"})
    void severalInputsOrOutputsAreRefusedByName(String file, String names) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> OnnxPredictor.builder()
                .setModel(ImageModel.resource(file))
                .build());
        assertTrue(e.getMessage().contains(names) && e.getMessage().contains("exactly one"), e.getMessage());
    }
}
