package ai.dl4jbridge.runtime;

import java.nio.FloatBuffer;

/**
 * A loaded classification model: flat float32 rows in, class probabilities out.
 *
 * <p>Input shape: one row is {@link ModelInfo#inputSize()} floats (784 for 28x28 MNIST images, NCHW
 * flattened, scaled as {@link ModelInfo#inputScaling()} says). Output shape: [rows, {@link
 * ModelInfo#numClasses()}] probabilities.
 *
 * <p>Implementations are thread-safe and meant to be built once and shared: concurrent {@code predict}
 * calls are allowed. {@link #close()} waits for the calls in flight, then frees the native resources;
 * later calls throw {@link IllegalStateException}.
 */
public interface Predictor extends AutoCloseable {

    /** What the model says about itself, and which engine and execution provider run it. */
    ModelInfo info();

    /** One row of {@code inputSize()} floats. */
    Prediction predict(float[] row);

    /** A batch: {@code rows[i]} has {@code inputSize()} floats each. */
    Prediction predict(float[][] rows);

    /**
     * A batch of {@code n} rows read from the buffer's position ({@code n * inputSize()} floats).
     * The buffer's position is left unchanged. A direct, native-order buffer avoids one copy.
     */
    Prediction predict(FloatBuffer rows, int n);

    /** Frees the model. Idempotent; never throws a checked exception. */
    @Override
    void close();
}
