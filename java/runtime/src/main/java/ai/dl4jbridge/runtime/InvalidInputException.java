package ai.dl4jbridge.runtime;

/** The caller's input is wrong (length, shape, NaN/Inf under {@link NanPolicy#REFUSE}); nothing ran. */
public class InvalidInputException extends PredictorException {
    private static final long serialVersionUID = 1L;

    public InvalidInputException(String message) {
        super(message);
    }
}
