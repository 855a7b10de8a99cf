package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

class TrainerTest {
    /** Two Gaussian blobs per class in 4 dimensions: separable, so training must reach high accuracy. */
    private static INDArray[] blobs(int n, long seed) {
        Random random = new Random(seed);
        float[] x = new float[n * 4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 3;
            for (int j = 0; j < 4; j++) {
                x[i * 4 + j] = (float) (random.nextGaussian() * 0.3 + (j == y[i] ? 2 : 0));
            }
        }
        return new INDArray[] {Nd4j.create(x, new long[] {n, 4}, DataType.FLOAT), Nd4j.createFromArray(y)};
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).updater(new Adam(0.05))
                .list(new DenseLayer.Builder().nIn(4).nOut(8).activation(Activation.RELU).build(),
                      new OutputLayer.Builder().nIn(8).nOut(3).activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    @Test
    void fitLearnsSeparableClassesAndReportsEveryEpoch() {
        INDArray[] train = blobs(300, 1);
        INDArray[] test = blobs(90, 2);
        MultiLayerNetwork net = network();
        TrainingRun run = run(net, train, 5, 32);
        run.seed = 7L;
        run.validationFeatures = new INDArray[] {test[0]};
        run.validationLabels = new INDArray[] {test[1]};
        List<EpochStats> history = Trainer.fit(run);
        assertEquals(5, history.size());
        assertTrue(history.get(4).meanLoss < history.get(0).meanLoss, "loss falls");
        assertTrue(history.get(4).validationAccuracy > 0.95, "accuracy " + history.get(4).validationAccuracy);
        EvaluationSummary summary = Trainer.evaluate(run(net, test, 1, 16))[0];
        assertEquals(history.get(4).validationAccuracy, summary.accuracy, 1e-12);
        int total = 0;
        for (int[] row : summary.confusion) {
            for (int count : row) {
                total += count;
            }
        }
        assertEquals(90, total);
        assertEquals(90, Trainer.output(run(net, test, 1, 16))[0].size(0));
    }

    private static TrainingRun run(Model net, INDArray[] data, int epochs, int batchSize) {
        TrainingRun run = new TrainingRun();
        run.network = net;
        run.features = new INDArray[] {data[0]};
        run.labels = new INDArray[] {data[1]};
        run.numClasses = new int[] {3};
        run.epochs = epochs;
        run.batchSize = batchSize;
        return run;
    }

    /** The same blobs through a one-layer-deep ComputationGraph: the graph path learns too. */
    @Test
    void fitTrainsAComputationGraph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(1).updater(new Adam(0.05))
                .graphBuilder().addInputs("in")
                .addLayer("hidden", new DenseLayer.Builder().nIn(4).nOut(8).activation(Activation.RELU).build(), "in")
                .addLayer("out", new OutputLayer.Builder().nIn(8).nOut(3).activation(Activation.SOFTMAX).build(), "hidden")
                .setOutputs("out").build());
        graph.init();
        INDArray[] train = blobs(300, 1);
        List<EpochStats> history = Trainer.fit(run(graph, train, 5, 32));
        assertTrue(history.get(4).meanLoss < history.get(0).meanLoss, "loss falls");
        INDArray[] test = blobs(90, 2);
        assertTrue(Trainer.evaluate(run(graph, test, 1, 16))[0].accuracy > 0.95);
        assertEquals(graph.outputSingle(test[0]), Trainer.output(run(graph, test, 1, 16))[0]);
    }

    @Test
    void rowsAreGatheredFromRank4Arrays() {
        INDArray images = Nd4j.arange(2 * 3 * 2 * 2).castTo(DataType.FLOAT).reshape('c', 4, 3, 1, 2);
        INDArray pulled = Rows.pull(images, new int[] {3, 1});
        assertEquals(images.slice(3), pulled.slice(0));
        assertEquals(images.slice(1), pulled.slice(1));
        assertEquals(Rows.range(images, 1, 3), Rows.pull(images, new int[] {1, 2}));
    }

    @Test
    void oneHotEncodesClassIndices() {
        INDArray encoded = Trainer.oneHot(Nd4j.createFromArray(2, 0), 3);
        assertEquals(Nd4j.create(new float[] {0, 0, 1, 1, 0, 0}, new long[] {2, 3}, DataType.FLOAT), encoded);
    }

    /** DL4J's counters advance across fit calls (per-epoch schedules read them); a set stop flag trains nothing. */
    @Test
    void countersAdvanceAndTheStopFlagStopsBeforeTheNextMinibatch() {
        MultiLayerNetwork net = network();
        INDArray[] train = blobs(300, 1);
        Trainer.fit(run(net, train, 2, 32));
        assertEquals(2, net.getEpochCount());
        assertEquals(20, net.getIterationCount());  // 2 x ceil(300 / 32)
        TrainingRun stopped = run(net, train, 3, 32);
        stopped.stop.set(true);
        assertEquals(0, Trainer.fit(stopped).size());
        assertEquals(20, net.getIterationCount());
    }

    /** Our schedules survive the configuration JSON a model zip stores (ND4J's RampSchedule does not in M2.1). */
    @Test
    void warmUpAndCosineSchedulesRoundTripThroughConfigurationJson() {
        org.nd4j.linalg.schedule.ISchedule schedule = new WarmUpSchedule(
                new CosineSchedule(org.nd4j.linalg.schedule.ScheduleType.EPOCH, 0.1, 0.01, 4), 10);
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1)
                .updater(new org.nd4j.linalg.learning.config.Sgd(schedule))
                .list(new OutputLayer.Builder().nIn(4).nOut(3).activation(Activation.SOFTMAX).build()).build());
        String json = net.getLayerWiseConfigurations().toJson();
        org.nd4j.linalg.learning.config.IUpdater back = ((org.deeplearning4j.nn.conf.layers.BaseLayer)
                org.deeplearning4j.nn.conf.MultiLayerConfiguration.fromJson(json).getConf(0).getLayer()).getIUpdater();
        for (int[] at : new int[][] {{0, 0}, {4, 0}, {12, 1}, {40, 3}, {80, 6}}) {
            assertEquals(schedule.valueAt(at[0], at[1]), back.getLearningRate(at[0], at[1]), 1e-15);
        }
        assertEquals(0.1 * 0.5 * (1 + Math.cos(Math.PI / 4)) * 0.9 + 0.01, schedule.valueAt(12, 1), 1e-12);
    }
}
