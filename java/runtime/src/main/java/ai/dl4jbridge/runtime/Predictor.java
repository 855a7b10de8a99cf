package ai.dl4jbridge.runtime;

import java.nio.FloatBuffer;

/**
 * A loaded model with one input and one output: float32 rows in, float32 rows out.
 *
 * <p>Input shape: {@link ModelInfo#inputShape()}, e.g. [-1, 784] or [-1, 3, 48, 48]. One row is
 * {@link ModelInfo#inputSize()} floats: the example flattened in C order (784 for a 28x28 MNIST image;
 * C * H * W for an NCHW image, channel by channel), scaled as {@link ModelInfo#inputScaling()} says.
 * {@link #predict(float[], long[])} takes the whole tensor with its shape and checks it against the
 * declared one. Output shape: {@link ModelInfo#outputShape()}, e.g. [rows, classes] probabilities or
 * [rows, 1, H, W] per-pixel values, returned as rows of {@link ModelInfo#outputSize()} floats.
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

    /**
     * A batch as one C-order tensor with its shape, e.g. {@code shape = [n, 3, 48, 48]}: the shape must be
     * the model's declared shape with any batch size. An image in the other channel order ([n, H, W, C] for
     * an NCHW model) is refused with a message naming the expected layout, never misread.
     */
    Prediction predict(float[] values, long[] shape);

    /** Frees the model. Idempotent; never throws a checked exception. */
    @Override
    void close();
}
