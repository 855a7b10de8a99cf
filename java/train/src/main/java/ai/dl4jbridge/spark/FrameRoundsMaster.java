package ai.dl4jbridge.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaRDDLike;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.graph.dataset.DataSetToMultiDataSetFn;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingResult;
import org.nd4j.linalg.dataset.DataSet;

/**
 * DL4J's parameter averaging over a DataFrame's rows ({@link TrainingFrame.Rounds}): each averaging round is one
 * Spark job over W round-sized partitions, one per worker, read from the shuffle's files, never from memory the
 * driver holds. What DL4J's training master would do with the RDD it is given (persist it, count it, split it) is
 * replaced here: the RDD passed to fit() is a placeholder, the count is known, and the splits are the epoch's rounds.
 *
 * <p>A worker trains every minibatch of its partition (DL4J stops a worker after averagingFrequency minibatches,
 * so that limit is set to the partitions' bound), and after each round the network's iteration counter advances by
 * the minibatches the fullest worker of that round trained (DL4J would add averagingFrequency), as local training's
 * counter would for that many steps.
 */
final class FrameRoundsMaster extends AveragingMaster {
    private static final long serialVersionUID = 1L;
    private final transient TrainingFrame.Rounds rounds;
    private final boolean graph;
    private int epoch;
    private transient int[][] dealt;

    FrameRoundsMaster(Builder builder, TrainingFrame.Rounds rounds, boolean graph) {
        super(builder);
        this.rounds = rounds;
        this.graph = graph;
        this.storageLevel = null; // the placeholder RDD is never persisted
        this.averagingFrequency = rounds.maxMinibatchesPerPartition();
    }

    @Override
    protected <T, R extends JavaRDDLike<T, R>> long getTotalDataSetObjectCount(JavaRDDLike<T, R> trainingData) {
        return (rounds.rows() + batchSizePerWorker - 1) / batchSizePerWorker; // known: no job
    }

    @Override
    @SuppressWarnings("unchecked")
    protected <T> JavaRDD<T>[] getSplitRDDs(JavaRDD<T> placeholder, int totalObjects, int examplesPerObject) {
        dealt = rounds.deal(epoch);
        JavaRDD<T>[] splits = new JavaRDD[dealt.length];
        for (int r = 0; r < dealt.length; r++) {
            JavaRDD<DataSet> round = rounds.round(epoch, dealt[r]);
            splits[r] = (JavaRDD<T>) (graph ? round.map(new DataSetToMultiDataSetFn()) : round);
        }
        epoch++;
        return splits;
    }

    @Override
    protected int minibatchesOfRound(int splitNum) {
        return rounds.minibatches(dealt[splitNum - 1]);
    }

    @Override
    protected void processResults(
            SparkDl4jMultiLayer network,
            SparkComputationGraph graph,
            JavaRDD<ParameterAveragingTrainingResult> results,
            int splitNum,
            int totalSplits) {
        int before = iterations(network, graph);
        super.processResults(network, graph, results, splitNum, totalSplits);
        int trained = rounds.minibatches(dealt[splitNum - 1]);
        if (network != null) {
            network.getNetwork().getLayerWiseConfigurations().setIterationCount(before + trained);
        } else {
            graph.getNetwork().getConfiguration().setIterationCount(before + trained);
        }
    }

    private static int iterations(SparkDl4jMultiLayer network, SparkComputationGraph graph) {
        return network != null
                ? network.getNetwork().getLayerWiseConfigurations().getIterationCount()
                : graph.getNetwork().getConfiguration().getIterationCount();
    }
}
