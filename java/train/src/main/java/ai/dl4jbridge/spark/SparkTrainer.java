package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.BatchTransform;
import ai.dl4jbridge.train.EpochStats;
import ai.dl4jbridge.train.EvaluationSummary;
import ai.dl4jbridge.train.Networks;
import ai.dl4jbridge.train.Rows;
import ai.dl4jbridge.train.Seeds;
import ai.dl4jbridge.train.Trainer;
import ai.dl4jbridge.train.TrainingRun;
import ai.dl4jbridge.train.TrainingStep;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.DoubleAccumulator;
import org.datavec.spark.util.SerializableHadoopConfig;
import org.deeplearning4j.core.storage.impl.RemoteUIStatsStorageRouter;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.TrainingHook;
import org.deeplearning4j.spark.api.stats.SparkTrainingStats;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.stats.EventStats;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * DL4J training on Spark with parameter averaging (SparkDl4jMultiLayer or SparkComputationGraph, the same
 * TrainingMaster and updater-state averaging for both): one call per epoch loop, from Python.
 * The network passed in is trained in place (its parameters are replaced by the averaged ones).
 */
public final class SparkTrainer {
    private final JavaSparkContext sc;
    private final SparkOptions options;
    private static final String JOB_GROUP = "dl4j-bridge-fit";
    private static final int VALIDATION_BATCH = 1024;
    private final Map<String, long[]> timings = new LinkedHashMap<>();

    public SparkTrainer(JavaSparkContext sc, SparkOptions options) {
        this.sc = sc;
        this.options = options;
    }

    /** Train on in-memory data, parallelised from the driver in minibatches of batchSizePerWorker rows: DataSets
     * for networks with one input and one output, MultiDataSets for graphs with several. */
    public List<EpochStats> fit(TrainingRun run) {
        // Tasks over a parallelised collection carry their slice of it: behind one shuffle, cached as objects, the
        // data is shipped to the workers once and every averaging round of every epoch reads it from memory.
        INDArray[] oneHot = run.targets();
        // A graph trains on MultiDataSets: DL4J would map DataSets to them in every epoch, persisting (and counting)
        // a new RDD each time.
        if (run.features.length == 1 && oneHot.length == 1 && !(run.network instanceof ComputationGraph)) {
            JavaRDD<DataSet> data = cached(sc.parallelize(minibatches(run.features[0], oneHot[0]), options.workers));
            try {
                return epochs(run, run.examples(), spark -> spark.fit(data));
            } finally {
                data.unpersist(false);
            }
        }
        JavaRDD<MultiDataSet> data = cached(sc.parallelize(multiMinibatches(run.features, oneHot), options.workers));
        try {
            return epochs(run, run.examples(), spark -> spark.fitMultiDataSet(data));
        } finally {
            data.unpersist(false);
        }
    }

    private <T> JavaRDD<T> cached(JavaRDD<T> parallelized) {
        return parallelized.repartition(options.workers).persist(StorageLevel.MEMORY_ONLY());
    }

    /** OpenMP threads per worker: as set, else a share of the cores in local mode, spark.task.cpus on a cluster. */
    private int threadsPerWorker() {
        if (options.threadsPerWorker > 0) {
            return options.threadsPerWorker;
        }
        if (sc.isLocal()) {
            return WorkerThreads.perWorker(Runtime.getRuntime().availableProcessors(), options.workers);
        }
        return sc.getConf().getInt("spark.task.cpus", 1);
    }

    /** Train on the DataSet files in {@code run.dataFiles} (written by {@link #exportDataSets} or
     * {@link #exportFrame}) on any Hadoop file system every worker can read, listed through Hadoop's FileSystem; run
     * holds the network, classes, epochs, seed, validation data and listener (its features and labels are not
     * used). */
    public List<EpochStats> fitFiles(TrainingRun run) throws IOException {
        String[] files = run.dataFiles == null ? new String[0] : HadoopFiles.list(run.dataFiles, "part-", ".bin");
        if (files.length == 0) {
            throw new IllegalArgumentException("no DataSet files (part-*.bin) in " + run.dataFiles);
        }
        JavaRDD<String> rdd = sc.parallelize(List.of(files), options.workers);
        return epochs(run, run.dataFileExamples, spark -> spark.fitPaths(rdd));
    }

