package ai.dl4jbridge.runtime.dl4j;

import ai.dl4jbridge.modelzip.ModelZip;
import ai.dl4jbridge.runtime.ModelLoadException;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
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
    /** The flat rows [-1, C*H*W] DL4J's preprocessor reshapes into the stored image shape; null for other inputs. */
    private final long[] flatRows;

    private Dl4jNetwork(MultiLayerNetwork multiLayer, ComputationGraph graph, long[] storedInputShape, String layout) {
        this(multiLayer, graph, storedInputShape, layout, null);
    }

    private Dl4jNetwork(
            MultiLayerNetwork multiLayer,
            ComputationGraph graph,
            long[] storedInputShape,
            String layout,
            long[] flatRows) {
        this.multiLayer = multiLayer;
        this.graph = graph;
        this.storedInputShape = storedInputShape;
        this.layout = layout;
        this.flatRows = flatRows;
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
        String format = null;
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
                format = format != null
                        ? format
                        : imageFormat(layer.getLayerConf().getLayer());
            }
        }
        return new Dl4jNetwork(null, graph, null, format);
    }

    private static Dl4jNetwork ofMultiLayer(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        Dl4jNetwork flat =
                flatInput(net, null, conf.getInputPreProcess(0), conf.getConf(0).getLayer());
        return flat != null // InputType.convolutional: no H, W stored
                ? flat
                : new Dl4jNetwork(net, null, null, imageFormat(conf.getConf(0).getLayer()));
    }

    /**
     * "NCHW" or "NHWC" for a first layer that reads images in that order (convolution, pooling, batch norm, zero
     * padding), else null: the layout named with the shape, as the ONNX export names it.
     */
    private static String imageFormat(Layer first) {
        CNN2DFormat format = null;
        if (first instanceof ConvolutionLayer) {
            format = ((ConvolutionLayer) first).getCnn2dDataFormat();
        } else if (first instanceof SubsamplingLayer) {
            format = ((SubsamplingLayer) first).getCnn2dDataFormat();
        } else if (first instanceof BatchNormalization) {
            format = ((BatchNormalization) first).getCnn2DFormat();
        } else if (first instanceof ZeroPaddingLayer) {
            format = ((ZeroPaddingLayer) first).getDataFormat();
        }
        return format == null ? null : format.name();
    }

    /**
     * The input that a first layer and its preprocessor imply, or null when they imply none: [-1, F] for a flat
     * input; for {@code InputType.convolutionalFlat} the image [-1, C, H, W] (as the ONNX export describes it), fed
     * to DL4J as the flat rows its preprocessor reshapes.
     */
    private static Dl4jNetwork flatInput(
            MultiLayerNetwork net, ComputationGraph graph, InputPreProcessor pre, Layer first) {
        if (pre instanceof FeedForwardToCnnPreProcessor) {
            FeedForwardToCnnPreProcessor cnn = (FeedForwardToCnnPreProcessor) pre;
            long[] image = {-1, cnn.getNumChannels(), cnn.getInputHeight(), cnn.getInputWidth()};
            long flat = image[1] * image[2] * image[3];
            return new Dl4jNetwork(
                    net, graph, image, "NCHW [N," + image[1] + "," + image[2] + "," + image[3] + "]", new long[] {
                        -1, flat
                    });
        }
        if (pre == null && first instanceof FeedForwardLayer && !(first instanceof ConvolutionLayer)) {
            long nIn = ((FeedForwardLayer) first).getNIn();
            return new Dl4jNetwork(net, graph, new long[] {-1, nIn}, "[N," + nIn + "]");
        }
        return null;
    }

    boolean isGraph() {
        return graph != null;
    }

    long[] storedInputShape() {
        return storedInputShape == null ? null : storedInputShape.clone();
    }

    /**
     * How the input is laid out, as the ONNX export's metadata "input_layout" says it ("[N,784]", "NCHW [N,1,28,28]");
     * where the zip stores no shape, the data format of the first layer alone ("NCHW"), or null.
     */
    String layout() {
        return layout;
    }

    /** The flat rows [-1, C*H*W] DL4J is fed for an image input it reshapes itself; null where it takes the image. */
    long[] flatRows() {
        return flatRows == null ? null : flatRows.clone();
    }

    /** The shape DL4J is fed for inputs of {@code shape}: the flat rows where its preprocessor reshapes them. */
    long[] feedShape(long[] shape) {
        return flatRows == null ? shape : new long[] {shape[0], flatRows[1]};
    }

    /** Inference output; not thread-safe (DL4J's networks are not): callers serialise. */
    INDArray output(INDArray input) {
        return graph != null ? graph.outputSingle(false, input) : multiLayer.output(input, false);
    }

    Object lock() {
        return graph != null ? graph : multiLayer;
    }
}
