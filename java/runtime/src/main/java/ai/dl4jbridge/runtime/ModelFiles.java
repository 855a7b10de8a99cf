package ai.dl4jbridge.runtime;

import java.nio.file.Path;
import java.util.Set;

/**
 * What an ONNX file needs beside itself, for code that moves a model's bytes elsewhere (Spark scoring ships them
 * to executors): the external-data files it names, and the rule the predictors apply to them (inside the model's
 * own folder, no absolute path, no "..", no link out of it).
 */
public final class ModelFiles {
    private ModelFiles() {}

    /** Every external-data location the model names; empty for a self-contained model. */
    public static Set<String> externalData(byte[] model) {
        return ExternalData.locations(model);
    }

    /**
     * Throws {@link ModelLoadException} naming the first location that lies outside {@code model}'s folder or is
     * not a file there.
     */
    public static void checkExternalData(Path model, Set<String> locations) {
        ExternalData.check(model, locations);
    }
}
