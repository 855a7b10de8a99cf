package ai.dl4jbridge.train;

import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * Gathers the next training minibatch (its shuffled rows, then the run's {@link BatchTransform} if any) on a
 * loader thread while the network trains on the current one, so DL4J never waits for augmentation.
 */
final class BatchLoader implements AutoCloseable {
    private final TrainingRun run;
    private final INDArray[] targets;
    private final ExecutorService executor = Executors.newSingleThreadExecutor(task -> {
        // One OpenMP thread here (a 64-row gather needs no team): a second team would count against the cores in
        // libgomp, which then cuts every team's spinning to 100 turns and slows the training thread's step.
        Thread thread = new Thread(
                () -> {
                    NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(1);
                    task.run();
                },
                "dl4j-bridge-batch-loader");
        thread.setDaemon(true);
        return thread;
    });
    private int[] order;
    private long epochSeed;
    private int batches;
    private Future<BatchQueue.Batch> pending;
    private int pendingIndex;

    BatchLoader(TrainingRun run, INDArray[] targets) {
        this.run = run;
        this.targets = targets;
    }

    /** Start an epoch over rows in the given order; the first minibatch is gathered at once. */
    void startEpoch(int[] order, long epochSeed) {
        this.order = order;
        this.epochSeed = epochSeed;
        this.batches = (order.length + run.batchSize - 1) / run.batchSize;
        schedule(0);
    }

    int batches() {
        return batches;
    }

    /** Minibatch b (they are taken in order); gathering b + 1 starts before this returns. */
    BatchQueue.Batch next(int b) throws InterruptedException {
        if (pending == null || pendingIndex != b) {
            schedule(b);
        }
        BatchQueue.Batch batch;
        try {
            batch = pending.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof RuntimeException ? (RuntimeException) cause : new IllegalStateException(cause);
        }
        pending = null;
        if (b + 1 < batches) {
            schedule(b + 1);
        }
        return batch;
    }

    private void schedule(int b) {
        pendingIndex = b;
        pending = executor.submit(() -> gather(b));
    }

    private BatchQueue.Batch gather(int b) {
        int[] rows = Arrays.copyOfRange(order, b * run.batchSize, Math.min(order.length, (b + 1) * run.batchSize));
        INDArray[] features = Rows.pull(run.features, rows);
        if (run.transform != null) {
            features = run.transform.apply(features, Seeds.mix(epochSeed, b));
        }
        return new BatchQueue.Batch(features, Rows.pull(targets, rows));
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
