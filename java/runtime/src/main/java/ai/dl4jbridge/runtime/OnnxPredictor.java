package ai.dl4jbridge.runtime;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A {@link Predictor} backed by ONNX Runtime Java. One {@link OrtSession}, shared by all threads
 * ({@code OrtSession.run} is thread-safe); the JVM's single {@code OrtEnvironment}.
 *
 * <pre>{@code
 * try (Predictor p = OnnxPredictor.builder().setModel(Path.of("model.onnx")).build()) {
 *     Prediction out = p.predict(row);          // row: float[784], pixels / 255
 *     int digit = out.classOf(0);
 * }
 * }</pre>
 */
public final class OnnxPredictor extends AbstractPredictor {
    /** The largest example accepted (floats): 256 MiB of float32. */
    static final long MAX_ROW_FLOATS = 1L << 26;

    private final OrtSession session;
    private final long[] rowShape;
    /** Readers: predict calls in flight. Writer: close, which waits for them. */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();

    private volatile boolean closed;

    private OnnxPredictor(OrtSession session, ModelInfo info, NanPolicy nanPolicy) {
        super(info, nanPolicy);
        this.session = session;
        this.rowShape = info.inputShape();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected Prediction run(FloatBuffer rows, int n) {
        long[] shape = rowShape.clone();
        shape[0] = n;
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("predictor for model '" + info.name() + "' is closed");
            }
            try (OnnxTensor input = OnnxTensor.createTensor(Ort.env(), rows, shape);
                    OrtSession.Result result = session.run(Collections.singletonMap(info.inputName(), input))) {
                OnnxValue value = result.get(info.outputName())
                        .orElseThrow(
                                () -> new PredictorException("model returned no output '" + info.outputName() + "'"));
                return prediction((OnnxTensor) value, n);
            } catch (OrtException e) {
                throw new PredictorException("ONNX Runtime failed on a batch of " + n + " rows: " + e.getMessage(), e);
            }
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** The output tensor as n rows; the row shape is the tensor's own (the model may leave it open). */
    private static Prediction prediction(OnnxTensor tensor, int n) {
        long[] shape = tensor.getInfo().getShape();
        FloatBuffer out = tensor.getFloatBuffer();
        float[] values = new float[out.remaining()];
        out.get(values);
        long[] rowShape = shape.length > 1 ? Arrays.copyOfRange(shape, 1, shape.length) : new long[] {1};
        return new Prediction(values, n, rowShape);
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            session.close();
        } catch (OrtException e) {
            throw new PredictorException("closing the ONNX Runtime session failed: " + e.getMessage(), e);
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "OnnxPredictor[" + info + "]";
    }

    /** Builds an {@link OnnxPredictor}: one {@code setModel*} is required; {@code opt*} are optional. */
    public static final class Builder {
        private Path path;
        private byte[] bytes;
        private String resource;
        private ClassLoader loader;
        private ExecutionProvider provider = ExecutionProvider.CPU;
        private int deviceId;
        private NanPolicy nanPolicy = NanPolicy.REFUSE;
        private int intraOpThreads;
        private String name;

        private Builder() {}

        /** The model file (ONNX). */
        public Builder setModel(Path path) {
            clearSource();
            this.path = path;
            return this;
        }

        /** The model file's content (ONNX). */
        public Builder setModel(byte[] bytes) {
            clearSource();
            this.bytes = bytes.clone();
            return this;
        }

        /** A classpath resource, e.g. "models/lenet.onnx", read with this class's class loader. */
        public Builder setModelResource(String resource) {
            return setModelResource(resource, OnnxPredictor.class.getClassLoader());
        }

        public Builder setModelResource(String resource, ClassLoader loader) {
            clearSource();
            this.resource = resource.startsWith("/") ? resource.substring(1) : resource;
            this.loader = loader;
            return this;
        }

        /** CPU (default) or CUDA. CUDA that cannot load throws {@link ProviderUnavailableException}. */
        public Builder optExecutionProvider(ExecutionProvider provider) {
            this.provider = provider;
            return this;
        }

        /** The CUDA device ordinal (default 0). */
        public Builder optDeviceId(int deviceId) {
            if (deviceId < 0) {
                throw new IllegalArgumentException("deviceId=" + deviceId + ", expected >= 0");
            }
            this.deviceId = deviceId;
            return this;
        }

        /** What to do with NaN / Inf inputs (default {@link NanPolicy#REFUSE}). */
        public Builder optNanPolicy(NanPolicy nanPolicy) {
            this.nanPolicy = nanPolicy;
            return this;
        }

        /** Threads ONNX Runtime uses inside one run (default 0: ONNX Runtime's choice, one per core). */
        public Builder optIntraOpThreads(int threads) {
            if (threads < 0) {
                throw new IllegalArgumentException("intraOpThreads=" + threads + ", expected >= 0 (0 = all cores)");
            }
            this.intraOpThreads = threads;
            return this;
        }

        /** A display name overriding the model's own. */
        public Builder optName(String name) {
            this.name = name;
            return this;
        }

        /**
         * Loads the model. ONNX Runtime's graph optimisation recurses deeply in native code on the calling
         * thread: a JVM main thread with a long class path has crashed (SIGSEGV, no error report) on LeNet with
         * the default 1 MiB stack. So loading runs on a thread of its own with a large stack.
         */
        public OnnxPredictor build() {
            OnnxPredictor[] built = new OnnxPredictor[1];
            RuntimeException[] failed = new RuntimeException[1];
            Thread loader = new Thread(
                    null,
                    () -> {
                        try {
                            built[0] = load();
                        } catch (RuntimeException e) {
                            failed[0] = e;
                        }
                    },
                    "dl4jbridge-model-loader",
                    LOADER_STACK_BYTES);
            loader.start();
            boolean interrupted = false;
            while (true) {
                try {
                    loader.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // a half-built session cannot be abandoned: wait, then say so
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            if (failed[0] != null) {
                throw failed[0];
            }
            return built[0];
        }

        private static final long LOADER_STACK_BYTES = 64L << 20;

        private OnnxPredictor load() {
            byte[] model = readModel();
            Ort.env(); // before any SessionOptions: a provider that fails to load then logs and reports its real reason
            OrtSession session = null;
            try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
                options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                if (intraOpThreads > 0) {
                    options.setIntraOpNumThreads(intraOpThreads);
                }
                addProvider(options);
                java.util.Set<String> external = ExternalData.locations(model);
                if (!external.isEmpty() && path == null) {
                    throw new ModelLoadException("model " + source() + " keeps weights in external data files "
                            + external + "; load it with setModel(Path) so that they are found beside it");
                }
                if (!external.isEmpty()) {
                    ExternalData.check(path, external);
                    // From the file, so that ONNX Runtime resolves the (checked) locations against its folder.
                    session = Ort.env().createSession(path.toAbsolutePath().toString(), options);
                } else {
                    session = Ort.env().createSession(model, options);
                }
                ModelInfo info = describe(session);
                OnnxPredictor predictor = new OnnxPredictor(session, info, nanPolicy);
                predictor.predict(new float[info.inputSize()]); // warm-up: the first run allocates
                return predictor;
            } catch (OrtException e) {
                closeQuietly(session);
                throw new ModelLoadException("ONNX Runtime cannot load model " + source() + ": " + e.getMessage(), e);
            } catch (RuntimeException e) {
                closeQuietly(session);
                throw e;
            }
        }

        private void addProvider(OrtSession.SessionOptions options) {
            if (provider != ExecutionProvider.CUDA) {
                return;
            }
            if (!Ort.availableProviders().contains(OrtProvider.CUDA)) {
                throw new ProviderUnavailableException("CUDA was requested but this ONNX Runtime build ("
                        + Ort.version() + ") has no CUDA provider; it has " + Ort.availableProviders()
                        + ". Depend on com.microsoft.onnxruntime:onnxruntime_gpu instead of onnxruntime, "
                        + "or ask for ExecutionProvider.CPU. Not falling back to the CPU.");
            }
            try {
                options.addCUDA(deviceId);
            } catch (OrtException e) {
                throw new ProviderUnavailableException(
                        "CUDA was requested (device " + deviceId + ") but its provider"
                                + " failed to load: " + e.getMessage()
                                + ". Check the GPU, the driver and the CUDA/cuDNN "
                                + "libraries this ONNX Runtime (" + Ort.version()
                                + ") needs. Not falling back to the CPU.",
                        e);
            }
        }

        private ModelInfo describe(OrtSession session) throws OrtException {
            Map<String, NodeInfo> inputs = session.getInputInfo();
            Map<String, NodeInfo> outputs = session.getOutputInfo();
            if (inputs.size() != 1 || outputs.size() != 1) {
                throw new ModelLoadException("model " + source() + " has inputs " + inputs.keySet() + " and outputs "
                        + outputs.keySet() + "; this predictor runs models with exactly one float32 input and one"
                        + " output. Export a single-input, single-output graph, or run this one with ONNX Runtime's"
                        + " OrtSession directly, feeding every input by name");
            }
            NodeInfo input = inputs.values().iterator().next();
            NodeInfo output = outputs.values().iterator().next();
            long[] inShape = floatShape(input, "input");
            floatShape(output, "output");
            for (int i = 1; i < inShape.length; i++) {
                if (inShape[i] <= 0) {
                    throw new ModelLoadException("model " + source() + " input '" + input.getName() + "' has shape "
                            + Arrays.toString(inShape) + "; only the batch dimension may be dynamic (export it"
                            + " with a fixed input size, e.g. --input-shape C,H,W)");
                }
            }
            long rowSize = 1;
            for (int i = 1; i < inShape.length; i++) {
                rowSize = Math.multiplyHigh(rowSize, inShape[i]) != 0 ? Long.MAX_VALUE : rowSize * inShape[i];
                if (rowSize > MAX_ROW_FLOATS) {
                    throw new ModelLoadException("model " + source() + " input '" + input.getName() + "' has shape "
                            + Arrays.toString(inShape) + ": one example would be more than " + MAX_ROW_FLOATS
                            + " floats; this runtime refuses inputs that large");
                }
            }
            if (inShape.length < 2) {
                throw new ModelLoadException("model " + source() + " input '" + input.getName() + "' has shape "
                        + Arrays.toString(inShape) + ", expected a batch dimension first: [N, ...]");
            }
            if (inShape[0] > 0) {
                // Serving it as [-1, ...] would be a lie the batcher acts on (a 2-row batch fails inside ONNX
                // Runtime); every path here (the service, its batcher, Spark scoring) sends rows in batches.
                throw new ModelLoadException("model " + source() + " input '" + input.getName() + "' has shape "
                        + Arrays.toString(inShape) + ": its batch dimension is fixed at " + inShape[0]
                        + "; this runtime sends rows in batches of any size. Export it with a dynamic batch dimension"
                        + " (dl4j-bridge export does), or make the first dimension symbolic (dim_param \"N\")");
            }
            inShape[0] = -1;
            long[] outShape = probeOutputShape(session, input.getName(), inShape, output.getName());
            Map<String, String> metadata = session.getMetadata().getCustomMetadata();
            java.util.List<String> labels;
            try {
                labels = Labels.from(metadata);
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException("model " + source() + ": " + e.getMessage(), e);
            }
            String modelName = name != null ? name : metadata.getOrDefault("model_name", defaultName(session));
            return new ModelInfo(
                    modelName,
                    "onnxruntime " + Ort.version(),
                    provider,
                    input.getName(),
                    inShape,
                    output.getName(),
                    outShape,
                    labels,
                    metadata);
        }

        /**
         * The output shape [-1, ...] read from a run on one zero example: the file may leave output
         * dimensions open (-1) even though a fixed input fixes them.
         */
        private long[] probeOutputShape(OrtSession session, String inputName, long[] inShape, String outputName)
                throws OrtException {
            long[] one = inShape.clone();
            one[0] = 1;
            long size = 1;
            for (int i = 1; i < one.length; i++) {
                size *= one[i];
            }
            FloatBuffer zeros = FloatBuffer.allocate((int) size);
            try (OnnxTensor in = OnnxTensor.createTensor(Ort.env(), zeros, one);
                    OrtSession.Result result = session.run(Collections.singletonMap(inputName, in))) {
                long[] shape = ((OnnxTensor) result.get(0)).getInfo().getShape();
                if (shape.length < 1 || shape[0] != 1) {
                    throw new ModelLoadException("model " + source() + " output '" + outputName + "' has shape "
                            + Arrays.toString(shape) + " for one example; expected [N, ...] with the batch first");
                }
                long[] out = shape.length == 1 ? new long[] {-1, 1} : shape.clone();
                out[0] = -1;
                return out;
            }
        }

        private long[] floatShape(NodeInfo node, String what) {
            if (!(node.getInfo() instanceof TensorInfo)
                    || ((TensorInfo) node.getInfo()).type != ai.onnxruntime.OnnxJavaType.FLOAT) {
                throw new ModelLoadException("model " + source() + " " + what + " '" + node.getName() + "' is "
                        + node.getInfo() + ", expected a float32 tensor");
            }
            return ((TensorInfo) node.getInfo()).getShape();
        }

        private String defaultName(OrtSession session) throws OrtException {
            String graph = session.getMetadata().getGraphName();
            if (graph != null && !graph.isEmpty()) {
                return graph;
            }
            return path != null ? String.valueOf(path.getFileName()) : "model";
        }

        private byte[] readModel() {
            return ModelSource.read(path, bytes, resource, loader);
        }

        private String source() {
            return ModelSource.describe(path, bytes, resource);
        }

        private void clearSource() {
            path = null;
            bytes = null;
            resource = null;
        }

        private static void closeQuietly(OrtSession session) {
            if (session != null) {
                try {
                    session.close();
                } catch (OrtException ignored) {
                    // Already failing with a more useful error.
                }
            }
        }
    }
}