    /**
     * Train on a DataFrame's rows ({@link TrainingFrame}): spread over round-sized partitions by one shuffle, turned
     * into minibatches on the executors, one averaging round per Spark job; the driver handles parameters only.
     * validation: a frame scored and evaluated on the executors after each epoch, or null (then the run's validation
     * arrays, if any, on the driver). run holds the network, epochs, seed, listener, classes.
     */
    public List<EpochStats> fitFrame(TrainingRun run, TrainingFrame data, TrainingFrame validation) {
        TrainingFrame.Rounds rounds =
                data.rounds(options.workers, options.batchSizePerWorker, options.averagingFrequency, run.seed);
        boolean graph = run.network instanceof ComputationGraph;
        JavaRDD<DataSet> placeholder = sc.emptyRDD();
        return epochs(
                run,
                rounds.rows(),
                builder -> new FrameRoundsMaster(builder.repartionData(Repartition.Never), rounds, graph),
                spark -> spark.fit(placeholder),
                validation == null ? Trainer::validate : r -> validateFrame(r, validation));
    }

    /** DL4J's Evaluation of the network over a DataFrame, computed on the executors (class-index labels). */
    public EvaluationSummary[] evaluateFrame(Model network, TrainingFrame frame, int batchSize) {
        int classes = frame.columns().outputWidth();
        sc.setJobGroup(JOB_GROUP, "dl4j-bridge evaluate", true);
        try {
            FrameEvaluation.Result result =
                    FrameEvaluation.run(sc, network, frame.minibatches(batchSize), true, classes);
            return new EvaluationSummary[] {new EvaluationSummary(result.evaluation, classes)};
        } finally {
            sc.clearJobGroup();
        }
    }

    /** [val_loss, val_accuracy] of the network on a validation frame, in one pass on the executors; null once
     * stopped. */
    private double[] validateFrame(TrainingRun run, TrainingFrame frame) {
        if (run.stop.get()) {
            return null;
        }
        TrainingColumns columns = frame.columns();
        sc.setJobGroup(JOB_GROUP, "dl4j-bridge validation", true);
        try {
            FrameEvaluation.Result result = FrameEvaluation.run(
                    sc,
                    run.network,
                    frame.minibatches(VALIDATION_BATCH),
                    columns.classIndices(),
                    columns.outputWidth());
            double accuracy = result.evaluation == null ? Double.NaN : result.evaluation.accuracy();
            return run.stop.get() ? null : new double[] {result.loss(), accuracy};
        } finally {
            sc.clearJobGroup();
        }
    }

    /**
     * Write a DataFrame's rows as DataSet files of batchSize examples into directory (any Hadoop file system URI),
     * on the executors: part-PPPPP-NNNNNN.bin per partition P and minibatch N, each written to a temporary name and
     * renamed. Returns {files, rows}.
     */
    public long[] exportFrame(TrainingFrame frame, int batchSize, String directory) throws IOException {
        HadoopFiles.mkdirs(directory);
        SerializableHadoopConfig hadoop = new SerializableHadoopConfig(sc.hadoopConfiguration());
        sc.setJobGroup(JOB_GROUP, "dl4j-bridge export", true);
        try {
            List<long[]> written = frame.minibatches(batchSize)
                    .mapPartitionsWithIndex(new WriteDataSets(directory, hadoop), true)
                    .collect();
            long[] total = new long[2];
            for (long[] w : written) {
                total[0] += w[0];
                total[1] += w[1];
            }
            return total;
        } finally {
            sc.clearJobGroup();
        }
    }

