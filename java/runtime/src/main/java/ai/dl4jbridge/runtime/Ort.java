package ai.dl4jbridge.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import java.util.EnumSet;

/** The one {@link OrtEnvironment} of this JVM (ONNX Runtime allows one; every session shares it). */
final class Ort {
    private Ort() {}

    static OrtEnvironment env() {
        return OrtEnvironment.getEnvironment();
    }

    static String version() {
        return env().getVersion();
    }

    static EnumSet<OrtProvider> availableProviders() {
        return OrtEnvironment.getAvailableProviders();
    }
}
