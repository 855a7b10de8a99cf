package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.layers.LayerHelper;
import org.deeplearning4j.spark.api.TrainingHook;

/**
 * Removes DL4J 1.0.0-M2.1's oneDNN layer helpers from the layers that compute channels-last (NHWC) maps,
 * before a network trains. Measured against DL4J's own implementation (the generic nd4j build), with the
 * same weights and data: NHWC batch normalization trained through MKLDNNBatchNormHelper diverges (NaN in
 * three SGD steps), and NHWC convolutions through MKLDNNConvHelper get gradients off by as much as the
 * update itself, while the NCHW helpers agree to 1e-7. Inference goes wrong too where one NHWC layer feeds
 * another (a separable convolution or a crop into a convolution or batch norm: 1e32, NaN, or off by ~1).
 * Without its helper a layer runs DL4J's own code, as on the generic build.
 *
 * <p>{@link Networks} calls {@link #ensureDropped(Model)} before every output and score, and every training step
 * ({@link TrainingStep}, local and on Spark workers, which build their own copies of the network) before its fit.
 */
public final class ChannelsLastHelpers {
    private static final OncePerNetwork DROPPED = new OncePerNetwork();

    private ChannelsLastHelpers() {}

    /** Drops the helpers of the network's channels-last layers; returns how many were dropped. */
    public static int drop(Model net) {
        int dropped = 0;
        for (Layer layer : Networks.layers(net)) {
            Layer inner = unwrap(layer);
            if (isChannelsLast(inner) && clearHelper(inner)) {
                dropped++;
            }
        }
        return dropped;
    }

    /** {@link #drop(Model)} once per network. */
    public static void ensureDropped(Model net) {
        if (DROPPED.firstTime(net)) {
            drop(net);
        }
    }

    /** A Spark training hook that calls {@link #drop(Model)} once per worker network. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.CHANNELS_LAST_HELPERS);
    }

    private static Layer unwrap(Layer layer) {
        if (layer instanceof FrozenLayer) {
            return unwrap(((FrozenLayer) layer).getInsideLayer());
        }
        if (layer instanceof FrozenLayerWithBackprop) {
            return unwrap(((FrozenLayerWithBackprop) layer).getInsideLayer());
        }
        return layer;
    }

    private static boolean isChannelsLast(Layer layer) {
        if (layer.conf() == null || layer.conf().getLayer() == null) {
            return false;
        }
        Object conf = layer.conf().getLayer();
        for (String getter : new String[] {"getCnn2dDataFormat", "getCnn2DFormat", "getDataFormat", "getFormat"}) {
            try {
                if (conf.getClass().getMethod(getter).invoke(conf) == CNN2DFormat.NHWC) {
                    return true;
                }
            } catch (ReflectiveOperationException e) {
                // this layer class spells its format differently, or has none
            }
        }
        return false;
    }

    /** Sets the layer's {@code helper} field (declared on its class or a superclass) to null. */
    private static boolean clearHelper(Layer layer) {
        for (Class<?> c = layer.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field field = c.getDeclaredField("helper");
                if (!LayerHelper.class.isAssignableFrom(field.getType())) {
                    return false;
                }
                field.setAccessible(true);
                boolean had = field.get(layer) != null;
                field.set(layer, null);
                return had;
            } catch (NoSuchFieldException e) {
                // look in the superclass
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("cannot remove the oneDNN helper of " + layer.getClass(), e);
            }
        }
        return false;
    }
}
