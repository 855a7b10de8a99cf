package ai.dl4jbridge.modelzip;

/**
 * A model zip that cannot be read, or that is refused: the message names the file and the problem, and says what
 * to do where something can be done. Python's bridge.load turns it into a ModelFileError with the same message.
 */
public class ModelZipException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ModelZipException(String message) {
        super(message);
    }

    public ModelZipException(String message, Throwable cause) {
        super(message, cause);
    }
}
