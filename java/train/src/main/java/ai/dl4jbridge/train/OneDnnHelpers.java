package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import java.util.Set;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.layers.LayerHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNSubsamplingHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * DL4J 1.0.0-M2.1's oneDNN layer helpers, put by dl4j-bridge on the layers they compute right, in dl4j-bridge's own
 * calls only: {@link Networks} installs them before every output and score, every training step ({@link
 * TrainingStep}, local and on Spark workers, which build their own copies of the network) before its fit.
 *
 * <p>DL4J itself creates them for every convolution, pooling and batch normalization when
 * {@code org.eclipse.deeplearning4j.helpers.disable=false}, but they are wrong for channels-last (NHWC) layers.
 * Measured against DL4J's own implementation with the same weights and data: NHWC batch normalization trained
 * through MKLDNNBatchNormHelper diverges (NaN in three SGD steps), NHWC convolutions through MKLDNNConvHelper get
 * gradients off by as much as the update itself, and inference goes wrong where one NHWC layer feeds another (a
 * separable convolution or a crop into a convolution or batch norm: 1e32, NaN, or off by ~1); the channels-first
 * (NCHW) helpers agree to 1e-7. So dl4j-bridge leaves DL4J's switch off (DL4J's own {@code output()} runs DL4J's
 * own code, right for every network) and, where {@code -Ddl4jbridge.oneDnnHelpers=true} (dl4j-bridge's JVM on the
 * onednn-avx2 build of nd4j), gives the helper DL4J would have created to each channels-first layer that has none.
 * A helper on a channels-last layer (a JVM with DL4J's switch on) is dropped: the layer runs DL4J's own code.
 */
public final class OneDnnHelpers {
    static final String PROPERTY = "dl4jbridge.oneDnnHelpers";
    private static final OncePerNetwork INSTALLED = new OncePerNetwork();
    private static final Set<Class<?>> HELPER_OWNERS =
            Set.of(ConvolutionLayer.class, SubsamplingLayer.class, BatchNormalization.class);

    private OneDnnHelpers() {}

    /** True where {@code -Ddl4jbridge.oneDnnHelpers=true}: dl4j-bridge's JVM sets it on nd4j's onednn-avx2 build. */
    public static boolean enabled() {
        return Boolean.parseBoolean(System.getProperty(PROPERTY, "false").trim());
    }

    /**
     * Gives each channels-first convolution, pooling and batch normalization of the network that has no helper the
     * oneDNN helper DL4J would create for it (where {@link #enabled()} and oneDNN is there), and drops the helper of
     * each channels-last layer; returns how many helpers it installed.
     */
    public static int install(Model net) {
        boolean enabled = enabled();
        int installed = 0;
        for (Layer layer : Networks.layers(net)) {
            Layer inner = unwrap(layer);
            Field field = helperField(inner);
            if (field == null) {
                continue;
            }
            if (isChannelsLast(inner)) {
                set(field, inner, null);
            } else if (enabled && get(field, inner) == null) {
                LayerHelper helper = oneDnnHelper(inner);
                if (helper != null) {
                    set(field, inner, helper);
                    installed++;
                }
            }
        }
        return installed;
    }

    /** {@link #install(Model)} once per network. */
    public static void ensureInstalled(Model net) {
        if (INSTALLED.firstTime(net)) {
            install(net);
        }
    }

    /** A Spark training hook that calls {@link #install(Model)} once per worker network. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.ONEDNN_HELPERS);
    }

    /** The helper DL4J's own initializeHelper() creates for this layer on the CPU backend, if oneDNN supports it. */
    private static LayerHelper oneDnnHelper(Layer layer) {
        DataType dataType = ((AbstractLayer<?>) layer).getDataType();
        if (layer instanceof ConvolutionLayer) { // and Convolution1DLayer
            MKLDNNConvHelper helper = new MKLDNNConvHelper(dataType);
            return helper.checkSupported() ? helper : null;
        }
        if (layer instanceof SubsamplingLayer) { // and Subsampling1DLayer
            MKLDNNSubsamplingHelper helper = new MKLDNNSubsamplingHelper(dataType);
            return helper.checkSupported() ? helper : null;
        }
        org.deeplearning4j.nn.conf.layers.BatchNormalization conf =
                (org.deeplearning4j.nn.conf.layers.BatchNormalization)
                        layer.conf().getLayer();
        MKLDNNBatchNormHelper helper = new MKLDNNBatchNormHelper(dataType);
        return helper.checkSupported(conf.getEps(), conf.isLockGammaBeta()) ? helper : null;
    }

    /**
     * The {@code helper} field of a layer whose class creates a oneDNN helper on the CPU: ConvolutionLayer,
     * SubsamplingLayer, BatchNormalization, and their subclasses that keep their initializeHelper() (the 1D ones;
     * the separable, depthwise, deconvolution and 3D layers override it to create none). Null for other layers.
     */
    private static Field helperField(Layer layer) {
        Class<?> owner = initializeHelperOwner(layer.getClass());
        if (owner == null || !HELPER_OWNERS.contains(owner)) {
            return null;
        }
        try {
            Field field = owner.getDeclaredField("helper");
            field.setAccessible(true);
            return field;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("DL4J's " + owner.getSimpleName() + " has no helper field", e);
        }
    }

    /** The class whose initializeHelper() the layer runs; null where it has none. */
    private static Class<?> initializeHelperOwner(Class<?> layerClass) {
        for (Class<?> c = layerClass; c != null; c = c.getSuperclass()) {
            try {
                c.getDeclaredMethod("initializeHelper");
                return c;
            } catch (NoSuchMethodException e) {
                // inherited, if at all
            }
        }
        return null;
    }

    private static Object get(Field field, Layer layer) {
        try {
            return field.get(layer);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read the oneDNN helper of " + layer.getClass(), e);
        }
    }

    private static void set(Field field, Layer layer, Object helper) {
        try {
            field.set(layer, helper);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot set the oneDNN helper of " + layer.getClass(), e);
        }
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
}
