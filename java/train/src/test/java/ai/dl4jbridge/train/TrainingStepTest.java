package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.spark.api.TrainingHook;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/** One list of step changes: the same step locally (Networks.fitBatch) and on a Spark worker (TrainingStep.hook). */
class TrainingStepTest {
    /** dl4j-bridge puts DL4J's oneDNN helpers on channels-first layers where its JVM says so (OneDnnHelpers), and
     * InputConvGradients replaces the first convolution's: the tests say so for the networks they train. */
    private static String helpersSetting;

    @BeforeAll
    static void helpersOn() {
        helpersSetting = System.setProperty(OneDnnHelpers.PROPERTY, "true");
    }

    @AfterAll
    static void helpersAsBefore() {
        if (helpersSetting == null) {
            System.clearProperty(OneDnnHelpers.PROPERTY);
        } else {
            System.setProperty(OneDnnHelpers.PROPERTY, helpersSetting);
        }
    }

    @AfterEach
    void clearSwitches() {
        System.clearProperty(FlushDenormals.PROPERTY);
        System.clearProperty(ReluGradients.PROPERTY);
    }

    /** How a step reaches DL4J's fit: dl4j-bridge's local loop, or DL4J's Spark worker with the step's hook. */
    enum Path {
        LOCAL {
            @Override
            void step(MultiLayerNetwork net, DataSet batch) {
                Networks.fitBatch(net, new INDArray[] {batch.getFeatures()}, new INDArray[] {batch.getLabels()});
            }
        },
        SPARK_WORKER {
            @Override
            void step(MultiLayerNetwork net, DataSet batch) {
                // as ParameterAveragingTrainingWorker.processMinibatch: every preUpdate, fit, every postUpdate
                TrainingHook hook = shipped(TrainingStep.hook());
                hook.preUpdate(batch, net);
                net.fit(batch);
                hook.postUpdate(batch, net);
            }
        };

        abstract void step(MultiLayerNetwork net, DataSet batch);
    }

