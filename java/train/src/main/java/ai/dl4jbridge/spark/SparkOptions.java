package ai.dl4jbridge.spark;

import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.RepartitionStrategy;

/** ParameterAveragingTrainingMaster settings, with the defaults dl4j-bridge uses. */
public final class SparkOptions {
    public int batchSizePerWorker = 32;
    /** Minibatches each worker fits between averagings. Each round is a Spark job; with the bridge's round
     * ({@link AveragingRounds}) its fixed cost is a fraction of DL4J's, and 20 kept LeNet and resnet_small within a
     * point of local training's accuracy on local[2] (resnet_small at 0.95x its samples/s), where 40 lost 1.3-1.4 points
     * (BENCHMARKS.md, spark-averaging; benchmarks/bench_spark_round_cost.py). */
    public int averagingFrequency = 20;
    /** Partitions of the training RDD: the number of workers (executor cores) that train at once. */
    public int workers = 2;

    public int prefetchBatches = 2;
    /** OpenMP threads of each worker's kernels; 0: the cores shared among the workers in local[N], else
     * spark.task.cpus (see {@link WorkerThreads}). */
    public int threadsPerWorker = 0;
    /** Never: {@link RoundSplitMaster} gives each worker its share of every round; Always reshuffles each round. */
    public Repartition repartition = Repartition.Never;

    public RepartitionStrategy repartitionStrategy = RepartitionStrategy.Balanced;
    public boolean collectStats = true;
    /** Average and broadcast the updater state (Adam's moments) with the parameters. DL4J's builder defaults to
     * false: every averaging round then restarts Adam from zero moments at a late iteration count, whose
     * first steps are ~3x the learning rate per weight. That cost LeNet 4 points after 2 epochs. */
    public boolean saveUpdater = true;
    /** Run each averaging round through {@link AveragingRounds} (the configuration broadcast once per epoch, the
     * parameters and updater state as one float array each way, the round's broadcast freed): the same averaging
     * as DL4J's own round, with a fraction of its fixed cost. False: DL4J's ParameterAveragingTrainingMaster round. */
    public boolean fastRounds = true;
    /** With fastRounds: each worker keeps its network between rounds, overwriting its parameters, updater state
     * and counters, instead of building a new one from the configuration every round as DL4J does. */
    public boolean keepWorkerNetworks = true;
    /** Levels of Spark's treeAggregate summing the workers' results (DL4J's aggregationDepth): more levels move
     * the summing from the driver to the executors when there are many workers. */
    public int aggregationDepth = 2;
    /** Direct: workers train on the RDD's DataSets. Export (DL4J's default) first writes them to a shared
     * Hadoop file system, which DL4J refuses when that is the local disk of a standalone cluster. */
    public RDDTrainingApproach approach = RDDTrainingApproach.Direct;
    /** Folder to write DL4J's training-stats HTML report into after each fit; null for none. */
    public String statsHtmlPath;
    /** DL4J's training UI server (its base URL) that every worker's StatsListener posts to; null: no UI. */
    public String uiUrl;
    /** With uiUrl: a stats report every this many iterations. */
    public int uiFrequency = 1;
}
