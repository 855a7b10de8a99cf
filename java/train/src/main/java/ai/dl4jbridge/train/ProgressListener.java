package ai.dl4jbridge.train;

/**
 * Training progress and callbacks, reported by {@link Trainer} (and the Spark trainer) to the caller (in Python,
 * a JPype proxy that drives the progress bar and the Keras-style callbacks). Never called per minibatch: once per
 * epoch and every few hundred milliseconds inside one, so that Python costs the loop nothing measurable.
 */
public interface ProgressListener {
    /** epoch: the epoch's number (1-based, initialEpoch + 1 for the first one of a call). */
    void onEpochBegin(int epoch);

    /** At most every few hundred milliseconds while an epoch runs; batch is the 0-based index of the last one done,
     * loss the mean minibatch score so far in this epoch. */
    void onBatchEnd(int epoch, int batch, long samplesDone, long samplesTotal, double loss, double samplesPerSecond);

    /** Once per completed epoch, after the network's epoch counter advanced and validation ran. */
    void onEpochEnd(EpochStats stats);
}
