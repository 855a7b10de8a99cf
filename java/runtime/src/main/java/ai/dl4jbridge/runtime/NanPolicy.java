package ai.dl4jbridge.runtime;

/** What {@link Predictor#predict} does with NaN or infinite input values. */
public enum NanPolicy {
    /** Throw {@link InvalidInputException} naming the row and column (the default). */
    REFUSE,
    /** Pass the values to the model unchanged; the probabilities of that row are then usually NaN. */
    ALLOW
}