    /** On an executor: a partition's minibatches written as DataSet files; yields {files, rows}. */
    private static final class WriteDataSets
            implements org.apache.spark.api.java.function.Function2<Integer, Iterator<DataSet>, Iterator<long[]>> {
        private static final long serialVersionUID = 1L;
        private final String directory;
        private final SerializableHadoopConfig hadoop;

        WriteDataSets(String directory, SerializableHadoopConfig hadoop) {
            this.directory = directory;
            this.hadoop = hadoop;
        }

        @Override
        public Iterator<long[]> call(Integer partition, Iterator<DataSet> batches) throws IOException {
            org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(directory);
            FileSystem fs = dir.getFileSystem(hadoop.getConfiguration());
            long files = 0;
            long rows = 0;
            while (batches.hasNext()) {
                DataSet batch = batches.next();
                String name = String.format("part-%05d-%06d.bin", partition, files++);
                HadoopFiles.writeWhole(fs, new org.apache.hadoop.fs.Path(dir, name), batch::save);
                rows += batch.numExamples();
            }
            return List.of(new long[] {files, rows}).iterator();
        }
    }

    /** Write features/labels as DataSet files of batchSize rows into directory (any Hadoop file system URI); returns
     * the file count. */
    public static int exportDataSets(
            INDArray features, INDArray labels, int numClasses, int batchSize, String directory) throws IOException {
        HadoopFiles.mkdirs(directory);
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(directory);
        FileSystem fs = dir.getFileSystem(HadoopFiles.configuration());
        INDArray oneHot = Trainer.oneHot(labels, numClasses);
        long n = features.size(0);
        int count = 0;
        for (long from = 0; from < n; from += batchSize, count++) {
            long to = Math.min(n, from + batchSize);
            DataSet part = new DataSet(
                    Rows.range(features, from, to).dup(),
                    Rows.range(oneHot, from, to).dup());
            HadoopFiles.writeWhole(
                    fs, new org.apache.hadoop.fs.Path(dir, String.format("part-%06d.bin", count)), part::save);
        }
        return count;
    }

    /** Phase name -> {events, total milliseconds} over all epochs of the last fit (DL4J's training stats). */
    public Map<String, long[]> timings() {
        return timings;
    }

    private interface EpochRun {
        void fit(SparkNetwork spark);
    }

    private List<EpochStats> epochs(TrainingRun run, long examples, EpochRun epochRun) {
        return epochs(run, examples, builder -> new RoundSplitMaster(builder, run.seed), epochRun, Trainer::validate);
    }

    /** Epochs with the master's round switches set, and what its rounds kept freed at the end. */
    private List<EpochStats> epochs(
            TrainingRun run,
            long examples,
            Function<ParameterAveragingTrainingMaster.Builder, AveragingMaster> masterOf,
            EpochRun epochRun,
            Function<TrainingRun, double[]> validate) {
        AveragingMaster[] master = new AveragingMaster[1];
        try {
            return trainEpochs(
                    run,
                    examples,
                    builder -> {
                        master[0] = masterOf.apply(builder.aggregationDepth(options.aggregationDepth));
                        master[0].rounds(options.fastRounds, options.keepWorkerNetworks);
                        return master[0];
                    },
                    epochRun,
                    validate);
        } finally {
            if (master[0] != null) {
                master[0].release();
                master[0].workerTimings().forEach((name, t) -> {
                    long[] total = timings.computeIfAbsent(name, k -> new long[2]);
                    total[0] += t[0];
                    total[1] += t[1];
                });
            }
        }
    }

