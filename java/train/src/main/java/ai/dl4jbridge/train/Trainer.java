package ai.dl4jbridge.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.api.Model;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Training, evaluation and inference loops for a MultiLayerNetwork or a ComputationGraph, each one coarse call
 * from Python (see {@link TrainingRun}). Features are float32 arrays of the rank each input takes; labels are
 * [n] int32 class indices per output (one-hot encoded here).
 */
public final class Trainer {
    private static final long PROGRESS_INTERVAL_NANOS = 300_000_000L;
    private static final int VALIDATION_BATCH = 1024;

    private Trainer() {}

    /** Minibatch training for {@code run.epochs} epochs, shuffling with {@code run.seed} each epoch. */
    public static List<EpochStats> fit(TrainingRun run) {
        Networks.requireKnown(run.network);
        INDArray[] oneHot = run.oneHotLabels();
        int n = (int) run.examples();
        Random shuffler = new Random(run.seed);
        Nd4j.getRandom().setSeed(run.seed);
        List<EpochStats> history = new ArrayList<>();
        for (int epoch = 1; epoch <= run.epochs; epoch++) {
            history.add(runEpoch(run, oneHot, n, epoch, permutation(n, shuffler)));
        }
        return history;
    }

    private static EpochStats runEpoch(TrainingRun run, INDArray[] oneHot, int n, int epoch, int[] order) {
        long start = System.nanoTime();
        long lastReport = start;
        double lossSum = 0;
        int batches = 0;
        for (int from = 0; from < n; from += run.batchSize) {
            int[] rows = Arrays.copyOfRange(order, from, Math.min(n, from + run.batchSize));
            Networks.fitBatch(run.network, Rows.pull(run.features, rows), Rows.pull(oneHot, rows));
            lossSum += run.network.score();
            batches++;
            long now = System.nanoTime();
            if (run.listener != null && now - lastReport > PROGRESS_INTERVAL_NANOS) {
                long done = from + rows.length;
                run.listener.onProgress(epoch, done, n, lossSum / batches, done / seconds(start, now));
                lastReport = now;
            }
        }
        double trainSeconds = seconds(start, System.nanoTime());
        double accuracy = validationAccuracy(run);
        EpochStats stats = new EpochStats(epoch, lossSum / Math.max(1, batches), accuracy, trainSeconds, n / trainSeconds);
        if (run.listener != null) {
            run.listener.onEpochEnd(epoch, stats.meanLoss, accuracy, trainSeconds, stats.samplesPerSecond);
        }
        return stats;
    }

    /** Mean accuracy over the network's outputs on the run's validation data; NaN without it. */
    public static double validationAccuracy(TrainingRun run) {
        if (!run.hasValidation()) {
            return Double.NaN;
        }
        EvaluationSummary[] summaries = evaluate(run.network, run.validationFeatures, run.validationLabels,
                run.numClasses, VALIDATION_BATCH);
        double sum = 0;
        for (EvaluationSummary summary : summaries) {
            sum += summary.accuracy;
        }
        return sum / summaries.length;
    }

    /** DL4J's Evaluation of every output over the data, computed batch by batch: one summary per output. */
    public static EvaluationSummary[] evaluate(TrainingRun run) {
        return evaluate(run.network, run.features, run.labels, run.numClasses, run.batchSize);
    }

    static EvaluationSummary[] evaluate(Model net, INDArray[] features, INDArray[] labels, int[] numClasses,
                                        int batchSize) {
        Evaluation[] evaluations = new Evaluation[labels.length];
        for (int o = 0; o < labels.length; o++) {
            evaluations[o] = new Evaluation(numClasses[o]);
        }
        long n = features[0].size(0);
        for (long from = 0; from < n; from += batchSize) {
            long to = Math.min(n, from + batchSize);
            INDArray[] predicted = Networks.output(net, Rows.range(features, from, to));
            for (int o = 0; o < labels.length; o++) {
                evaluations[o].eval(oneHot(Rows.range(labels[o], from, to), numClasses[o]), predicted[o]);
            }
        }
        EvaluationSummary[] summaries = new EvaluationSummary[labels.length];
        for (int o = 0; o < labels.length; o++) {
            summaries[o] = new EvaluationSummary(evaluations[o], numClasses[o]);
        }
        return summaries;
    }

    /** The network's outputs (class probabilities for a softmax output layer), one array per output. */
    public static INDArray[] output(TrainingRun run) {
        long n = run.examples();
        List<INDArray[]> parts = new ArrayList<>();
        for (long from = 0; from < n; from += run.batchSize) {
            parts.add(Networks.output(run.network, Rows.range(run.features, from, Math.min(n, from + run.batchSize))));
        }
        INDArray[] out = new INDArray[parts.get(0).length];
        for (int o = 0; o < out.length; o++) {
            INDArray[] pieces = new INDArray[parts.size()];
            for (int p = 0; p < pieces.length; p++) {
                pieces[p] = parts.get(p)[o];
            }
            out[o] = pieces.length == 1 ? pieces[0] : Nd4j.concat(0, pieces);
        }
        return out;
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

    static INDArray[] oneHot(INDArray[] labels, int[] numClasses) {
        INDArray[] out = new INDArray[labels.length];
        for (int o = 0; o < labels.length; o++) {
            out[o] = oneHot(labels[o], numClasses[o]);
        }
        return out;
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
