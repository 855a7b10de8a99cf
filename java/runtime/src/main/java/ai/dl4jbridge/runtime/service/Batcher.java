package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Dynamic batching for one model: requests queue here, and runner threads take what is queued (up to
 * {@code maxRows} rows, waiting up to {@code maxDelayMicros} for more once the first is in) and run it
 * as one ONNX Runtime batch; each request gets its own rows back. Under load the queue fills while a
 * batch runs, so batches grow without waiting; when idle a request runs at once (plus the delay).
 */
final class Batcher implements AutoCloseable {
    private static final Item STOP = new Item(FloatBuffer.allocate(0), 0);

    private final Predictor predictor;
    private final int maxRows;
    private final long maxDelayNanos;
    private final int inputSize;
    private final BlockingQueue<Item> queue;
    private final ReentrantLock forming = new ReentrantLock();
    private final List<Thread> runners = new ArrayList<>();
    private final Metrics metrics;
    private final String model;
    private Item carry; // guarded by forming: the item that did not fit into the last batch
    /** Each runner's batch input, reused and grown to the largest batch it ran: ONNX Runtime reads a direct buffer in
     * place (a heap one it copies first). */
    private final ThreadLocal<FloatBuffer> staging = new ThreadLocal<>();

    static final class Item {
        /** The request's rows from position 0: a view of its body where the body is raw float32 (no copy). */
        final FloatBuffer rows;

        final int n;
        final CompletableFuture<Prediction> result = new CompletableFuture<>();

        Item(FloatBuffer rows, int n) {
            this.rows = rows;
            this.n = n;
        }
    }

    Batcher(String model, Predictor predictor, BatchSettings settings, int runners, int capacity, Metrics metrics) {
        this.model = model;
        this.predictor = predictor;
        this.maxRows = settings.maxRows;
        this.maxDelayNanos = TimeUnit.MICROSECONDS.toNanos(settings.maxDelayMicros);
        this.inputSize = predictor.info().inputSize();
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.metrics = metrics;
        for (int i = 0; i < runners; i++) {
            Thread t = new Thread(null, this::runLoop, "dl4jbridge-batcher-" + model + "-" + i, 16L << 20);
            t.setDaemon(true);
            t.start();
            this.runners.add(t);
        }
    }

    /** Queues {@code n} rows (n * inputSize floats from position 0, already checked); completes with their prediction. */
    CompletableFuture<Prediction> submit(FloatBuffer rows, int n) {
        Item item = new Item(rows, n);
        if (!queue.offer(item)) {
            metrics.rejected();
            item.result.completeExceptionally(new HttpError(
                    503, "overloaded", "the batch queue of model '" + model + "' is full; retry shortly"));
        }
        return item.result;
    }

    private void runLoop() {
        while (true) {
            List<Item> batch;
            try {
                batch = nextBatch();
            } catch (InterruptedException e) {
                return;
            }
            if (batch == null) {
                return;
            }
            run(batch);
        }
    }

    /** The next batch: the first item blocks, the rest are taken while they fit and the delay lasts. */
    private List<Item> nextBatch() throws InterruptedException {
        forming.lockInterruptibly();
        try {
            Item first = carry != null ? carry : queue.take();
            carry = null;
            if (first == STOP) {
                queue.offer(STOP); // let the other runners see it too
                return null;
            }
            List<Item> batch = new ArrayList<>();
            batch.add(first);
            int rows = first.n;
            long deadline = System.nanoTime() + maxDelayNanos;
            while (rows < maxRows) {
                Item next = queue.poll();
                if (next == null) {
                    long wait = deadline - System.nanoTime();
                    if (wait <= 0 || (next = queue.poll(wait, TimeUnit.NANOSECONDS)) == null) {
                        break;
                    }
                }
                if (next == STOP || rows + next.n > maxRows) {
                    carry = next;
                    break;
                }
                batch.add(next);
                rows += next.n;
            }
            return batch;
        } finally {
            forming.unlock();
        }
    }

    private void run(List<Item> batch) {
        if (batch.size() == 1) {
            runAlone(batch.get(0));
            return;
        }
        int total = 0;
        for (Item item : batch) {
            total += item.n;
        }
        FloatBuffer rows = staging(total * inputSize);
        for (Item item : batch) {
            rows.put(item.rows.duplicate().limit(item.n * inputSize));
        }
        rows.flip();
        Prediction out;
        try {
            out = predictor.predict(rows, total);
        } catch (InvalidInputException e) {
            batch.forEach(this::runAlone); // one bad request must not fail the others
            return;
        } catch (RuntimeException e) {
            batch.forEach(item -> item.result.completeExceptionally(e));
            return;
        }
        metrics.batch(model, total);
        float[] values = out.flatProbabilities();
        int per = out.numClasses();
        long[] rowShape = out.rowShape();
        int offset = 0;
        for (Item item : batch) {
            float[] own = Arrays.copyOfRange(values, offset * per, (offset + item.n) * per);
            offset += item.n;
            item.result.complete(new Prediction(own, item.n, rowShape));
        }
    }

    private FloatBuffer staging(int floats) {
        FloatBuffer buffer = staging.get();
        if (buffer == null || buffer.capacity() < floats) {
            buffer = ByteBuffer.allocateDirect(floats * Float.BYTES)
                    .order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            staging.set(buffer);
        }
        buffer.clear();
        return buffer;
    }

    private void runAlone(Item item) {
        try {
            Prediction out = predictor.predict(item.rows.duplicate().limit(item.n * inputSize), item.n);
            metrics.batch(model, item.n);
            item.result.complete(out);
        } catch (RuntimeException e) {
            item.result.completeExceptionally(e);
        }
    }

    /** Stops the runners once the queued requests are done (they are answered, not dropped). */
    @Override
    public void close() {
        while (!queue.offer(STOP)) {
            Thread.onSpinWait();
        }
        for (Thread t : runners) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