    /** masterOf: the TrainingMaster for DL4J's builder (the data's way into rounds); validation: [loss, accuracy]
     * after each epoch, or null once stopped. */
    private List<EpochStats> trainEpochs(
            TrainingRun run,
            long examples,
            Function<ParameterAveragingTrainingMaster.Builder, ParameterAveragingTrainingMaster> masterOf,
            EpochRun epochRun,
            Function<TrainingRun, double[]> validate) {
        ScoreHook scores = new ScoreHook(sc);
        // DL4J calls every preUpdate in this order, fits, then every postUpdate in the same order. The augmentation
        // changes the minibatch before anything else sees it; the OpenMP cap comes before the step, whose denormal
        // flushing sets the bits on this thread's OpenMP team; the step is local training's (TrainingStep's list).
        List<TrainingHook> hooks =
                new ArrayList<>(List.of(new WorkerThreads(threadsPerWorker()), TrainingStep.hook(), scores));
        if (run.transform != null) {
            hooks.add(0, new TransformHook(run.transform, run.seed));
        }
        ParameterAveragingTrainingMaster.Builder builder = new ParameterAveragingTrainingMaster.Builder(
                        options.batchSizePerWorker)
                .batchSizePerWorker(options.batchSizePerWorker)
                .averagingFrequency(options.averagingFrequency)
                .workerPrefetchNumBatches(options.prefetchBatches)
                .repartionData(options.repartition)
                .repartitionStrategy(options.repartitionStrategy)
                .collectTrainingStats(options.collectStats)
                .saveUpdater(options.saveUpdater)
                .rddTrainingApproach(options.approach)
                .rngSeed(run.seed)
                .trainingHooks(hooks)
                .storageLevel(StorageLevel.MEMORY_ONLY());
        ParameterAveragingTrainingMaster master = masterOf.apply(builder);
        SparkNetwork spark = SparkNetwork.of(sc, run.network, master);
        if (options.uiUrl != null) { // DL4J's remote stats router: the workers post their stats to the UI server
            spark.listenable()
                    .setListeners(
                            new RemoteUIStatsStorageRouter(options.uiUrl),
                            List.of(new StatsListener(null, options.uiFrequency)));
        }
        timings.clear();
        List<EpochStats> history = new ArrayList<>();
        for (int i = 0; i < run.epochs && !run.stop.get(); i++) {
            int epoch = run.initialEpoch + i + 1;
            if (run.listener != null) {
                run.listener.onEpochBegin(epoch);
            }
            int epochCount = Networks.epochCount(run.network);
            scores.reset();
            long start = System.nanoTime();
            sc.setJobGroup(JOB_GROUP, "dl4j-bridge epoch " + epoch, true);
            try {
                epochRun.fit(spark);
            } finally {
                sc.clearJobGroup();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            run.network.setParams(spark.trained().params());
            if (Networks.epochCount(run.network) == epochCount) { // the Spark wrapper counts the driver's copy
                Networks.incrementEpochCount(run.network);
            }
            double[] validation = validate.apply(run);
            if (validation == null) {
                break; // stopped during validation
            }
            EpochStats stats = new EpochStats(
                    epoch,
                    scores.mean(),
                    validation[0],
                    validation[1],
                    seconds,
                    examples / seconds,
                    scores.values(),
                    Networks.iterationCount(run.network),
                    Networks.epochCount(run.network),
                    Networks.learningRate(run.network));
            history.add(stats);
            if (run.listener != null) {
                run.listener.onEpochEnd(stats);
            }
        }
        collect(spark.stats()); // cumulative over the epochs of this fit
        exportHtml(spark.stats());
        return history;
    }

    /** Networks the workers of this JVM keep between the bridge's averaging rounds (0 once every fit ended, on
     * local[N]; an executor of a cluster drops a fit's networks when the next fit's first round reaches it). */
    public static int keptWorkerNetworks() {
        return AveragingRounds.WorkerNetworks.kept();
    }

    /** Round states and results waiting in this JVM's local[N] handoff (0 between rounds). */
    public static int localHandoffEntries() {
        return AveragingRounds.Handoff.size();
    }

    /** Cancel the running epoch's Spark jobs (Ctrl-C in Python); the fit call then fails and returns. */
    public void cancel() {
        sc.cancelJobGroup(JOB_GROUP);
    }

    /**
     * The run's BatchTransform (augmentation) applied on the workers to each minibatch before its step, seeded from
     * (run seed, the worker network's epoch counter, the minibatch's index on that worker). The transform travels
     * to the executors, so it must be Serializable (a Java class; a Python one cannot leave the driver).
     */
    private static final class TransformHook implements TrainingHook {
        private static final long serialVersionUID = 1L;
        private final BatchTransform transform;
        private final long seed;
        private transient long counter;

        TransformHook(BatchTransform transform, long seed) {
            try (java.io.ObjectOutputStream out =
                    new java.io.ObjectOutputStream(java.io.OutputStream.nullOutputStream())) {
                out.writeObject(transform); // what Spark will do; a proxy of a Python object claims Serializable
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "augmentation on Spark needs a Serializable BatchTransform (it runs on"
                                + " the workers); " + transform.getClass().getName() + " is not (" + e
                                + "): train locally,"
                                + " or use a Java transform such as bridge.augment's");
            }
            this.transform = transform;
            this.seed = seed;
        }

        private long nextSeed(Model model) {
            return Seeds.mix(Trainer.epochSeed(seed, Networks.epochCount(model)), counter++);
        }

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
            minibatch.setFeatures(transform.apply(new INDArray[] {minibatch.getFeatures()}, nextSeed(model))[0]);
        }

        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {}

