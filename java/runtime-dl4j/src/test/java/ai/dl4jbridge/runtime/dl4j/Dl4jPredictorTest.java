package ai.dl4jbridge.runtime.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.ModelLoadException;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Dl4jPredictor on a small network built here; expected values from MultiLayerNetwork.output itself. */
class Dl4jPredictorTest {
    @TempDir
    static Path tmp;

    private static MultiLayerNetwork net;
    private static Path zip;

    @BeforeAll
    static void build() throws Exception {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7)
                .dataType(DataType.FLOAT)
                .list()
                .layer(new DenseLayer.Builder()
                        .nIn(784)
                        .nOut(16)
                        .activation(Activation.RELU)
                        .build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .nIn(16)
                        .nOut(10)
                        .activation(Activation.SOFTMAX)
                        .build())
                .build();
        net = new MultiLayerNetwork(conf);
        net.init();
        zip = tmp.resolve("model.zip");
        ModelSerializer.writeModel(net, zip.toFile(), false);
    }

    static float[][] inputs(int n) {
        Random random = new Random(n);
        float[][] x = new float[n][784];
        for (float[] row : x) {
            for (int i = 0; i < 784; i++) {
                row[i] = random.nextInt(256) / 255f;
            }
        }
        return x;
    }

    @Test
    void matchesMultiLayerNetworkOutput() {
        float[][] x = inputs(9);
        float[] expected = net.output(Nd4j.create(x), false).dup('c').data().asFloat();
        try (Predictor p = Dl4jPredictor.builder().setModel(zip).build()) {
            assertEquals(784, p.info().inputSize());
            assertEquals(10, p.info().numClasses());
            assertTrue(
                    p.info().engine().startsWith("deeplearning4j 1.0.0"),
                    p.info().engine());
            assertArrayEquals(expected, p.predict(x).flatProbabilities(), 1e-6f);
            Prediction one = p.predict(x[3]);
            assertArrayEquals(java.util.Arrays.copyOfRange(expected, 30, 40), one.flatProbabilities(), 1e-6f);
        }
    }

    @Test
    void readsLabelsFromTheZipAndValidates() throws Exception {
        Path withMeta = tmp.resolve("labelled.zip");
        Files.copy(zip, withMeta);
        ModelSerializer.addObjectToFile(
                withMeta.toFile(),
                Dl4jPredictor.METADATA_ENTRY,
                "{\"name\": \"tinynet\", \"labels\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\"]}");
        try (Predictor p =
                Dl4jPredictor.builder().setModel(Files.readAllBytes(withMeta)).build()) {
            assertEquals("tinynet", p.info().name());
            assertEquals(
                    List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"),
                    p.info().labels());
            assertThrows(InvalidInputException.class, () -> p.predict(new float[5]));
            float[] nan = new float[784];
            nan[3] = Float.NaN;
            assertThrows(InvalidInputException.class, () -> p.predict(nan));
        }
        assertThrows(
                ModelLoadException.class,
                () -> Dl4jPredictor.builder().setModel(new byte[] {1, 2}).build());
    }

    @Test
    void readsThePlainJsonMetadataThatPythonsSaveWrites() throws Exception {
        // What bridge.save writes: DL4J's entries (saveUpdater: true), then dl4j-bridge.json (plain UTF-8 JSON) and
        // dl4j-bridge-training.json.
        Path saved = tmp.resolve("saved-by-python.zip");
        ModelSerializer.writeModel(net, saved.toFile(), true);
        Path withMeta = tmp.resolve("saved-by-python-meta.zip");
        try (java.util.zip.ZipInputStream in = new java.util.zip.ZipInputStream(Files.newInputStream(saved));
                java.util.zip.ZipOutputStream out =
                        new java.util.zip.ZipOutputStream(Files.newOutputStream(withMeta))) {
            for (java.util.zip.ZipEntry e; (e = in.getNextEntry()) != null; ) {
                out.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                out.write(in.readAllBytes());
            }
            out.putNextEntry(new java.util.zip.ZipEntry("dl4j-bridge.json"));
            out.write("{\"name\": \"plain\", \"labels\": null, \"input_shapes\": null}".getBytes("UTF-8"));
            out.putNextEntry(new java.util.zip.ZipEntry("dl4j-bridge-training.json"));
            out.write("{\"format\": 1}".getBytes("UTF-8"));
        }
        try (Predictor p = Dl4jPredictor.builder().setModel(withMeta).build()) {
            assertEquals("plain", p.info().name());
            assertTrue(p.info().metadata().get("dl4j-bridge.json").contains("plain"));
            assertEquals(null, p.info().metadata().get("skipped_entries"));
        }
    }

    @Test
    void threadSafe() throws Exception {
        float[][] x = inputs(4);
        try (Predictor p = Dl4jPredictor.builder().setModel(zip).build()) {
            float[] reference = p.predict(x).flatProbabilities();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Prediction>> futures = new java.util.ArrayList<>();
                for (int i = 0; i < 40; i++) {
                    futures.add(pool.submit(() -> p.predict(x)));
                }
                for (Future<Prediction> f : futures) {
                    assertArrayEquals(reference, f.get().flatProbabilities());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
