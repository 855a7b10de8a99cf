package ai.dl4jbridge.train;

import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Cosine decay (Loshchilov and Hutter's SGDR without restarts), which ND4J's schedules lack: from initialValue to
 * minValue over totalSteps epochs or iterations, then minValue. Stored in the model's configuration JSON by class
 * name, like ND4J's own schedules.
 */
public final class CosineSchedule implements ISchedule {
    private static final long serialVersionUID = 1L;

    private final ScheduleType scheduleType;
    private final double initialValue;
    private final double minValue;
    private final int totalSteps;

    public CosineSchedule(@JsonProperty("scheduleType") ScheduleType scheduleType,
                          @JsonProperty("initialValue") double initialValue,
                          @JsonProperty("minValue") double minValue,
                          @JsonProperty("totalSteps") int totalSteps) {
        if (totalSteps <= 0) {
            throw new IllegalArgumentException("CosineSchedule needs totalSteps > 0, received " + totalSteps);
        }
        this.scheduleType = scheduleType;
        this.initialValue = initialValue;
        this.minValue = minValue;
        this.totalSteps = totalSteps;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        int step = Math.min(scheduleType == ScheduleType.ITERATION ? iteration : epoch, totalSteps);
        return minValue + 0.5 * (initialValue - minValue) * (1 + Math.cos(Math.PI * step / totalSteps));
    }

    @Override
    public ISchedule clone() {
        return new CosineSchedule(scheduleType, initialValue, minValue, totalSteps);
    }

    public ScheduleType getScheduleType() {
        return scheduleType;
    }

    public double getInitialValue() {
        return initialValue;
    }

    public double getMinValue() {
        return minValue;
    }

    public int getTotalSteps() {
        return totalSteps;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof CosineSchedule)) {
            return false;
        }
        CosineSchedule o = (CosineSchedule) other;
        return scheduleType == o.scheduleType && initialValue == o.initialValue && minValue == o.minValue
                && totalSteps == o.totalSteps;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(scheduleType, initialValue, minValue, totalSteps);
    }

    @Override
    public String toString() {
        return "CosineSchedule(" + scheduleType + ", " + initialValue + " -> " + minValue + " over " + totalSteps + ")";
    }
}
