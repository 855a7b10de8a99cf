package ai.dl4jbridge.runtime.dl4j;

import ai.dl4jbridge.modelzip.ModelZip;
import ai.dl4jbridge.modelzip.ModelZipException;
import ai.dl4jbridge.runtime.AbstractPredictor;
import ai.dl4jbridge.runtime.ExecutionProvider;
import ai.dl4jbridge.runtime.Labels;
import ai.dl4jbridge.runtime.ModelInfo;
import ai.dl4jbridge.runtime.ModelLoadException;
import ai.dl4jbridge.runtime.ModelSource;
import ai.dl4jbridge.runtime.NanPolicy;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import ai.dl4jbridge.runtime.PredictorException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * A {@link Predictor} that runs the DL4J model zip itself (ModelSerializer format), so that a Java team
 * can compare DL4J and ONNX Runtime on its own data behind one interface.
 *
 * <p>Both kinds of network: a MultiLayerNetwork or a ComputationGraph (told apart by the zip's
 * configuration.json) with one input and one output. The input shape comes from the zip where DL4J
 * stores it (a flat-input or {@code convolutionalFlat} network; a graph built with {@code setInputTypes});
 * otherwise ({@code InputType.convolutional} on a MultiLayerNetwork: DL4J keeps no height and width)
 * {@link Builder#optInputShape(long...)} gives it. Outputs keep their rank ([N, classes], [N, 1, H, W]).
 *
 * <p>Only the configuration, the parameters and dl4j-bridge's metadata of the zip are read ({@link ModelZip}, the
 * policy that Python's bridge.load uses too): entries that ModelSerializer would Java-deserialise (preprocessor.bin,
 * normalizer.bin) and everything else outside its allow-list are skipped, never loaded, and listed in the metadata
 * as "skipped_entries".
 *
 * <p>Thread-safe: DL4J's networks are not, so calls are serialised on the network (ND4J parallelises
 * inside one call). Brings DL4J and ND4J (~100 MB of natives) onto the classpath: use
 * {@code OnnxPredictor} in services, this class to cross-check.
 */
public final class Dl4jPredictor extends AbstractPredictor {
    /** The entry that dl4j-bridge's Python side adds to the zip: {"name": ..., "labels": [...], "input_shapes"}. */
    static final String METADATA_ENTRY = ModelZip.METADATA;

    private final Dl4jNetwork net;
    private final long[] inputShape;
    private volatile boolean closed;

