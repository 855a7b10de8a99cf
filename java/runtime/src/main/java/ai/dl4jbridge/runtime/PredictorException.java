package ai.dl4jbridge.runtime;

/** Base of every exception this library throws (unchecked: callers decide where to handle them). */
public class PredictorException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public PredictorException(String message) {
        super(message);
    }

    public PredictorException(String message, Throwable cause) {
        super(message, cause);
    }
}
