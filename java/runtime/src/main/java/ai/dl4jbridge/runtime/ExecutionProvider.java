package ai.dl4jbridge.runtime;

/** Where ONNX Runtime runs the model. */
public enum ExecutionProvider {
    /** ONNX Runtime's CPU provider (the default; always present). */
    CPU,
    /**
     * NVIDIA CUDA. Needs the {@code com.microsoft.onnxruntime:onnxruntime_gpu} artifact instead of
     * {@code onnxruntime}, a GPU, and the CUDA / cuDNN libraries that ONNX Runtime release expects.
     * When any of these is missing, building the predictor throws {@link ProviderUnavailableException}.
     */
    CUDA
}
