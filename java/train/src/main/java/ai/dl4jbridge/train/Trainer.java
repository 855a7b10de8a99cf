package ai.dl4jbridge.train;

import java.util.ArrayList;
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

    /**
     * Minibatch training for {@code run.epochs} epochs. Each epoch's row order and ND4J's random state (dropout) are
     * seeded from (run.seed, the network's epoch counter), and the counter advances after every epoch, so that
     * 1 epoch + save + load + 1 epoch trains exactly as 2 epochs do. Stops at the next minibatch boundary once
     * {@code run.stop} is set; the epoch cut short is neither counted nor reported.
     */
    public static List<EpochStats> fit(TrainingRun run) {
        Networks.requireKnown(run.network);
        List<EpochStats> history = new ArrayList<>();
        try {
            fitEpochs(run, history);
        } catch (InterruptedException e) { // the thread was interrupted: stop as for run.stop
            Thread.currentThread().interrupt();
            run.stoppedMidEpoch = true;
        }
        return history;
    }

    private static void fitEpochs(TrainingRun run, List<EpochStats> history) throws InterruptedException {
        INDArray[] targets = run.stream == null ? run.targets() : null;
        try (BatchLoader loader = run.stream == null ? new BatchLoader(run, targets) : null) {
            for (int i = 0; i < run.epochs && !run.stop.get(); i++) {
                EpochStats stats = runEpoch(run, loader, run.initialEpoch + i + 1);
                if (stats == null) {
                    run.stoppedMidEpoch = true;
                    break;
                }
                history.add(stats);
            }
        }
    }

    /** The seed of an epoch's shuffle, dropout and augmentation: a pure function of the run seed and the epoch. */
    public static long epochSeed(long seed, int epochCounter) {
        return Seeds.mix(seed, epochCounter);
    }

    private static EpochStats runEpoch(TrainingRun run, BatchLoader loader, int epoch) throws InterruptedException {
        Model net = run.network;
        long seed = epochSeed(run.seed, Networks.epochCount(net));
        Nd4j.getRandom().setSeed(seed); // thread-local: this is the thread DL4J trains on
        if (run.listener != null) {
            run.listener.onEpochBegin(epoch);
        }
        Networks.epochStarted(net);
        long n = run.stream != null ? run.stream.examplesPerEpoch : run.examples();
        if (loader != null) {
            loader.startEpoch(run.shuffle ? permutation((int) n, new Random(seed)) : identity((int) n), seed);
        }
        long start = System.nanoTime();
        long lastReport = start;
        long done = 0;
        double lossSum = 0;
        List<Double> losses = new ArrayList<>();
        for (int b = 0; loader == null || b < loader.batches(); b++) {
            if (run.stop.get()) {
                return null;
            }
            BatchQueue.Batch batch = loader != null ? loader.next(b) : streamed(run, seed, b);
            if (batch == null) {
                if (run.stop.get()) {
                    return null;
                }
                break; // the stream's end of epoch
            }
            Networks.fitBatch(net, batch.features, batch.labels);
            double score = net.score();
            losses.add(score);
            lossSum += score;
            done += batch.features[0].size(0);
            long now = System.nanoTime();
            if (run.listener != null && now - lastReport > PROGRESS_INTERVAL_NANOS) {
                run.listener.onBatchEnd(
                        epoch, b, done, Math.max(n, done), lossSum / losses.size(), done / seconds(start, now));
                lastReport = now;
            }
        }
        double trainSeconds = seconds(start, System.nanoTime());
        Networks.incrementEpochCount(net);
        Networks.epochEnded(net);
        double[] validation = validate(run);
        if (validation == null) {
            return null; // stopped during validation: the epoch trained, but is not reported
        }
        EpochStats stats = new EpochStats(
                epoch,
                lossSum / Math.max(1, losses.size()),
                validation[0],
                validation[1],
                trainSeconds,
                done / trainSeconds,
                unbox(losses),
                Networks.iterationCount(net),
                Networks.epochCount(net),
                Networks.learningRate(net));
        if (run.listener != null) {
            run.listener.onEpochEnd(stats);
        }
        return stats;
    }

    private static BatchQueue.Batch streamed(TrainingRun run, long epochSeed, int b) throws InterruptedException {
        BatchQueue.Batch batch = run.stream.take(run.stop);
        if (batch == null) {
            return null;
        }
        INDArray[] features =
                run.transform != null ? run.transform.apply(batch.features, Seeds.mix(epochSeed, b)) : batch.features;
        return new BatchQueue.Batch(features, targets(batch.labels, run.numClasses));
    }

    static double[] unbox(List<Double> values) {
        double[] out = new double[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    /** {validation loss, mean accuracy over the classification outputs} on the run's validation data; NaN for what
     * cannot be measured (no validation data; accuracy when every output has float targets). Null when run.stop was
     * set meanwhile (checked between validation minibatches, so that Ctrl-C is not kept waiting). */
    public static double[] validate(TrainingRun run) {
        if (!run.hasValidation()) {
            return new double[] {Double.NaN, Double.NaN};
        }
        double loss =
                loss(run.network, run.validationFeatures, targets(run.validationLabels, run.numClasses), run.stop);
        double accuracy = run.stop.get() ? Double.NaN : validationAccuracy(run);
        return run.stop.get() ? null : new double[] {loss, accuracy};
    }

    /** The network's score (loss plus regularisation, test mode) over the data: the example-weighted mean of its
     * minibatch scores, as Keras' val_loss. */
    public static double loss(Model net, INDArray[] features, INDArray[] targets) {
        return loss(net, features, targets, new java.util.concurrent.atomic.AtomicBoolean());
    }

    static double loss(
            Model net, INDArray[] features, INDArray[] targets, java.util.concurrent.atomic.AtomicBoolean stop) {
        long n = features[0].size(0);
        double sum = 0;
        for (long from = 0; from < n && !stop.get(); from += VALIDATION_BATCH) {
            long to = Math.min(n, from + VALIDATION_BATCH);
            sum += Networks.score(net, Rows.range(features, from, to), Rows.range(targets, from, to)) * (to - from);
        }
        return sum / Math.max(1, n);
    }

    /** Mean accuracy over the network's classification outputs (class-index labels) on the run's validation data;
     * NaN without validation data or classification outputs. */
    public static double validationAccuracy(TrainingRun run) {
        if (!run.hasValidation()) {
            return Double.NaN;
        }
        double sum = 0;
        int count = 0;
        for (int o = 0; o < run.validationLabels.length; o++) {
            if (run.validationLabels[o].rank() != 1) {
                continue;
            }
            sum += evaluate(
                            run.network,
                            run.validationFeatures,
                            new INDArray[] {run.validationLabels[o]},
                            new int[] {run.numClasses[o]},
                            VALIDATION_BATCH,
                            o,
                            run.stop)[0]
                    .accuracy;
            count++;
        }
        return count == 0 ? Double.NaN : sum / count;
    }

    /** DL4J's Evaluation of every output over the data, computed batch by batch: one summary per output. */
    public static EvaluationSummary[] evaluate(TrainingRun run) {
        return evaluate(run.network, run.features, run.labels, run.numClasses, run.batchSize, 0, run.stop);
    }

    /** labels[o] belongs to network output firstOutput + o. */
    static EvaluationSummary[] evaluate(
            Model net,
            INDArray[] features,
            INDArray[] labels,
            int[] numClasses,
            int batchSize,
            int firstOutput,
            java.util.concurrent.atomic.AtomicBoolean stop) {
        Evaluation[] evaluations = new Evaluation[labels.length];
        for (int o = 0; o < labels.length; o++) {
            evaluations[o] = new Evaluation(numClasses[o]);
        }
        long n = features[0].size(0);
        for (long from = 0; from < n && !stop.get(); from += batchSize) {
            long to = Math.min(n, from + batchSize);
            INDArray[] predicted = Networks.output(net, Rows.range(features, from, to));
            for (int o = 0; o < labels.length; o++) {
                evaluations[o].eval(oneHot(Rows.range(labels[o], from, to), numClasses[o]), predicted[firstOutput + o]);
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

    /** Per output: [n] class indices one-hot encoded, [n, k] float targets as they are. */
    public static INDArray[] targets(INDArray[] labels, int[] numClasses) {
        INDArray[] out = new INDArray[labels.length];
        for (int o = 0; o < labels.length; o++) {
            out[o] = labels[o].rank() == 1 ? oneHot(labels[o], numClasses[o]) : labels[o];
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

    private static int[] identity(int n) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        return order;
    }

    private static double seconds(long fromNanos, long toNanos) {
        return Math.max(1e-9, (toNanos - fromNanos) / 1e9);
    }
}
