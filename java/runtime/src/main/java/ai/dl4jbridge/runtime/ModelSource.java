package ai.dl4jbridge.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where a predictor builder's model comes from (a path, bytes or a classpath resource), read once. */
public final class ModelSource {
    private ModelSource() {}

    /** The model's bytes from whichever source is set; ModelLoadException names the source on failure. */
    public static byte[] read(Path path, byte[] bytes, String resource, ClassLoader loader) {
        try {
            if (path != null) {
                return Files.readAllBytes(path);
            }
            if (bytes != null) {
                return bytes;
            }
            if (resource != null) {
                try (InputStream in = loader.getResourceAsStream(resource)) {
                    if (in == null) {
                        throw new ModelLoadException("classpath resource '" + resource + "' not found");
                    }
                    return in.readAllBytes();
                }
            }
        } catch (IOException e) {
            throw new ModelLoadException("cannot read model " + describe(path, bytes, resource) + ": " + e, e);
        }
        throw new IllegalStateException("no model: call setModel(Path), setModel(byte[]) or setModelResource(String)");
    }

    /** How error messages name the source. */
    public static String describe(Path path, byte[] bytes, String resource) {
        return path != null
                ? path.toString()
                : resource != null
                        ? "classpath:" + resource
                        : bytes != null ? "(" + bytes.length + " bytes)" : "(none)";
    }
}
