package ai.dl4jbridge.runtime.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.ModelLoadException;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Dl4jPredictor on ComputationGraphs built here (a residual CNN, a two-input graph), expected values from
 * ComputationGraph.outputSingle itself; and a zip that carries a Java-serialised object.
 */
class Dl4jGraphTest {
    @TempDir
    static Path tmp;

    private static ComputationGraph residual;
    private static Path residualZip;

    @BeforeAll
    static void build() throws IOException {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(11)
                .dataType(DataType.FLOAT)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("image")
                .addLayer(
                        "conv1",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(4)
                                .activation(Activation.RELU)
                                .build(),
                        "image")
                .addLayer(
                        "conv2",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(4)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "conv1")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "conv1", "conv2")
                .addLayer(
                        "relu",
                        new ActivationLayer.Builder()
                                .activation(Activation.RELU)
                                .build(),
                        "add")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "relu")
                .addLayer(
                        "out",
                        new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                                .nOut(5)
                                .activation(Activation.SOFTMAX)
                                .build(),
                        "pool")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(8, 8, 3))
                .build();
        residual = new ComputationGraph(conf);
        residual.init();
        residualZip = tmp.resolve("residual.zip");
        ModelSerializer.writeModel(residual, residualZip.toFile(), false);
    }

    static float[] images(int n) {
        Random random = new Random(n);
        float[] x = new float[n * 3 * 8 * 8];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat();
        }
        return x;
    }

    @Test
    void residualGraphMatchesComputationGraphOutput() {
        float[] x = images(6);
        float[] expected = residual.outputSingle(false, Nd4j.create(x, new long[] {6, 3, 8, 8}, 'c'))
                .dup('c')
                .data()
                .asFloat();
        try (Predictor p = Dl4jPredictor.builder()
                .setModel(residualZip)
                .optInputShape(3, 8, 8)
                .build()) {
            assertArrayEquals(new long[] {-1, 3, 8, 8}, p.info().inputShape());
            assertArrayEquals(new long[] {-1, 5}, p.info().outputShape());
            assertTrue(p.info().engine().contains("ComputationGraph"), p.info().engine());
            assertArrayEquals(expected, p.predict(x, new long[] {6, 3, 8, 8}).flatProbabilities(), 1e-6f);
            float[][] rows = new float[6][];
            for (int r = 0; r < 6; r++) {
                rows[r] = java.util.Arrays.copyOfRange(x, r * 192, (r + 1) * 192);
            }
            Prediction flat = p.predict(rows);
            assertArrayEquals(expected, flat.flatProbabilities(), 1e-6f);
            assertThrows(InvalidInputException.class, () -> p.predict(x, new long[] {6, 8, 8, 3}));
        }
    }

    @Test
    void imageGraphWithoutAStoredShapeAsksForIt() {
        ModelLoadException e = assertThrows(
                ModelLoadException.class,
                () -> Dl4jPredictor.builder().setModel(residualZip).build());
        assertTrue(e.getMessage().contains("optInputShape(C, H, W)"), e.getMessage());
        ModelLoadException wrong = assertThrows(ModelLoadException.class, () -> Dl4jPredictor.builder()
                .setModel(residualZip)
                .optInputShape(8, 8, 3)
                .build());
        assertTrue(wrong.getMessage().contains("does not run on an input of shape [1, 8, 8, 3]"), wrong.getMessage());
    }

    @Test
    void inputShapeSavedByTheBridgeIsUsed() throws IOException {
        Path withMeta = tmp.resolve("residual-meta.zip");
        Files.copy(residualZip, withMeta);
        ModelSerializer.addObjectToFile(
                withMeta.toFile(),
                Dl4jPredictor.METADATA_ENTRY,
                "{\"name\": \"resnet\", \"labels\": null, \"input_shapes\": {\"image\": [3, 8, 8]}}");
        try (Predictor p = Dl4jPredictor.builder().setModel(withMeta).build()) {
            assertArrayEquals(new long[] {-1, 3, 8, 8}, p.info().inputShape());
            assertEquals("resnet", p.info().name());
            assertTrue(p.info().labels().isEmpty(), "labels: " + p.info().labels());
        }
    }

    @Test
    void twoInputGraphIsRefusedByName() throws IOException {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(3)
                .graphBuilder()
                .addInputs("pixels", "metadata")
                .addVertex("merge", new MergeVertex(), "pixels", "metadata")
                .addLayer("dense", new DenseLayer.Builder().nIn(6).nOut(4).build(), "merge")
                .addLayer(
                        "out",
                        new OutputLayer.Builder()
                                .nIn(4)
                                .nOut(2)
                                .activation(Activation.SOFTMAX)
                                .build(),
                        "dense")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        Path zip = tmp.resolve("two-inputs.zip");
        ModelSerializer.writeModel(graph, zip.toFile(), false);
        ModelLoadException e = assertThrows(
                ModelLoadException.class,
                () -> Dl4jPredictor.builder().setModel(zip).build());
        assertTrue(
                e.getMessage().contains("inputs [pixels, metadata]")
                        && e.getMessage().contains("exactly one input"),
                e.getMessage());
    }

    /** Records whether Java deserialisation ever instantiated it. */
    static final class Tripwire implements Serializable {
        private static final long serialVersionUID = 1L;
        static volatile boolean tripped;

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            tripped = true;
        }
    }

    @Test
    void serialisedObjectsInTheZipAreNeverDeserialised() throws Exception {
        byte[] poisoned = withEntry(Files.readAllBytes(residualZip), "preprocessor.bin", serialised(new Tripwire()));
        Tripwire.tripped = false;
        try (Predictor p = Dl4jPredictor.builder()
                .setModel(poisoned)
                .optInputShape(3, 8, 8)
                .build()) {
            assertFalse(Tripwire.tripped, "Dl4jPredictor deserialised preprocessor.bin");
            assertEquals("preprocessor.bin", p.info().metadata().get("skipped_entries"));
            assertEquals(5, p.predict(images(1)).numClasses());
        }
        // The control: ModelSerializer itself would have run it (so the check above can fail).
        try {
            ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(poisoned), false);
        } catch (RuntimeException ignored) {
            // It is not a DataSetPreProcessor: the cast fails after readObject ran.
        }
        assertTrue(
                Tripwire.tripped, "control: ModelSerializer did not read preprocessor.bin, so the test proves nothing");
    }

    private static byte[] serialised(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    private static byte[] withEntry(byte[] zip, String name, byte[] content) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip));
                ZipOutputStream out = new ZipOutputStream(bytes)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                out.putNextEntry(new ZipEntry(e.getName()));
                out.write(in.readAllBytes());
                out.closeEntry();
            }
            out.putNextEntry(new ZipEntry(name));
            out.write(content);
            out.closeEntry();
        }
        return bytes.toByteArray();
    }
}
