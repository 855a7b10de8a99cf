package ai.dl4jbridge.runtime;

import java.nio.FloatBuffer;

/**
 * The input handling every {@link Predictor} shares: row and batch checks, the NaN policy, and the
 * four input forms reduced to one {@code FloatBuffer} of {@code n} rows for the engine.
 */
public abstract class AbstractPredictor implements Predictor {
    protected final ModelInfo info;
    protected final int inputSize;
    private final NanPolicy nanPolicy;

    protected AbstractPredictor(ModelInfo info, NanPolicy nanPolicy) {
        this.info = info;
        this.nanPolicy = nanPolicy;
        this.inputSize = info.inputSize();
    }

    /** Runs the engine on {@code n} checked rows (position 0, exactly {@code n * inputSize} floats). */
    protected abstract Prediction run(FloatBuffer rows, int n);

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public Prediction predict(float[] row) {
        InputChecks.checkRow(row, inputSize);
        return checked(FloatBuffer.wrap(row), 1);
    }

    @Override
    public Prediction predict(float[][] rows) {
        return checked(InputChecks.pack(rows, inputSize), rows.length);
    }

    @Override
    public Prediction predict(FloatBuffer rows, int n) {
        InputChecks.checkBuffer(rows, n, inputSize);
        FloatBuffer view = rows.duplicate();
        view.limit(view.position() + n * inputSize);
        return checked(view.slice(), n);
    }

    @Override
    public Prediction predict(float[] values, long[] shape) {
        int n = InputChecks.checkShape(values, shape, info);
        return checked(FloatBuffer.wrap(values), n);
    }

    private Prediction checked(FloatBuffer rows, int n) {
        InputChecks.checkFinite(rows, n, inputSize, nanPolicy);
        return run(rows, n);
    }
}
