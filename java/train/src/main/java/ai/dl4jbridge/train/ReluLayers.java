package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicLong;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.api.ops.impl.scalar.Step;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ReLU activation layers (conv, batch norm, then a ReLU layer, as ResNets have them) trained without DL4J's copies.
 * DL4J M2.1's ActivationLayer copies its input before applying the ReLU in place (forward), copies it again before
 * the derivative (backprop), and the derivative once more into the gradient workspace: on resnet_small those copies
 * were 4% of the training step (JFR, main thread), the ReLU layers 8% in all against PyTorch's 2%. Here the forward
 * writes max(x, 0) into a new array and backprop writes step(x) x dy into a new one, reading the input the forward
 * kept: the same values (the same ND4J ops as DL4J's forward and as {@link ReluGradients}' derivative).
 *
 * <p>Each plain-ReLU ActivationLayer of the network (the layer object DL4J built, not its configuration) is replaced
 * once by this subclass, in its graph vertex or in the network's layer array; the configuration is DL4J's, so a
 * saved or Spark-shipped network is DL4J's own. Inference, other activations, and every call with the switch off run
 * DL4J's code. Off with {@code -Ddl4jbridge.reluLayers=dl4j} or {@code DL4J_BRIDGE_RELU_LAYERS=dl4j}.
 */
public final class ReluLayers {
    static final String PROPERTY = "dl4jbridge.reluLayers";
    static final String ENVIRONMENT = "DL4J_BRIDGE_RELU_LAYERS";
    private static final OncePerNetwork INSTALLED = new OncePerNetwork();
    private static final AtomicLong BACKPROPS = new AtomicLong();

    private ReluLayers() {}

    /** False where the property or the environment says "dl4j". */
    public static boolean enabled() {
        return Switches.isOn(PROPERTY, ENVIRONMENT, "dl4j");
    }

    /** How many ReLU-layer backprops ran here rather than in DL4J's ActivationLayer, in this JVM (tests read it). */
    public static long backprops() {
        return BACKPROPS.get();
    }

    /** A Spark training hook that installs the layers on each worker's network. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.RELU_LAYERS);
    }

    /** {@link #install(Model)} once per network. */
    public static void ensureInstalled(Model net) {
        if (INSTALLED.firstTime(net)) {
            install(net);
        }
    }

    /** Replaces each plain-ReLU ActivationLayer of the network by this class's; how many it replaced. */
    public static int install(Model net) {
        if (net instanceof ComputationGraph) {
            return installInGraph((ComputationGraph) net);
        }
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork mln = (MultiLayerNetwork) net;
            Layer[] layers = mln.getLayers();
            int installed = 0;
            for (int i = 0; i < layers.length; i++) {
                if (replaceable(layers[i])) {
                    Layer original = layers[i];
                    Relu relu = new Relu((ActivationLayer) original);
                    layers[i] = relu; // getLayers() is the network's own array; getLayer(name) reads its map
                    java.util.Map<String, Layer> byName = layerMapOf(mln);
                    if (byName != null) {
                        byName.replaceAll((name, layer) -> layer == original ? relu : layer);
                    }
                    installed++;
                }
            }
            return installed;
        }
        return 0;
    }

    private static int installInGraph(ComputationGraph graph) {
        Layer[] layers = graph.getLayers();
        int installed = 0;
        for (GraphVertex vertex : graph.getVertices()) {
            if (vertex instanceof LayerVertex && replaceable(vertex.getLayer())) {
                Layer original = vertex.getLayer();
                Relu relu = new Relu((ActivationLayer) original);
                setVertexLayer((LayerVertex) vertex, relu);
                for (int i = 0; i < layers.length; i++) {
                    if (layers[i] == original) {
                        layers[i] = relu; // getLayers() is the graph's own array
                    }
                }
                installed++;
            }
        }
        return installed;
    }

    private static boolean replaceable(Layer layer) {
        return layer != null
                && layer.getClass() == ActivationLayer.class
                && isPlainRelu(((org.deeplearning4j.nn.conf.layers.ActivationLayer)
                                layer.conf().getLayer())
                        .getActivationFn());
    }

    /** ReLU without max, threshold or slope: DL4J's class, or ReluGradients' subclass during a step. */
    static boolean isPlainRelu(IActivation activation) {
        return activation instanceof ActivationReLU && ReluGradients.hasPlainParameters((ActivationReLU) activation);
    }

    @SuppressWarnings("unchecked")
    private static java.util.Map<String, Layer> layerMapOf(MultiLayerNetwork net) {
        try {
            Field field = MultiLayerNetwork.class.getDeclaredField("layerMap");
            field.setAccessible(true);
            return (java.util.Map<String, Layer>) field.get(net);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read the layers by name of a MultiLayerNetwork", e);
        }
    }

    private static void setVertexLayer(LayerVertex vertex, Layer layer) {
        try {
            Field field = LayerVertex.class.getDeclaredField("layer");
            field.setAccessible(true);
            field.set(vertex, layer);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot set the layer of graph vertex " + vertex.getVertexName(), e);
        }
    }

    /** DL4J's ActivationLayer, with the training forward and the backprop above where they apply. */
    static final class Relu extends ActivationLayer {
        Relu(ActivationLayer original) {
            super(original.conf(), original.getDataType());
            setIndex(original.getIndex());
            setTrainingListeners(original.getTrainingListeners());
            setIterationCount(original.getIterationCount());
            setEpochCount(original.getEpochCount());
            setCacheMode(original.getCacheMode());
        }

        private boolean applies() {
            return enabled()
                    && isPlainRelu(
                            ((org.deeplearning4j.nn.conf.layers.ActivationLayer) conf().getLayer()).getActivationFn());
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
            if (!training || !applies()) {
                return super.activate(training, workspaceMgr);
            }
            assertInputSet(false);
            applyDropOutIfNecessary(true, workspaceMgr);
            INDArray out = workspaceMgr.createUninitialized(
                    ArrayType.ACTIVATIONS, input.dataType(), input.shape(), input.ordering());
            Nd4j.getExecutioner().exec(new RectifiedLinear(input, out)); // the input stays as it was, for backprop
            return out;
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
            if (!applies()) {
                return super.backpropGradient(epsilon, workspaceMgr);
            }
            assertInputSet(true);
            INDArray dx = workspaceMgr.createUninitialized(
                    ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), input.ordering());
            Nd4j.getExecutioner().exec(new Step(input, dx, 0.0)); // 1 where x > 0, else 0, as ReluGradients
            dx.muli(epsilon);
            BACKPROPS.incrementAndGet();
            return new Pair<>(new DefaultGradient(), dx);
        }
    }
}
