package ai.dl4jbridge.runtime.dl4j;

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
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * A {@link Predictor} that runs the DL4J model zip itself (ModelSerializer format), so that a Java team
 * can compare DL4J and ONNX Runtime on its own data behind one interface.
 *
 * <p>Thread-safe: DL4J's {@code MultiLayerNetwork.output} is not, so calls are serialised on the
 * network (ND4J parallelises inside one call). Brings DL4J and ND4J (~100 MB of natives) onto the
 * classpath: use {@code OnnxPredictor} in services, this class to cross-check.
 */
public final class Dl4jPredictor extends AbstractPredictor {
    /** The entry that dl4j-bridge's Python side adds to the zip: {"name": ..., "labels": [...]}. */
    static final String METADATA_ENTRY = "dl4j-bridge.json";

    private final MultiLayerNetwork net;
    private volatile boolean closed;

    private Dl4jPredictor(MultiLayerNetwork net, ModelInfo info, NanPolicy nanPolicy) {
        super(info, nanPolicy);
        this.net = net;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected Prediction run(FloatBuffer rows, int n) {
        float[] flat = new float[n * inputSize];
        rows.duplicate().get(flat);
        synchronized (net) {
            if (closed) {
                throw new IllegalStateException("predictor for model '" + info.name() + "' is closed");
            }
            try {
                INDArray out = net.output(Nd4j.create(flat, new long[] {n, inputSize}, 'c'), false);
                float[] probabilities = out.dup('c').data().asFloat();
                return new Prediction(probabilities, n, probabilities.length / n);
            } catch (RuntimeException e) {
                throw new PredictorException("DL4J failed on a batch of " + n + " rows: " + e, e);
            }
        }
    }

    @Override
    public void close() {
        synchronized (net) {
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

        private Builder() {
        }

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

        public Dl4jPredictor build() {
            byte[] zip = read();
            MultiLayerNetwork net;
            try {
                net = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(zip), false);
            } catch (IOException | RuntimeException e) {
                throw new ModelLoadException("DL4J cannot load model " + source() + " as a MultiLayerNetwork zip: " + e, e);
            }
            Map<String, String> metadata = metadata(zip);
            int in = flatInputSize(net);
            int classes = outputSize(net);
            if (in <= 0 || classes <= 0) {
                throw new ModelLoadException("model " + source() + " does not take flat rows [N, F] or does not end in a"
                        + " dense/output layer (input size " + in + ", output size " + classes + ")");
            }
            List<String> labelList = labels != null ? labels : Labels.from(metadata);
            String name = metadata.getOrDefault("name", path != null ? String.valueOf(path.getFileName()) : "model");
            ModelInfo info = new ModelInfo(name, "deeplearning4j " + dl4jVersion(), ExecutionProvider.CPU, "input",
                    new long[] {-1, in}, "output", classes, labelList, metadata);
            return new Dl4jPredictor(net, info, nanPolicy);
        }

        private byte[] read() {
            return ModelSource.read(path, bytes, resource, Dl4jPredictor.class.getClassLoader());
        }

        private String source() {
            return ModelSource.describe(path, bytes, resource);
        }
    }

    static int flatInputSize(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        InputPreProcessor pre = conf.getInputPreProcess(0);
        if (pre instanceof FeedForwardToCnnPreProcessor) {
            FeedForwardToCnnPreProcessor cnn = (FeedForwardToCnnPreProcessor) pre;
            return (int) (cnn.getInputHeight() * cnn.getInputWidth() * cnn.getNumChannels());
        }
        Layer first = conf.getConf(0).getLayer();
        return first instanceof FeedForwardLayer && pre == null ? (int) ((FeedForwardLayer) first).getNIn() : -1;
    }

    static int outputSize(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        Layer last = conf.getConf(conf.getConfs().size() - 1).getLayer();
        return last instanceof FeedForwardLayer ? (int) ((FeedForwardLayer) last).getNOut() : -1;
    }

    /**
     * The zip's dl4j-bridge.json entry (a Java-serialised String, as ModelSerializer.addObjectToFile
     * writes it), flattened to name / labels. Only java.lang.String may be deserialised.
     */
    static Map<String, String> metadata(byte[] zip) {
        Map<String, String> out = new LinkedHashMap<>();
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                if (!e.getName().endsWith(METADATA_ENTRY)) {
                    continue;
                }
                ObjectInputStream objects = new ObjectInputStream(in);
                objects.setObjectInputFilter(ObjectInputFilter.Config.createFilter("java.lang.String;!*"));
                String json = (String) objects.readObject();
                out.put("dl4j-bridge.json", json);
                String name = stringField(json, "name");
                if (name != null) {
                    out.put("name", name);
                }
                int labels = json.indexOf("\"labels\"");
                int open = labels < 0 ? -1 : json.indexOf('[', labels);
                if (open >= 0 && json.indexOf(']', open) > 0) {
                    out.put("labels", json.substring(open, json.indexOf(']', open) + 1));
                }
            }
        } catch (IOException | ClassNotFoundException | ClassCastException e) {
            throw new ModelLoadException("the model zip's " + METADATA_ENTRY + " entry is unreadable: " + e);
        }
        return Collections.unmodifiableMap(out);
    }

    private static String stringField(String json, String field) {
        int key = json.indexOf("\"" + field + "\"");
        int open = key < 0 ? -1 : json.indexOf('"', json.indexOf(':', key) + 1);
        int close = open < 0 ? -1 : json.indexOf('"', open + 1);
        return close > open ? json.substring(open + 1, close) : null;
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