    /** The hook as a Spark executor gets it: serialised with the task, read back. */
    static TrainingHook shipped(TrainingHook hook) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(hook);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (TrainingHook) in.readObject();
        } catch (IOException | ClassNotFoundException e) {
            throw new AssertionError(e);
        }
    }

    /** A convolution with ReLU fed by the input (every change has work), then a softmax output. */
    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(3)
                .updater(new Adam(1e-2))
                .list(
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(4)
                                .activation(Activation.RELU)
                                .build(),
                        new OutputLayer.Builder()
                                .nOut(3)
                                .activation(Activation.SOFTMAX)
                                .build())
                .setInputType(InputType.convolutional(8, 8, 1))
                .build());
        net.init();
        return net;
    }

    private static DataSet batch() {
        Nd4j.getRandom().setSeed(11);
        INDArray features = Nd4j.rand(DataType.FLOAT, 16, 1, 8, 8);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 16, 3);
        for (int i = 0; i < 16; i++) {
            labels.putScalar(i, i % 3, 1f);
        }
        return new DataSet(features, labels);
    }

    private static IActivation convActivation(MultiLayerNetwork net) {
        return ((BaseLayer) net.getLayer(0).conf().getLayer()).getActivationFn();
    }

    /** What the step changes look like from inside DL4J's fit (a listener DL4J calls once gradients are in). */
    private static final class Inside extends BaseTrainingListener {
        int mxcsr;
        boolean inTrainingStep;
        CacheMode cacheMode;
        IActivation activation;

        @Override
        public void onGradientCalculation(Model model) {
            MultiLayerNetwork net = (MultiLayerNetwork) model;
            mxcsr = FlushDenormals.mxcsr();
            inTrainingStep = InputConvGradients.inTrainingStep();
            cacheMode = net.getLayerWiseConfigurations().getCacheMode();
            activation = convActivation(net);
        }
    }

    @ParameterizedTest
    @EnumSource(Path.class)
    void everyChangeHoldsDuringTheFitAndIsUndoneAfter(Path path) {
        MultiLayerNetwork net = network();
        Inside inside = new Inside();
        net.setListeners(inside);
        int mxcsr = FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ;
        long flushed = FlushDenormals.flushedSteps();
        long vectorised = ReluGradients.vectorisedBackprops();

        path.step(net, batch());

        assertEquals(FlushDenormals.FTZ_DAZ, inside.mxcsr & FlushDenormals.FTZ_DAZ);
        assertTrue(inside.inTrainingStep);
        assertEquals(CacheMode.DEVICE, inside.cacheMode);
        assertSame(ReluGradients.VectorisedReLU.class, inside.activation.getClass());
        assertEquals(flushed + 1, FlushDenormals.flushedSteps());
        assertEquals(vectorised + 1, ReluGradients.vectorisedBackprops());
        assertUndone(net, mxcsr);
    }

    private static void assertUndone(MultiLayerNetwork net, int mxcsrBefore) {
        assertEquals(mxcsrBefore, FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ);
        assertFalse(InputConvGradients.inTrainingStep());
        assertEquals(CacheMode.NONE, net.getLayerWiseConfigurations().getCacheMode());
        assertSame(ActivationReLU.class, convActivation(net).getClass());
    }

    @Test
    void bothPathsTrainToTheSameParametersWithTheSameChanges() {
        MultiLayerNetwork local = network();
        MultiLayerNetwork worker = local.clone();
        DataSet batch = batch();
        long[] localCounts = counted(() -> Path.LOCAL.step(local, batch));
        long[] workerCounts = counted(() -> Path.SPARK_WORKER.step(worker, batch));
        assertArrayEquals(new long[] {1, 1, 1}, localCounts, "flushed steps, vectorised ReLUs, weights-only backprops");
        assertArrayEquals(localCounts, workerCounts, "flushed steps, vectorised ReLUs, weights-only backprops");
        assertEquals(local.params(), worker.params());
        assertEquals(local.getUpdater().getStateViewArray(), worker.getUpdater().getStateViewArray());
    }

    private static long[] counted(Runnable step) {
        long[] before = {
            FlushDenormals.flushedSteps(),
            ReluGradients.vectorisedBackprops(),
            InputConvGradients.weightsOnlyBackprops()
        };
        step.run();
        return new long[] {
            FlushDenormals.flushedSteps() - before[0],
            ReluGradients.vectorisedBackprops() - before[1],
            InputConvGradients.weightsOnlyBackprops() - before[2]
        };
    }

    @ParameterizedTest
    @EnumSource(Path.class)
    void switchesTurnTheirChangeOffOnBothPaths(Path path) {
        System.setProperty(FlushDenormals.PROPERTY, "false");
        System.setProperty(ReluGradients.PROPERTY, "dl4j");
        MultiLayerNetwork net = network();
        Inside inside = new Inside();
        net.setListeners(inside);
        long[] counts = counted(() -> path.step(net, batch()));
        assertEquals(0, counts[0]);
        assertEquals(0, counts[1]);
        assertEquals(0, inside.mxcsr & FlushDenormals.FTZ_DAZ);
        assertSame(ActivationReLU.class, inside.activation.getClass());
        assertTrue(inside.inTrainingStep); // the other changes still apply
        assertEquals(CacheMode.DEVICE, inside.cacheMode);
    }

    @Test
    void aWorkerStepWhoseFitFailedIsUndoneBeforeTheNextOne() {
        MultiLayerNetwork net = network();
        int mxcsr = FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ;
        DataSet batch = batch();
        TrainingHook hook = shipped(TrainingStep.hook());
        hook.preUpdate(batch, net); // DL4J's fit throws here: no postUpdate
        hook.preUpdate(batch, net);
        net.fit(batch);
        hook.postUpdate(batch, net);
        assertUndone(net, mxcsr);
    }

    @Test
    void aFailingFitUndoesEveryChange() {
        MultiLayerNetwork net = network();
        int mxcsr = FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ;
        IllegalStateException failure = assertThrows(
                IllegalStateException.class,
                () -> TrainingStep.run(net, () -> {
                    throw new IllegalStateException("fit failed");
                }));
        assertEquals("fit failed", failure.getMessage());
        assertUndone(net, mxcsr);
    }

    @Test
    void theListIsDocumentedOrderFlushDenormalsOutermost() {
        assertEquals(
                List.of(
                        TrainingStep.Change.FLUSH_DENORMALS,
                        TrainingStep.Change.ONEDNN_HELPERS,
                        TrainingStep.Change.INPUT_CONV_GRADIENTS,
                        TrainingStep.Change.BATCH_NORM_TRAINING,
                        TrainingStep.Change.RELU_LAYERS,
                        TrainingStep.Change.FORWARD_CACHE,
                        TrainingStep.Change.RELU_GRADIENTS),
                TrainingStep.changes());
    }

    /** A change that writes down when it is applied and undone, and can fail to apply. */
    private static StepChange recording(String name, List<String> log, boolean fails) {
        return net -> {
            if (fails) {
                throw new IllegalArgumentException(name + " failed");
            }
            log.add("apply " + name);
            return () -> log.add("undo " + name);
        };
    }

    @Test
    void changesApplyInOrderAndUndoInReverse() {
        List<String> log = new ArrayList<>();
        List<StepChange> changes = List.of(recording("a", log, false), recording("b", log, false));
        TrainingStep.run(changes, null, () -> log.add("fit"));
        assertEquals(List.of("apply a", "apply b", "fit", "undo b", "undo a"), log);
    }

    @Test
    void aChangeThatFailsToApplyUndoesThoseBeforeItAndSkipsTheFit() {
        List<String> log = new ArrayList<>();
        List<StepChange> changes =
                List.of(recording("a", log, false), recording("b", log, false), recording("c", log, true));
        assertThrows(IllegalArgumentException.class, () -> TrainingStep.run(changes, null, () -> log.add("fit")));
        assertEquals(List.of("apply a", "apply b", "undo b", "undo a"), log);
    }

    @Test
    void everyUndoRunsWhenOneThrows() {
        List<String> log = new ArrayList<>();
        StepChange throwing = net -> () -> {
            throw new IllegalStateException("undo failed");
        };
        List<StepChange> changes = List.of(recording("a", log, false), throwing, recording("c", log, false));
        IllegalStateException failure =
                assertThrows(IllegalStateException.class, () -> TrainingStep.run(changes, null, () -> log.add("fit")));
        assertEquals("undo failed", failure.getMessage());
        assertEquals(List.of("apply a", "apply c", "fit", "undo c", "undo a"), log);
    }
}
