package ai.dl4jbridge.train;

/** What one training epoch measured. NaN marks what was not measured (no validation data, no accuracy for
 * regression targets). */
public final class EpochStats {
    /** 1-based epoch number. */
    public final int epoch;
    /** Mean minibatch score (loss plus regularisation) over the epoch's minibatches, as DL4J computed each during
     * its training step (locally and, through a training hook, on Spark workers). */
    public final double meanLoss;
    public final double validationLoss;
    public final double validationAccuracy;
    public final double seconds;
    public final double samplesPerSecond;
    /** Every minibatch's score, in training order (on Spark: in the order workers reported them). */
    public final double[] iterationLosses;
    /** The network's iteration and epoch counters after this epoch. */
    public final int iterationCount;
    public final int epochCount;
    /** The learning rate the updater of the first layer with one gives at those counters (NaN if none). */
    public final double learningRate;

    public EpochStats(int epoch, double meanLoss, double validationLoss, double validationAccuracy, double seconds,
                      double samplesPerSecond, double[] iterationLosses, int iterationCount, int epochCount,
                      double learningRate) {
        this.epoch = epoch;
        this.meanLoss = meanLoss;
        this.validationLoss = validationLoss;
        this.validationAccuracy = validationAccuracy;
        this.seconds = seconds;
        this.samplesPerSecond = samplesPerSecond;
        this.iterationLosses = iterationLosses;
        this.iterationCount = iterationCount;
        this.epochCount = epochCount;
        this.learningRate = learningRate;
    }
}
