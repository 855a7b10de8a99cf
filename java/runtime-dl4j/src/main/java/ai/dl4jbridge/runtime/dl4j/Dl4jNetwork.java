package ai.dl4jbridge.runtime.dl4j;

import ai.dl4jbridge.modelzip.ModelZip;
import ai.dl4jbridge.runtime.ModelLoadException;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * A restored DL4J network of either kind, seen through what inference needs: one input of a known
 * shape, one output. A ComputationGraph with several inputs or outputs is refused by name.
 */
final class Dl4jNetwork {
    private final MultiLayerNetwork multiLayer;
    private final ComputationGraph graph;
    /** The input shape with -1 for the batch, e.g. [-1, 784] or [-1, 3, 32, 32]; null when the zip does not say. */
    private final long[] storedInputShape;

    private final String layout;

    private Dl4jNetwork(MultiLayerNetwork multiLayer, ComputationGraph graph, long[] storedInputShape, String layout) {
        this.multiLayer = multiLayer;
        this.graph = graph;
        this.storedInputShape = storedInputShape;
        this.layout = layout;
    }

    /** Restores the network the zip holds (what ModelZip kept of it), detecting its kind from configuration.json. */
    static Dl4jNetwork restore(ModelZip zip, String source) {
        boolean isGraph = isComputationGraph(zip.configuration(), source);
        try {
            if (isGraph) {
                ComputationGraph graph = ModelSerializer.restoreComputationGraph(zip.dl4jZip(), false);
                return ofGraph(graph, source);
            }
            MultiLayerNetwork net = ModelSerializer.restoreMultiLayerNetwork(zip.dl4jZip(), false);
            return ofMultiLayer(net);
        } catch (IOException | RuntimeException e) {
            if (e instanceof ModelLoadException) {
                throw (ModelLoadException) e;
            }
            throw new ModelLoadException(
                    "DL4J cannot load model " + source + " as a " + (isGraph ? "ComputationGraph" : "MultiLayerNetwork")
                            + " zip: " + e,
                    e);
        }
    }

    static boolean isComputationGraph(String configuration, String source) {
        try {
            return new ObjectMapper().readTree(configuration).has("vertices");
        } catch (IOException e) {
            throw new ModelLoadException("model " + source + ": configuration.json is not valid JSON: " + e, e);
        }
    }

    private static Dl4jNetwork ofGraph(ComputationGraph graph, String source) {
        ComputationGraphConfiguration conf = graph.getConfiguration();
        List<String> inputs = conf.getNetworkInputs();
        List<String> outputs = conf.getNetworkOutputs();
        if (inputs.size() != 1 || outputs.size() != 1) {
            throw new ModelLoadException("model " + source + " is a ComputationGraph with inputs " + inputs
                    + " and outputs " + outputs + "; this predictor runs graphs with exactly one input and one output."
                    + " Run it with ComputationGraph.output(INDArray...) directly");
        }
        // DL4J's ComputationGraphConfiguration keeps no InputType: read what the first layer's
        // preprocessor or nIn tells, as for a MultiLayerNetwork.
        for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
            GraphVertex vertex = conf.getVertices().get(e.getKey());
            if (e.getValue().contains(inputs.get(0)) && vertex instanceof LayerVertex) {
                LayerVertex layer = (LayerVertex) vertex;
                Dl4jNetwork flat = flatInput(
                        null,
                        graph,
                        layer.getPreProcessor(),
                        layer.getLayerConf().getLayer());
                if (flat != null) {
                    return flat;
                }
            }
        }
        return new Dl4jNetwork(null, graph, null, null);
    }

    private static Dl4jNetwork ofMultiLayer(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        Dl4jNetwork flat =
                flatInput(net, null, conf.getInputPreProcess(0), conf.getConf(0).getLayer());
        return flat != null ? flat : new Dl4jNetwork(net, null, null, null); // InputType.convolutional: no H, W stored
    }

    /** The flat input [-1, F] that a first layer and its preprocessor imply, or null when they imply none. */
    private static Dl4jNetwork flatInput(
            MultiLayerNetwork net, ComputationGraph graph, InputPreProcessor pre, Layer first) {
        if (pre instanceof FeedForwardToCnnPreProcessor) {
            FeedForwardToCnnPreProcessor cnn = (FeedForwardToCnnPreProcessor) pre;
            long flat = cnn.getInputHeight() * cnn.getInputWidth() * cnn.getNumChannels();
            return new Dl4jNetwork(
                    net,
                    graph,
                    new long[] {-1, flat},
                    "NCHW [N," + cnn.getNumChannels() + "," + cnn.getInputHeight() + "," + cnn.getInputWidth()
                            + "] flattened to [N," + flat + "]");
        }
        if (pre == null && first instanceof FeedForwardLayer && !(first instanceof ConvolutionLayer)) {
            long nIn = ((FeedForwardLayer) first).getNIn();
            return new Dl4jNetwork(net, graph, new long[] {-1, nIn}, "flat [N," + nIn + "]");
        }
        return null;
    }

    boolean isGraph() {
        return graph != null;
    }

    long[] storedInputShape() {
        return storedInputShape == null ? null : storedInputShape.clone();
    }

    String layout() {
        return layout;
    }

    /** Inference output; not thread-safe (DL4J's networks are not): callers serialise. */
    INDArray output(INDArray input) {
        return graph != null ? graph.outputSingle(false, input) : multiLayer.output(input, false);
    }

    Object lock() {
        return graph != null ? graph : multiLayer;
    }
}
