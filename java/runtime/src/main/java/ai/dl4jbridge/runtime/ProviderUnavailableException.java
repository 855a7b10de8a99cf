package ai.dl4jbridge.runtime;

/**
 * The requested execution provider (CUDA) cannot run here. Thrown instead of falling back to the CPU:
 * a service that asked for a GPU must not quietly run ten times slower.
 */
public class ProviderUnavailableException extends PredictorException {
    private static final long serialVersionUID = 1L;

    public ProviderUnavailableException(String message) {
        super(message);
    }

    public ProviderUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