    private Dl4jPredictor(Dl4jNetwork net, ModelInfo info, NanPolicy nanPolicy) {
        super(info, nanPolicy);
        this.net = net;
        this.inputShape = info.inputShape();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected Prediction run(FloatBuffer rows, int n) {
        float[] flat = new float[n * inputSize];
        rows.duplicate().get(flat);
        long[] shape = inputShape.clone();
        shape[0] = n;
        shape = net.feedShape(shape);
        synchronized (net.lock()) {
            if (closed) {
                throw new IllegalStateException("predictor for model '" + info.name() + "' is closed");
            }
            try {
                return prediction(net.output(Nd4j.create(flat, shape, 'c')), n);
            } catch (RuntimeException e) {
                throw new PredictorException(
                        "DL4J failed on a batch of " + n + " inputs of shape " + Arrays.toString(shape) + ": " + e, e);
            }
        }
    }

    private static Prediction prediction(INDArray out, int n) {
        long[] shape = out.shape();
        long[] rowShape = shape.length > 1 ? Arrays.copyOfRange(shape, 1, shape.length) : new long[] {1};
        return new Prediction(out.dup('c').data().asFloat(), n, rowShape);
    }

    @Override
    public void close() {
        synchronized (net.lock()) {
            closed = true; // the network's off-heap arrays are freed by ND4J's deallocator with the object
        }
    }

    /** Builds a {@link Dl4jPredictor}: one {@code setModel*} is required; {@code opt*} are optional. */
    public static final class Builder {
        private Path path;
        private byte[] bytes;
        private String resource;
        private NanPolicy nanPolicy = NanPolicy.REFUSE;
        private List<String> labels;
        private long[] inputShape;

        private Builder() {}

        /** The DL4J model zip (ModelSerializer.writeModel). */
        public Builder setModel(Path path) {
            this.path = path;
            this.bytes = null;
            this.resource = null;
            return this;
        }

        public Builder setModel(byte[] bytes) {
            this.bytes = bytes.clone();
            this.path = null;
            this.resource = null;
            return this;
        }

        public Builder setModelResource(String resource) {
            this.resource = resource.startsWith("/") ? resource.substring(1) : resource;
            this.path = null;
            this.bytes = null;
            return this;
        }

        public Builder optNanPolicy(NanPolicy nanPolicy) {
            this.nanPolicy = nanPolicy;
            return this;
        }

        /** Class labels, when the zip carries none (dl4j-bridge's zips carry them in dl4j-bridge.json). */
        public Builder optLabels(List<String> labels) {
            this.labels = List.copyOf(labels);
            return this;
        }

        /**
         * The per-example input shape, e.g. (3, 32, 32) for NCHW images: required when the zip does not
         * store it (a MultiLayerNetwork built with InputType.convolutional), else checked against it.
         */
        public Builder optInputShape(long... perExample) {
            if (perExample.length == 0 || Arrays.stream(perExample).anyMatch(d -> d <= 0)) {
                throw new IllegalArgumentException("inputShape=" + Arrays.toString(perExample)
                        + ", expected positive dimensions, e.g. (3, 32, 32)");
            }
            this.inputShape = perExample.clone();
            return this;
        }

        public Dl4jPredictor build() {
            ModelZip safe;
            try {
                safe = ModelZip.of(read(), source(), ModelZip.Use.INFERENCE);
            } catch (ModelZipException e) {
                throw new ModelLoadException(e.getMessage(), e);
            }
            Dl4jNetwork net = Dl4jNetwork.restore(safe, source());
            Map<String, String> metadata = new LinkedHashMap<>(metadata(safe));
            long[] shape = inputShape(net, metadata);
            long[] outShape = probeOutputShape(net, shape);
            metadata.putIfAbsent("input_layout", layout(net.layout(), shape));
            long[] flatRows = net.flatRows();
            if (flatRows != null) { // as the ONNX export's metadata says it
                metadata.putIfAbsent(
                        "input_flat_rows", "[N," + flatRows[1] + "] reshaped in C order to " + net.layout());
            }
            if (!safe.skipped().isEmpty()) {
                metadata.put("skipped_entries", String.join(",", safe.skipped()));
            }
            List<String> labelList = labels != null ? labels : Labels.from(metadata);
            String name = metadata.getOrDefault("name", path != null ? String.valueOf(path.getFileName()) : "model");
            ModelInfo info = new ModelInfo(
                    name,
                    "deeplearning4j " + dl4jVersion()
                            + (net.isGraph() ? " (ComputationGraph)" : " (MultiLayerNetwork)"),
                    ExecutionProvider.CPU,
                    "input",
                    shape,
                    "output",
                    outShape,
                    labelList,
                    metadata);
            return new Dl4jPredictor(net, info, nanPolicy);
        }

        /** The network's layout with its shape: "[N,784]", "NCHW [N,1,28,28]" (ONNX export's "input_layout"). */
        private static String layout(String networkLayout, long[] shape) {
            if (networkLayout != null && networkLayout.contains("[")) {
                return networkLayout;
            }
            String dims =
                    Arrays.toString(Arrays.copyOfRange(shape, 1, shape.length)).replaceAll("[\\[\\] ]", "");
            boolean image = networkLayout != null && shape.length == 4;
            return (image ? networkLayout + " " : "") + "[N," + dims + "]";
        }

        private long[] inputShape(Dl4jNetwork net, Map<String, String> metadata) {
            long[] stored = net.storedInputShape();
            if (stored == null) {
                stored = savedInputShape(metadata); // dl4j-bridge's save() records the shape a builder knew
            }
            if (inputShape == null) {
                if (stored == null) {
                    throw new ModelLoadException("model " + source() + " does not store its input's shape (DL4J keeps"
                            + " no height and width for InputType.convolutional); give it: optInputShape(C, H, W)");
                }
                return stored;
            }
            long[] given = new long[inputShape.length + 1];
            given[0] = -1;
            System.arraycopy(inputShape, 0, given, 1, inputShape.length);
            if (stored != null && Arrays.equals(net.flatRows(), given)) {
                return stored; // the flat rows of a convolutionalFlat image, which it also takes
            }
            if (stored != null && !Arrays.equals(stored, given)) {
                throw new ModelLoadException("optInputShape" + Arrays.toString(inputShape) + " contradicts the shape "
                        + "model " + source() + " stores: " + Arrays.toString(stored) + " (-1: the batch)");
            }
            return given;
        }

        /** The single entry of "input_shapes" in dl4j-bridge.json, as [-1, ...]; null when absent. */
        private long[] savedInputShape(Map<String, String> metadata) {
            String json = metadata.get(METADATA_ENTRY);
            if (json == null) {
                return null;
            }
            try {
                JsonNode shapes = new ObjectMapper().readTree(json).path("input_shapes");
                if (!shapes.isObject() || shapes.size() != 1) {
                    return null;
                }
                JsonNode dims = shapes.elements().next();
                long[] shape = new long[dims.size() + 1];
                shape[0] = -1;
                for (int i = 0; i < dims.size(); i++) {
                    shape[i + 1] = dims.get(i).asLong();
                }
                return dims.size() > 0 && Arrays.stream(shape).skip(1).allMatch(d -> d > 0) ? shape : null;
            } catch (IOException e) {
                throw new ModelLoadException(
                        "model " + source() + ": its " + METADATA_ENTRY + " is not valid JSON: " + e);
            }
        }

        /** The output shape [-1, ...] from one all-zero example (which also checks the input shape fits). */
        private long[] probeOutputShape(Dl4jNetwork net, long[] shape) {
            long[] one = shape.clone();
            one[0] = 1;
            try {
                long[] out = net.output(Nd4j.zeros(DataType.FLOAT, net.feedShape(one)))
                        .shape()
                        .clone();
                out[0] = -1;
                return out.length == 1 ? new long[] {-1, 1} : out;
            } catch (RuntimeException e) {
                throw new ModelLoadException(
                        "model " + source() + " does not run on an input of shape " + Arrays.toString(one) + ": "
                                + e.getMessage() + ". Check optInputShape (C, H, W for NCHW)",
                        e);
            }
        }

        private byte[] read() {
            return ModelSource.read(path, bytes, resource, Dl4jPredictor.class.getClassLoader());
        }

        private String source() {
            return ModelSource.describe(path, bytes, resource);
        }
    }

    /**
     * dl4j-bridge's metadata in the zip (ModelZip decodes it: the plain JSON entry, or the legacy Java-serialised
     * String, never deserialised), flattened to name / labels beside the JSON itself.
     */
    static Map<String, String> metadata(ModelZip zip) {
        Map<String, String> out = new LinkedHashMap<>();
        String json = zip.metadataJson();
        if (json == null) {
            return out;
        }
        out.put(METADATA_ENTRY, json);
        try {
            JsonNode root = new ObjectMapper().readTree(json);
            if (root.path("name").isTextual()) {
                out.put("name", root.get("name").asText());
            }
            if (root.path("labels").isArray()) {
                out.put("labels", root.get("labels").toString());
            }
        } catch (IOException e) {
            throw new ModelLoadException(
                    "model " + zip.source() + ": its " + zip.metadataEntry() + " entry is not valid JSON: " + e, e);
        }
        return out;
    }

    static String dl4jVersion() {
        try (InputStream in = MultiLayerNetwork.class.getResourceAsStream(
                "/META-INF/maven/org.deeplearning4j/deeplearning4j-nn/pom.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "(unknown version)");
        } catch (IOException e) {
            return "(unknown version)";
        }
    }
}
