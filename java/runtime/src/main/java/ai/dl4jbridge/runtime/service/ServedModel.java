package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InputChecks;
import ai.dl4jbridge.runtime.ModelInfo;
import ai.dl4jbridge.runtime.NanPolicy;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/** One model in the service: its predictor, name, version, batching, and what the protocols say about it. */
final class ServedModel implements AutoCloseable {
    final String name;
    final String version;
    final Predictor predictor;
    final ModelInfo info;
    final BatchSettings batching;
    private final NanPolicy nanPolicy;
    private Batcher batcher;

    ServedModel(String name, String version, Predictor predictor, BatchSettings batching, NanPolicy nanPolicy) {
        this.name = name;
        this.version = version;
        this.predictor = predictor;
        this.info = predictor.info();
        this.batching = batching;
        this.nanPolicy = nanPolicy;
    }

    void startBatcher(int runners, int capacity, Metrics metrics) {
        if (batching.enabled()) {
            batcher = new Batcher(name, predictor, batching, runners, capacity, metrics);
        }
    }

    String provider() {
        return info.provider().name().toLowerCase(Locale.ROOT);
    }

    /** The per-example input shape, e.g. [784] or [3, 48, 48]. */
    long[] rowShape() {
        long[] shape = info.inputShape();
        return Arrays.copyOfRange(shape, 1, shape.length);
    }

    /** ", or flat rows [n, C*H*W]" for an image model (whose flat rows are read in C order), else "". */
    String flatRowsNote() {
        long[] row = rowShape();
        return row.length > 1 ? " (or flat rows [n, " + info.inputSize() + "], C order)" : "";
    }

    /**
     * Null when one example of shape {@code dims} can be fed to this model; else "" or, for a channels-first/last
     * mix-up, "; " and the transpose that fixes it ({@link InputChecks#exampleProblem}).
     */
    String exampleProblem(List<Long> dims) {
        return InputChecks.exampleProblem(
                dims.stream().mapToLong(Long::longValue).toArray(), info);
    }

    /**
     * Predicts {@code n} rows (flat, C order, already sized, from position 0): through the batcher when batching is on
     * and the request fits in one batch, else at once on the calling thread.
     */
    CompletableFuture<Prediction> predict(FloatBuffer rows, int n) {
        if (batcher != null && n <= batching.maxRows) {
            // Checked here so that a bad request fails alone, before it joins a batch.
            InputChecks.checkFinite(rows, n, info.inputSize(), nanPolicy);
            return batcher.submit(rows, n);
        }
        return CompletableFuture.completedFuture(
                predictor.predict(rows.duplicate().limit(n * info.inputSize()), n));
    }

    @Override
    public void close() {
        if (batcher != null) {
            batcher.close();
        }
        predictor.close();
    }
}
