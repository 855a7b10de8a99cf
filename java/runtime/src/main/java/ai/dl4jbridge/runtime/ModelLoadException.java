package ai.dl4jbridge.runtime;

/** The model could not be read or does not follow the contract (one float input [N, F], one output [N, C]). */
public class ModelLoadException extends PredictorException {
    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