        @Override
        public void preUpdate(MultiDataSet minibatch, Model model) {
            minibatch.setFeatures(transform.apply(minibatch.getFeatures(), nextSeed(model)));
        }

        @Override
        public void postUpdate(MultiDataSet minibatch, Model model) {}
    }

    /**
     * Every worker minibatch's score, summed and listed through Spark accumulators: the epoch's training loss is
     * then the mean minibatch score over all workers, the same quantity local training reports (DL4J's own
     * getScore() is the last minibatch's of each worker).
     */
    private static final class ScoreHook implements TrainingHook {
        private static final long serialVersionUID = 1L;
        private final DoubleAccumulator sum;
        private final CollectionAccumulator<Double> each;

        ScoreHook(JavaSparkContext sc) {
            sum = sc.sc().doubleAccumulator("dl4j-bridge minibatch scores");
            each = sc.sc().collectionAccumulator("dl4j-bridge minibatch score list");
        }

        void reset() {
            sum.reset();
            each.reset();
        }

        double mean() {
            return sum.count() == 0 ? Double.NaN : sum.avg();
        }

        double[] values() {
            List<Double> list = each.value();
            double[] out = new double[list.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = list.get(i);
            }
            return out;
        }

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {}

        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
            record(model.score());
        }

        @Override
        public void preUpdate(MultiDataSet minibatch, Model model) {}

        @Override
        public void postUpdate(MultiDataSet minibatch, Model model) {
            record(model.score());
        }

        private void record(double score) {
            sum.add(score);
            each.add(score);
        }
    }

    private void collect(SparkTrainingStats stats) {
        for (SparkTrainingStats level = stats; level != null; level = level.getNestedTrainingStats()) {
            for (String key : level.getKeySet()) {
                long[] total = timings.computeIfAbsent(key, k -> new long[2]);
                List<EventStats> events = level.getValue(key);
                if (events == null) {
                    continue;
                }
                for (EventStats event : events) {
                    total[0]++;
                    total[1] += event.getDurationMs();
                }
            }
        }
    }

    private void exportHtml(SparkTrainingStats stats) {
        if (options.statsHtmlPath == null || stats == null) {
            return;
        }
        try {
            org.deeplearning4j.spark.stats.StatsUtils.exportStatsAsHtml(stats, options.statsHtmlPath, sc);
        } catch (Exception | NoClassDefFoundError e) {
            throw new IllegalStateException("could not write DL4J's HTML stats report: " + e, e);
        }
    }

    private List<DataSet> minibatches(INDArray features, INDArray oneHot) {
        List<DataSet> parts = new ArrayList<>();
        long n = features.size(0);
        for (long from = 0; from < n; from += options.batchSizePerWorker) {
            long to = Math.min(n, from + options.batchSizePerWorker);
            parts.add(new DataSet(
                    Rows.range(features, from, to).dup(),
                    Rows.range(oneHot, from, to).dup()));
        }
        return parts;
    }

    private List<MultiDataSet> multiMinibatches(INDArray[] features, INDArray[] oneHot) {
        List<MultiDataSet> parts = new ArrayList<>();
        long n = features[0].size(0);
        for (long from = 0; from < n; from += options.batchSizePerWorker) {
            long to = Math.min(n, from + options.batchSizePerWorker);
            parts.add(new org.nd4j.linalg.dataset.MultiDataSet(
                    dup(Rows.range(features, from, to)), dup(Rows.range(oneHot, from, to))));
        }
        return parts;
    }

    private static INDArray[] dup(INDArray[] arrays) {
        INDArray[] out = new INDArray[arrays.length];
        for (int i = 0; i < arrays.length; i++) {
            out[i] = arrays[i].dup();
        }
        return out;
    }
}
