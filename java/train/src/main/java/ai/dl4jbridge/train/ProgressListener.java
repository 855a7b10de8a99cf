package ai.dl4jbridge.train;

/** Training progress, reported by {@link Trainer} to the caller (in Python, a JPype proxy). */
public interface ProgressListener {
    /** Called at most every few hundred milliseconds while an epoch runs. */
    void onProgress(int epoch, long samplesDone, long samplesTotal, double loss, double samplesPerSecond);

    /** Called once per epoch; validationAccuracy is NaN when no validation data was given. */
    void onEpochEnd(int epoch, double meanLoss, double validationAccuracy, double seconds, double samplesPerSecond);
}
