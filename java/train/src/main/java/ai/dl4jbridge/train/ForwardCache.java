package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingHook;

/**
 * Training steps with DL4J's own forward cache ({@code CacheMode.DEVICE}): a convolution keeps its forward output
 * for backprop instead of computing the convolution again (DL4J's default, CacheMode.NONE, trades that time for
 * the memory of one activation per convolution). Only for the step: the configuration a network is saved with
 * keeps its cache mode, and a network whose configuration names a cache mode of its own is left as it is.
 *
 * <p>Off with {@code -Ddl4jbridge.forwardCache=false} or {@code DL4J_BRIDGE_FORWARD_CACHE=false}.
 */
public final class ForwardCache {
    static final String PROPERTY = "dl4jbridge.forwardCache";
    static final String ENVIRONMENT = "DL4J_BRIDGE_FORWARD_CACHE";

    private ForwardCache() {}

    /** False where the property or the environment says "false". */
    public static boolean enabled() {
        return Switches.isOn(PROPERTY, ENVIRONMENT, "false");
    }

    /** Runs one training step of the network with the forward cache on, where the configuration leaves it off. */
    public static void during(Model net, Runnable step) {
        TrainingStep.run(List.of(TrainingStep.Change.FORWARD_CACHE), net, step);
    }

    /** The same around each minibatch of a Spark worker. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.FORWARD_CACHE);
    }

    /** Turns the cache on for one step of the network, where the configuration leaves it off; the undo turns it off
     * and drops what it cached. */
    static StepChange.Undo beginStep(Model net) {
        return enter(net) ? () -> restore(net) : StepChange.Undo.NOTHING;
    }

    /** False where this DL4J's layers keep their cache in fields other than M2.1's (then it stays off). */
    public static boolean available() {
        return Cached.PRE_OUTPUT != null && Cached.IM2COL != null;
    }

    private static boolean enter(Model net) {
        if (!available() || !enabled() || configuredCacheMode(net) != CacheMode.NONE) {
            return false;
        }
        setConfigured(net, CacheMode.DEVICE);
        for (Layer layer : Networks.layers(net)) {
            layer.setCacheMode(CacheMode.DEVICE);
        }
        return true;
    }

    /** Back to the configuration's NONE, each layer to the mode its own configuration gives it, and every cached
     * forward output dropped: DL4J never clears them, and a later backprop outside such a step (a user's
     * calculateGradients, a step with the cache switched off) would otherwise read this step's. */
    private static void restore(Model net) {
        setConfigured(net, CacheMode.NONE);
        for (Layer layer : Networks.layers(net)) {
            CacheMode own = layer.conf() == null ? null : layer.conf().getCacheMode();
            layer.setCacheMode(own == null ? CacheMode.NONE : own);
            dropCachedForward(layer);
        }
    }

    private static void dropCachedForward(Layer layer) {
        Layer inner = layer;
        while (inner instanceof BaseWrapperLayer) {
            inner = ((BaseWrapperLayer) inner).getUnderlying();
        }
        try {
            if (inner instanceof AbstractLayer) {
                Cached.PRE_OUTPUT.set(inner, null);
            }
            if (inner instanceof ConvolutionLayer) {
                Cached.IM2COL.set(inner, null);
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot drop the cached forward output of " + layer.getClass(), e);
        }
    }

    private static CacheMode configuredCacheMode(Model net) {
        CacheMode mode = net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().getCacheMode()
                : net instanceof ComputationGraph
                        ? ((ComputationGraph) net).getConfiguration().getCacheMode()
                        : null;
        return mode == null ? CacheMode.NONE : mode;
    }

    /** The configuration's mode decides whether a training step opens DL4J's forward cache at all. */
    private static void setConfigured(Model net, CacheMode mode) {
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).getLayerWiseConfigurations().setCacheMode(mode);
        } else if (net instanceof ComputationGraph) {
            ((ComputationGraph) net).getConfiguration().setCacheMode(mode);
        }
    }

    /** DL4J's cache fields: AbstractLayer.preOutput (every layer's) and ConvolutionLayer.i2d; null if missing. */
    private static final class Cached {
        static final Field PRE_OUTPUT = accessible(AbstractLayer.class, "preOutput");
        static final Field IM2COL = accessible(ConvolutionLayer.class, "i2d");

        private static Field accessible(Class<?> owner, String name) {
            try {
                Field field = owner.getDeclaredField(name);
                field.setAccessible(true);
                return field;
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }
    }
}
