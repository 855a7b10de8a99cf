package ai.dl4jbridge.spark;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingHook;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * DL4J's ParameterAveragingTrainingMaster whose rounds run through {@link AveragingRounds} when
 * SparkOptions.fastRounds is on (DL4J's own round otherwise, and for fits with DL4J training listeners or networks
 * that are not float). The subclasses decide how an epoch is cut into rounds.
 */
abstract class AveragingMaster extends ParameterAveragingTrainingMaster implements AveragingRounds.Settings {
    private static final long serialVersionUID = 1L;
    private final String fitId = UUID.randomUUID().toString();
    private boolean fastRounds;
    private boolean keepWorkerNetworks;
    private int epochs;
    private transient Broadcast<AveragingRounds.Blueprint> blueprint;
    /** The workers' side of the bridge's rounds, under DL4J's stat names: name -> {events, nanoseconds}. */
    private final Map<String, long[]> workerTimings = new LinkedHashMap<>();

    AveragingMaster(Builder builder) {
        super(builder);
    }

    /** Which round to run: the bridge's (fast) or DL4J's; keep: workers keep their networks between rounds. */
    void rounds(boolean fast, boolean keep) {
        this.fastRounds = fast;
        this.keepWorkerNetworks = keep;
    }

    /** Minibatches the driver's iteration counter advances after round splitNum (1-based): DL4J's count. */
    protected int minibatchesOfRound(int splitNum) {
        return averagingFrequency;
    }

    @Override
    protected void doIteration(SparkDl4jMultiLayer network, JavaRDD<DataSet> split, int splitNum, int numSplits) {
        MultiLayerNetwork net = network.getNetwork();
        if (!fast(net, updaterState(net))) {
            super.doIteration(network, split, splitNum, numSplits);
            return;
        }
        AveragingRounds.RoundResult sum = round(network.getSparkContext(), net, split, splitNum, numSplits);
        if (sum != null) {
            network.setScore(sum.score / sum.count);
        }
    }

    @Override
    protected void doIteration(SparkComputationGraph graph, JavaRDD<MultiDataSet> split, int splitNum, int numSplits) {
        ComputationGraph net = graph.getNetwork();
        if (!fast(net, updaterState(net))) {
            super.doIteration(graph, split, splitNum, numSplits);
            return;
        }
        AveragingRounds.RoundResult sum = round(graph.getSparkContext(), net, split, splitNum, numSplits);
        if (sum != null) {
            graph.setScore(sum.score / sum.count);
        }
    }

    private boolean fast(Model net, INDArray updaterState) {
        return fastRounds && (listeners == null || listeners.isEmpty()) && AveragingRounds.supports(net, updaterState);
    }

    private <T> AveragingRounds.RoundResult round(
            JavaSparkContext sc, Model net, JavaRDD<T> split, int splitNum, int numSplits) {
        if (splitNum == 1 || blueprint == null) { // a new epoch: its configuration, broadcast once
            dropBlueprint();
            blueprint = sc.broadcast(new AveragingRounds.Blueprint(fitId + "/" + epochs++, net));
        }
        if (collectTrainingStats) {
            stats.logMapPartitionsStart();
        }
        AveragingRounds.RoundResult sum =
                AveragingRounds.run(sc, net, updaterState(net), blueprint, split, this, timing());
        if (sum != null) {
            advanceIterations(net, minibatchesOfRound(splitNum));
            addTiming("WorkerFlatMapTotalTimeMs", sum.count, sum.taskNanos);
            addTiming("WorkerFlatMapGetInitialModelTimeMs", sum.count, sum.modelNanos);
            addTiming("ParameterAveragingWorkerFitTimesMs", sum.minibatches, sum.fitNanos);
        }
        if (collectTrainingStats) {
            stats.logMapPartitionsEnd(split.getNumPartitions());
        }
        if (splitNum == numSplits) {
            dropBlueprint();
        }
        return sum;
    }

    private void addTiming(String name, long events, long nanos) {
        long[] total = workerTimings.computeIfAbsent(name, k -> new long[2]);
        total[0] += events;
        total[1] += nanos;
    }

    /** The workers' timings of the bridge's rounds so far, name -> {events, milliseconds} (DL4J's worker stats
     * cover DL4J's rounds only). */
    Map<String, long[]> workerTimings() {
        Map<String, long[]> millis = new LinkedHashMap<>();
        workerTimings.forEach((name, t) -> millis.put(name, new long[] {t[0], t[1] / 1_000_000}));
        return millis;
    }

    /** Free the epoch's configuration broadcast, and (in this JVM: local[N]) the networks workers kept. */
    void release() {
        dropBlueprint();
        AveragingRounds.WorkerNetworks.release(fitId);
    }

    private void dropBlueprint() {
        if (blueprint != null) {
            blueprint.destroy();
            blueprint = null;
        }
    }

    private static void advanceIterations(Model net, int minibatches) {
        if (net instanceof MultiLayerNetwork) {
            MultiLayerConfiguration conf = ((MultiLayerNetwork) net).getLayerWiseConfigurations();
            conf.setIterationCount(conf.getIterationCount() + minibatches);
        } else {
            ComputationGraphConfiguration conf = ((ComputationGraph) net).getConfiguration();
            conf.setIterationCount(conf.getIterationCount() + minibatches);
        }
    }

    /** The driver's updater state (DL4J broadcasts it whether or not saveUpdater averages it). */
    private static INDArray updaterState(Model net) {
        return net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getUpdater().getStateViewArray()
                : ((ComputationGraph) net).getUpdater().getStateViewArray();
    }

    private AveragingRounds.Timing timing() {
        boolean on = collectTrainingStats && stats != null;
        return new AveragingRounds.Timing() {
            @Override
            public void broadcastStart() {
                if (on) {
                    stats.logBroadcastStart();
                }
            }

            @Override
            public void broadcastEnd() {
                if (on) {
                    stats.logBroadcastEnd();
                }
            }

            @Override
            public void aggregateStart() {
                if (on) {
                    stats.logAggregateStartTime();
                }
            }

            @Override
            public void aggregateEnd() {
                if (on) {
                    stats.logAggregationEndTime();
                }
            }

            @Override
            public void processStart() {
                if (on) {
                    stats.logProcessParamsUpdaterStart();
                }
            }

            @Override
            public void processEnd() {
                if (on) {
                    stats.logProcessParamsUpdaterEnd();
                }
            }
        };
    }

    @Override
    public boolean keepWorkerNetworks() {
        return keepWorkerNetworks;
    }

    @Override
    public int aggregationDepth() {
        return aggregationDepth;
    }

    @Override
    public boolean saveUpdater() {
        return saveUpdater;
    }

    @Override
    public int batchSizePerWorker() {
        return batchSizePerWorker;
    }

    @Override
    public int maxMinibatchesPerWorker() {
        return averagingFrequency;
    }

    @Override
    public Collection<TrainingHook> hooks() {
        return trainingHookList;
    }
}
