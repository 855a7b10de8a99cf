package ai.dl4jbridge.train;

import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * A linear warm-up over the first {@code iterations} iterations to what the base schedule gives, then the base
 * schedule. ND4J's RampSchedule computes the same, but 1.0.0-M2.1 cannot read it back from a model's
 * configuration JSON (it has no Jackson creator), so a network saved with it fails to load.
 */
public final class WarmUpSchedule implements ISchedule {
    private static final long serialVersionUID = 1L;

    private final ISchedule baseSchedule;
    private final int iterations;

    public WarmUpSchedule(@JsonProperty("baseSchedule") ISchedule baseSchedule,
                          @JsonProperty("iterations") int iterations) {
        if (baseSchedule == null || iterations <= 0) {
            throw new IllegalArgumentException("WarmUpSchedule needs a base schedule and iterations > 0, received "
                    + baseSchedule + ", " + iterations);
        }
        this.baseSchedule = baseSchedule;
        this.iterations = iterations;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        double base = baseSchedule.valueAt(iteration, epoch);
        return iteration >= iterations ? base : base * (iteration + 1) / iterations;
    }

    @Override
    public ISchedule clone() {
        return new WarmUpSchedule(baseSchedule.clone(), iterations);
    }

    public ISchedule getBaseSchedule() {
        return baseSchedule;
    }

    public int getIterations() {
        return iterations;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof WarmUpSchedule && ((WarmUpSchedule) other).iterations == iterations
                && ((WarmUpSchedule) other).baseSchedule.equals(baseSchedule);
    }

    @Override
    public int hashCode() {
        return 31 * baseSchedule.hashCode() + iterations;
    }

    @Override
    public String toString() {
        return "WarmUpSchedule(" + baseSchedule + ", " + iterations + " iterations)";
    }
}
