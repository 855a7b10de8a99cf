package ai.dl4jbridge.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * OnnxScoring on Spark local[1] against DL4J's own outputs for the shared MLP vectors (models/vectors/mlp:
 * outputs.f32, written by DL4J, not by the code under test): the DataFrame path, the SQL functions, bad input.
 */
class OnnxScoringTest {
    private static final int ROWS = 200;
    private static final float TOLERANCE = 1e-5f;
    private static SparkSession spark;
    private static Path vectors;
    private static float[] pixels;
    private static float[] expected;

    @BeforeAll
    static void start() throws IOException {
        String configured = System.getProperty("dl4jbridge.vectors", "../../models/vectors");
        vectors = Path.of(configured).toAbsolutePath().normalize();
        byte[] u8 = Files.readAllBytes(vectors.resolve("mnist_test_1000.u8"));
        pixels = new float[ROWS * 784];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (u8[i] & 0xff) / 255f;
        }
        FloatBuffer outputs = ByteBuffer.wrap(Files.readAllBytes(vectors.resolve("mlp/outputs.f32")))
                .order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer();
        expected = new float[ROWS * 10];
        outputs.get(expected);
        spark = SparkSession.builder()
                .master("local[1]")
                .appName("OnnxScoringTest")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static Dataset<Row> digits(int partitions) {
        return Frames.fromFloats(
                spark, FloatBuffer.wrap(pixels), ROWS, new long[] {784}, null, partitions, "features", "label");
    }

    private static OnnxScoring mlp() {
        return OnnxScoring.builder()
                .setModel(vectors.resolve("mlp/model.onnx"))
                .optBatchSize(64)
                .build();
    }

    private static void assertClose(float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < actual.length; i++) {
            float diff = Math.abs(actual[i] - expected[i]);
            assertTrue(diff <= TOLERANCE, what + ": value " + i + " differs from DL4J's by " + diff);
        }
    }

    @Test
    void scoresEqualDl4jsOutputsOnTheExecutors() {
        try (OnnxScoring scoring = mlp()) {
            Dataset<Row> scored = scoring.transform(digits(3));
            int[] shape = new int[2];
            assertClose(Frames.floats(scored, "probabilities", shape), "transform");
            assertEquals(ROWS, shape[0]);
            Object[] predictions = Frames.values(scored, "prediction");
            for (int r = 0; r < ROWS; r++) {
                int best = 0;
                for (int c = 1; c < 10; c++) {
                    best = expected[r * 10 + c] > expected[r * 10 + best] ? c : best;
                }
                assertEquals(String.valueOf(best), predictions[r], "row " + r); // the model's labels are "0".."9"
            }
            Set<String> providers = scoring.providersUsed();
            assertTrue(
                    providers.stream().allMatch(p -> p.startsWith("executor driver: CPU (auto: ")),
                    providers.toString());
        }
    }

    @Test
    void sqlFunctions() {
        try (OnnxScoring scoring = mlp()) {
            scoring.registerUdf(spark, "digit");
            digits(2).createOrReplaceTempView("digits");
            Dataset<Row> scored = spark.sql("SELECT digit(features) AS p, digit_class(features) AS c FROM digits");
            assertClose(Frames.floats(scored, "p", new int[2]), "SQL");
            List<Row> first = scored.select("c").limit(1).collectAsList();
            assertEquals("7", first.get(0).getString(0)); // the first test digit is a 7
        }
    }

    @Test
    void badInputIsRefusedByName() {
        try (OnnxScoring scoring = mlp()) {
            IllegalArgumentException missing = assertThrows(
                    IllegalArgumentException.class,
                    () -> scoring.transform(digits(1).withColumnRenamed("features", "x")));
            assertTrue(missing.getMessage().contains("no column 'features'"), missing.getMessage());
            Dataset<Row> narrow =
                    digits(1).selectExpr("slice(features, 1, 700) AS features"); // the schema states no width
            SparkException failed = assertThrows(
                    SparkException.class, () -> scoring.transform(narrow).collectAsList());
            Throwable cause = failed;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            assertTrue(cause instanceof InvalidInputException, String.valueOf(cause));
            assertTrue(cause.getMessage().contains("has shape [700]"), cause.getMessage());
        }
        assertThrows(ModelLoadException.class, () -> OnnxScoring.builder()
                .setModel(vectors.resolve("no-such-model.onnx"))
                .build());
    }
}
