package ai.dl4jbridge.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The library's API on a tiny model whose outputs are computed independently (TinyModel). */
class OnnxPredictorTest {
    private static final double TOL = 1e-5;
    private static OnnxPredictor predictor;

    @BeforeAll
    static void load() {
        predictor = OnnxPredictor.builder().setModel(TinyModel.path()).build();
    }

    @AfterAll
    static void close() {
        predictor.close();
    }

    static void assertMatches(float[][] x, Prediction out, String what) {
        assertEquals(x.length, out.rows(), what + ": rows");
        assertEquals(TinyModel.OUT, out.numClasses(), what + ": classes");
        for (int r = 0; r < x.length; r++) {
            double[] expected = TinyModel.expected(x[r]);
            float[] actual = out.probabilities(r);
            int best = 0;
            for (int j = 0; j < TinyModel.OUT; j++) {
                assertEquals(expected[j], actual[j], TOL, what + ": row " + r + " class " + j);
                best = expected[j] > expected[best] ? j : best;
            }
            assertEquals(best, out.classOf(r), what + ": argmax of row " + r);
        }
    }

    @ParameterizedTest(name = "batch of {0}")
    @ValueSource(ints = {1, 7, 64})
    void batchMatchesIndependentComputation(int rows) {
        float[][] x = TinyModel.inputs(rows, rows);
        assertMatches(x, predictor.predict(x), "float[][]");
    }

    @Test
    void singleRowAndBufferAgreeWithBatch() {
        float[][] x = TinyModel.inputs(5, 11);
        assertMatches(new float[][] {x[2]}, predictor.predict(x[2]), "float[]");
        FloatBuffer direct = ByteBuffer.allocateDirect((x.length + 1) * TinyModel.IN * 4)
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        direct.position(TinyModel.IN); // one row of padding: the buffer's position is honoured
        for (float[] row : x) {
            direct.put(row);
        }
        direct.position(TinyModel.IN);
        assertMatches(x, predictor.predict(direct, x.length), "direct FloatBuffer");
        assertEquals(TinyModel.IN, direct.position(), "predict must not move the buffer's position");
        float[] flat = new float[x.length * TinyModel.IN];
        for (int r = 0; r < x.length; r++) {
            System.arraycopy(x[r], 0, flat, r * TinyModel.IN, TinyModel.IN);
        }
        assertMatches(x, predictor.predict(FloatBuffer.wrap(flat), x.length), "heap FloatBuffer");
    }

    @Test
    void loadsFromBytesAndClasspath() throws Exception {
        float[][] x = TinyModel.inputs(3, 5);
        try (Predictor fromBytes = OnnxPredictor.builder()
                        .setModel(Files.readAllBytes(TinyModel.path()))
                        .build();
                Predictor fromResource = OnnxPredictor.builder()
                        .setModelResource(TinyModel.RESOURCE)
                        .build()) {
            assertMatches(x, fromBytes.predict(x), "from bytes");
            assertMatches(x, fromResource.predict(x), "from classpath");
        }
    }

    @Test
    void metadataFromTheOnnxFile() {
        ModelInfo info = predictor.info();
        assertEquals("tiny", info.name());
        assertEquals("input", info.inputName());
        assertEquals("probabilities", info.outputName());
        assertArrayEquals(new long[] {-1, 784}, info.inputShape());
        assertEquals(784, info.inputSize());
        assertEquals(10, info.numClasses());
        assertEquals(
                List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"), info.labels());
        assertEquals("uint8 / 255", info.inputScaling().orElse(null));
        assertTrue(info.inputLayout().orElse("").startsWith("NCHW"));
        assertEquals(ExecutionProvider.CPU, info.provider());
        assertTrue(info.engine().startsWith("onnxruntime 1."), info.engine());
    }

    @Test
    void refusesWrongLengthsWithClearMessages() {
        assertMessage(() -> predictor.predict(new float[783]), "783 values, expected one row of 784");
        assertMessage(() -> predictor.predict(new float[][] {new float[784], new float[10]}), "row 1 has 10 values");
        assertMessage(() -> predictor.predict(new float[0][]), "batch has 0 rows");
        assertMessage(() -> predictor.predict((float[]) null), "null");
        assertMessage(() -> predictor.predict(FloatBuffer.allocate(784), 2), "784 floats remaining");
    }

    @Test
    void refusesNanAndInfByDefault() {
        float[][] x = TinyModel.inputs(3, 1);
        x[2][17] = Float.NaN;
        assertMessage(() -> predictor.predict(x), "row 2, column 17");
        x[2][17] = Float.POSITIVE_INFINITY;
        assertMessage(() -> predictor.predict(x[2]), "Infinity at row 0, column 17");
    }

    @Test
    void nanPolicyAllowPassesValuesThrough() {
        try (Predictor lenient = OnnxPredictor.builder()
                .setModelResource(TinyModel.RESOURCE)
                .optNanPolicy(NanPolicy.ALLOW)
                .build()) {
            float[] row = new float[784];
            row[0] = Float.NaN;
            assertTrue(Float.isNaN(lenient.predict(row).probabilities(0)[0]));
        }
    }

    @Test
    void cudaNeverFallsBackSilently() {
        // This build is the CPU artifact: asking for CUDA must fail and say why, not run on the CPU.
        ProviderUnavailableException e = assertThrows(ProviderUnavailableException.class, () -> OnnxPredictor.builder()
                .setModel(TinyModel.path())
                .optExecutionProvider(ExecutionProvider.CUDA)
                .build());
        assertTrue(e.getMessage().contains("CUDA") && e.getMessage().contains("Not falling back"), e.getMessage());
    }

    @Test
    void badModelsFailToLoadClearly() {
        assertMessage(
                ModelLoadException.class,
                () -> OnnxPredictor.builder().setModel(new byte[] {1, 2, 3}).build(),
                "cannot load model (3 bytes)");
        assertMessage(
                ModelLoadException.class,
                () -> OnnxPredictor.builder().setModelResource("nope.onnx").build(),
                "'nope.onnx' not found");
        assertMessage(
                ModelLoadException.class,
                () -> OnnxPredictor.builder()
                        .setModel(java.nio.file.Path.of("/no/such/model.onnx"))
                        .build(),
                "/no/such/model.onnx");
    }

    @Test
    void threadSafeUnderConcurrentCalls() throws Exception {
        float[][] x = TinyModel.inputs(16, 3);
        Prediction reference = predictor.predict(x);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Prediction>> futures = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                futures.add(pool.submit(() -> predictor.predict(x)));
            }
            for (Future<Prediction> f : futures) {
                assertArrayEquals(reference.flatProbabilities(), f.get().flatProbabilities());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void closedPredictorRefusesCallsAndCloseIsIdempotent() {
        Predictor p = OnnxPredictor.builder().setModel(TinyModel.path()).build();
        p.close();
        p.close();
        assertThrows(IllegalStateException.class, () -> p.predict(new float[784]));
    }

    private static void assertMessage(Runnable call, String fragment) {
        assertMessage(InvalidInputException.class, call, fragment);
    }

    private static void assertMessage(Class<? extends RuntimeException> type, Runnable call, String fragment) {
        RuntimeException e = assertThrows(type, call::run);
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }
}
