package ai.dl4jbridge.train;

/** What one training epoch measured. */
public final class EpochStats {
    public final int epoch;
    public final double meanLoss;
    public final double validationAccuracy;
    public final double seconds;
    public final double samplesPerSecond;

    public EpochStats(int epoch, double meanLoss, double validationAccuracy, double seconds, double samplesPerSecond) {
        this.epoch = epoch;
        this.meanLoss = meanLoss;
        this.validationAccuracy = validationAccuracy;
        this.seconds = seconds;
        this.samplesPerSecond = samplesPerSecond;
    }
}
