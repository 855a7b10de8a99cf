package ai.dl4jbridge.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Training, evaluation and inference loops for a MultiLayerNetwork, each one coarse call from Python.
 * Features are [n, nIn] float32 INDArrays; labels are [n] int32 class indices (one-hot encoded here).
 */
public final class Trainer {
    private static final long PROGRESS_INTERVAL_NANOS = 300_000_000L;

    private Trainer() {}

    /** Minibatch training for {@code epochs} epochs, shuffling with {@code seed} each epoch. */
    public static List<EpochStats> fit(MultiLayerNetwork net, INDArray features, INDArray labels, int numClasses,
                                       int epochs, int batchSize, long seed,
                                       INDArray validationFeatures, INDArray validationLabels,
                                       ProgressListener listener) {
        INDArray oneHot = oneHot(labels, numClasses);
        int n = (int) features.size(0);
        Random shuffler = new Random(seed);
        Nd4j.getRandom().setSeed(seed);
        List<EpochStats> history = new ArrayList<>();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            history.add(runEpoch(net, features, oneHot, n, batchSize, epoch, permutation(n, shuffler),
                    validationFeatures, validationLabels, numClasses, listener));
        }
        return history;
    }

    private static EpochStats runEpoch(MultiLayerNetwork net, INDArray features, INDArray oneHot, int n,
                                       int batchSize, int epoch, int[] order,
                                       INDArray validationFeatures, INDArray validationLabels, int numClasses,
                                       ProgressListener listener) {
        long start = System.nanoTime();
        long lastReport = start;
        double lossSum = 0;
        int batches = 0;
        for (int from = 0; from < n; from += batchSize) {
            int[] rows = java.util.Arrays.copyOfRange(order, from, Math.min(n, from + batchSize));
            net.fit(new DataSet(Nd4j.pullRows(features, 1, rows), Nd4j.pullRows(oneHot, 1, rows)));
            lossSum += net.score();
            batches++;
            long now = System.nanoTime();
            if (listener != null && now - lastReport > PROGRESS_INTERVAL_NANOS) {
                long done = from + rows.length;
                listener.onProgress(epoch, done, n, lossSum / batches, done / seconds(start, now));
                lastReport = now;
            }
        }
        double trainSeconds = seconds(start, System.nanoTime());
        double accuracy = validationFeatures == null ? Double.NaN
                : evaluate(net, validationFeatures, validationLabels, numClasses, 1024).accuracy;
        EpochStats stats = new EpochStats(epoch, lossSum / Math.max(1, batches), accuracy, trainSeconds, n / trainSeconds);
        if (listener != null) {
            listener.onEpochEnd(epoch, stats.meanLoss, accuracy, trainSeconds, stats.samplesPerSecond);
        }
        return stats;
    }

    /** DL4J's Evaluation over the data, computed batch by batch. */
    public static EvaluationSummary evaluate(MultiLayerNetwork net, INDArray features, INDArray labels,
                                             int numClasses, int batchSize) {
        Evaluation evaluation = new Evaluation(numClasses);
        long n = features.size(0);
        for (long from = 0; from < n; from += batchSize) {
            long to = Math.min(n, from + batchSize);
            INDArray batch = features.get(NDArrayIndex.interval(from, to), NDArrayIndex.all());
            INDArray truth = oneHot(labels.get(NDArrayIndex.interval(from, to)), numClasses);
            evaluation.eval(truth, net.output(batch, false));
        }
        return new EvaluationSummary(evaluation, numClasses);
    }

    /** The network's output (class probabilities for a softmax output layer), [n, nOut] float32. */
    public static INDArray output(MultiLayerNetwork net, INDArray features, int batchSize) {
        long n = features.size(0);
        List<INDArray> parts = new ArrayList<>();
        for (long from = 0; from < n; from += batchSize) {
            long to = Math.min(n, from + batchSize);
            parts.add(net.output(features.get(NDArrayIndex.interval(from, to), NDArrayIndex.all()), false));
        }
        return parts.size() == 1 ? parts.get(0) : Nd4j.vstack(parts.toArray(new INDArray[0]));
    }

    /** Class indices [n] (int) as one-hot rows [n, numClasses] (float). */
    public static INDArray oneHot(INDArray labels, int numClasses) {
        int[] classes = labels.toIntVector();
        float[] flat = new float[classes.length * numClasses];
        for (int i = 0; i < classes.length; i++) {
            flat[i * numClasses + classes[i]] = 1f;
        }
        return Nd4j.create(flat, new long[] {classes.length, numClasses}, DataType.FLOAT);
    }

    private static int[] permutation(int n, Random random) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        return order;
    }

    private static double seconds(long fromNanos, long toNanos) {
        return Math.max(1e-9, (toNanos - fromNanos) / 1e9);
    }
}
