package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.EpochStats;
import ai.dl4jbridge.train.EvaluationSummary;
import ai.dl4jbridge.train.ProgressListener;
import ai.dl4jbridge.train.Trainer;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.stats.SparkTrainingStats;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.stats.EventStats;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * DL4J training on Spark with parameter averaging: one call per epoch loop, from Python.
 * The network passed in is trained in place (its parameters are replaced by the averaged ones).
 */
public final class SparkTrainer {
    private final JavaSparkContext sc;
    private final SparkOptions options;
    private final Map<String, long[]> timings = new LinkedHashMap<>();

    public SparkTrainer(JavaSparkContext sc, SparkOptions options) {
        this.sc = sc;
        this.options = options;
    }

    /** Train on in-memory data, parallelised from the driver in DataSets of batchSizePerWorker rows. */
    public List<EpochStats> fit(MultiLayerNetwork net, INDArray features, INDArray labels, int numClasses, int epochs,
                                long seed, INDArray validationFeatures, INDArray validationLabels,
                                ProgressListener listener) {
        // Tasks over a parallelised collection carry their slice of it, and DL4J runs one stage per averaging
        // round: behind a shuffle (which DL4J then caches) the rounds read blocks instead of re-shipping the data.
        JavaRDD<DataSet> data = sc.parallelize(minibatches(features, Trainer.oneHot(labels, numClasses)), options.workers)
                .repartition(options.workers);
        return epochs(net, epochs, seed, features.size(0), validationFeatures, validationLabels, numClasses, listener,
                spark -> spark.fit(data));
    }

    /** Train on DataSet files (written by {@link #exportDataSets}) that every worker can read. */
    public List<EpochStats> fitFiles(MultiLayerNetwork net, String directory, long examples, int numClasses, int epochs,
                                     long seed, INDArray validationFeatures, INDArray validationLabels,
                                     ProgressListener listener) {
        List<String> paths = new ArrayList<>();
        File[] files = new File(directory).listFiles((dir, name) -> name.endsWith(".bin"));
        if (files == null || files.length == 0) {
            throw new IllegalArgumentException("no DataSet files (*.bin) in " + directory);
        }
        for (File file : files) {
            paths.add(file.toURI().toString());
        }
        JavaRDD<String> rdd = sc.parallelize(paths, options.workers);
        return epochs(net, epochs, seed, examples, validationFeatures, validationLabels, numClasses, listener,
                spark -> spark.fitPaths(rdd));
    }

    /** Write features/labels as DataSet files of batchSize rows into directory; returns the file count. */
    public static int exportDataSets(INDArray features, INDArray labels, int numClasses, int batchSize, String directory)
            throws IOException {
        File folder = new File(directory);
        if (!folder.isDirectory() && !folder.mkdirs()) {
            throw new IOException("cannot create " + directory);
        }
        INDArray oneHot = Trainer.oneHot(labels, numClasses);
        long n = features.size(0);
        int count = 0;
        for (long from = 0; from < n; from += batchSize, count++) {
            long to = Math.min(n, from + batchSize);
            DataSet part = new DataSet(features.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup(),
                    oneHot.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup());
            File tmp = new File(folder, String.format(".part-%06d.bin.tmp", count));
            part.save(tmp);
            if (!tmp.renameTo(new File(folder, String.format("part-%06d.bin", count)))) {
                throw new IOException("cannot rename " + tmp);
            }
        }
        return count;
    }

    /** Phase name -> {events, total milliseconds} over all epochs of the last fit (DL4J's training stats). */
    public Map<String, long[]> timings() {
        return timings;
    }

    private interface EpochRun {
        void fit(SparkDl4jMultiLayer spark);
    }

    private List<EpochStats> epochs(MultiLayerNetwork net, int epochs, long seed, long examples,
                                    INDArray validationFeatures, INDArray validationLabels, int numClasses,
                                    ProgressListener listener, EpochRun run) {
        ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(options.batchSizePerWorker)
                .batchSizePerWorker(options.batchSizePerWorker)
                .averagingFrequency(options.averagingFrequency)
                .workerPrefetchNumBatches(options.prefetchBatches)
                .repartionData(options.repartition)
                .repartitionStrategy(options.repartitionStrategy)
                .collectTrainingStats(options.collectStats)
                .saveUpdater(options.saveUpdater)
                .rddTrainingApproach(options.approach)
                .rngSeed(seed)
                .build();
        SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, net, master);
        timings.clear();
        List<EpochStats> history = new ArrayList<>();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            long start = System.nanoTime();
            run.fit(spark);
            double seconds = (System.nanoTime() - start) / 1e9;
            net.setParams(spark.getNetwork().params());
            double accuracy = Double.NaN;
            if (validationFeatures != null) {
                EvaluationSummary summary = Trainer.evaluate(net, validationFeatures, validationLabels, numClasses, 1024);
                accuracy = summary.accuracy;
            }
            EpochStats stats = new EpochStats(epoch, spark.getScore(), accuracy, seconds, examples / seconds);
            history.add(stats);
            if (listener != null) {
                listener.onEpochEnd(epoch, stats.meanLoss, accuracy, seconds, stats.samplesPerSecond);
            }
        }
        collect(spark.getSparkTrainingStats());  // cumulative over the epochs of this fit
        exportHtml(spark.getSparkTrainingStats());
        return history;
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
            parts.add(new DataSet(features.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup(),
                    oneHot.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup()));
        }
        return parts;
    }
}
