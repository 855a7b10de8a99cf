package ai.dl4jbridge.train;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A bounded queue of training minibatches for data that does not fit in memory: a producer (a Python thread
 * reading files) puts minibatches and an end-of-epoch mark; the training loop takes them. The bound keeps a few
 * batches read ahead while the network trains, without ever holding the whole data set.
 */
public final class BatchQueue {
    private static final Object END_OF_EPOCH = new Object();
    private static final long POLL_MILLIS = 100;

    private final BlockingQueue<Object> queue;
    private volatile String failure;
    /** Examples per epoch, for progress reports (0 when unknown). */
    public long examplesPerEpoch;

    public BatchQueue(int capacity) {
        queue = new ArrayBlockingQueue<>(Math.max(1, capacity));
    }

    /** Offer one minibatch, waiting up to timeoutMillis for room; false when the queue stayed full. */
    public boolean put(INDArray[] features, INDArray[] labels, long timeoutMillis) throws InterruptedException {
        return queue.offer(new Batch(features, labels), timeoutMillis, TimeUnit.MILLISECONDS);
    }

    /** Mark the end of an epoch's minibatches; false when the queue stayed full. */
    public boolean endEpoch(long timeoutMillis) throws InterruptedException {
        return queue.offer(END_OF_EPOCH, timeoutMillis, TimeUnit.MILLISECONDS);
    }

    /** The producer failed: the training loop raises this message at its next take. */
    public void fail(String message) {
        failure = message;
    }

    /** The next minibatch, or null at the end of the epoch (or when stop is set). */
    Batch take(java.util.concurrent.atomic.AtomicBoolean stop) throws InterruptedException {
        while (true) {
            if (failure != null) {
                throw new IllegalArgumentException("the minibatch stream failed: " + failure);
            }
            if (stop.get()) {
                return null;
            }
            Object item = queue.poll(POLL_MILLIS, TimeUnit.MILLISECONDS);
            if (item == END_OF_EPOCH) {
                return null;
            }
            if (item != null) {
                return (Batch) item;
            }
        }
    }

    /** One minibatch: features per input, labels per output (as in {@link TrainingRun}). */
    static final class Batch {
        final INDArray[] features;
        final INDArray[] labels;

        Batch(INDArray[] features, INDArray[] labels) {
            this.features = features;
            this.labels = labels;
        }
    }
}
