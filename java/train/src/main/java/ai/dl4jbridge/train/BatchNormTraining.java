package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicLong;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.SubOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Batch normalization's training-mode forward and backprop (channels-first, float) as a few fast ND4J ops instead
 * of what DL4J M2.1's oneDNN helper runs. That helper's forward computes the batch mean and variance with ND4J's
 * reductions, which add one element after another (mean 1.6 ms, variance 4.5-12 ms on resnet_small's first batch
 * norm, 64 x 32 x 28 x 28, where an element-wise op takes 0.2 ms), then runs oneDNN's plain-layout forward; its
 * backprop runs libnd4j's {@code batchnorm_bp} (9.3 ms: oneDNN's backward with global statistics, then corrections
 * for the batch statistics). Here every per-channel sum is two matmuls with rows or columns of ones
 * ({@link ChannelSums}); the rest is element-wise, broadcast
 * per channel. Measured on resnet_small, one thread, per step: batch norm forward 29 -> 9 ms, backprop 38 -> 12 ms
 * (see BENCHMARKS.md, training-resnet-layers).
 *
 * <p>Forward: m = sum(x) / M (M = n x h x w), centred = x - m, var = sum(centred^2) / M (two passes, as DL4J's
 * Variance), out = centred gamma / sqrt(var + eps) + beta. Backprop, with s = sqrt(var + eps), g = gamma and dy the
 * incoming gradient: dBeta = sum(dy), dGamma = (sum(dy x) - m dBeta) / s, and dx = (g / s)(dy - dBeta / M - xHat
 * dGamma / M) = A dy + B x + C per channel, A = g / s, B = -g dGamma / (M s^2), C = -g dBeta / (M s) - B m (the
 * per-channel numbers in double). DL4J's layer reads the batch mean and variance for its running averages through
 * getMeanCache/getVarCache, as from DL4J's helper.
 *
 * <p>Installed on each channels-first batch norm that has DL4J's oneDNN helper ({@link OneDnnHelpers} puts them
 * there), as a subclass of that helper: inference, other layouts and data types, and every call with the switch off,
 * run DL4J's helper. Off with {@code -Ddl4jbridge.batchNormTraining=dl4j} or {@code
 * DL4J_BRIDGE_BATCH_NORM_TRAINING=dl4j}.
 */
public final class BatchNormTraining {
    static final String PROPERTY = "dl4jbridge.batchNormTraining";
    static final String ENVIRONMENT = "DL4J_BRIDGE_BATCH_NORM_TRAINING";
    private static final OncePerNetwork INSTALLED = new OncePerNetwork();
    private static final AtomicLong BACKPROPS = new AtomicLong();

    private BatchNormTraining() {}

    /** False where the property or the environment says "dl4j". */
    public static boolean enabled() {
        return Switches.isOn(PROPERTY, ENVIRONMENT, "dl4j");
    }

    /** How many batch-norm backprops ran here rather than in DL4J's helper, in this JVM (tests read it). */
    public static long backprops() {
        return BACKPROPS.get();
    }

    /** A Spark training hook that installs the helper on each worker's network. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.BATCH_NORM_TRAINING);
    }

    /** Replaces DL4J's oneDNN helper of each batch norm of the network by this one; how many it replaced. */
    public static int install(Model net) {
        int installed = 0;
        for (Layer layer : Networks.layers(net)) {
            if (layer instanceof BatchNormalization && replaceHelper((BatchNormalization) layer)) {
                installed++;
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

    private static boolean replaceHelper(BatchNormalization layer) {
        try {
            Field field = BatchNormalization.class.getDeclaredField("helper");
            field.setAccessible(true);
            Object current = field.get(layer);
            if (current == null || current.getClass() != MKLDNNBatchNormHelper.class) {
                return false; // no oneDNN helper (generic build, channels-last, already ours): DL4J's code runs
            }
            field.set(
                    layer,
                    new Helper(layer.getParam(BatchNormalizationParamInitializer.GAMMA)
                            .dataType()));
            return true;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot set the batch normalization helper of " + layer.getClass(), e);
        }
    }

    /** DL4J's oneDNN helper, with the training-mode forward and the backprop above where they apply. */
    static final class Helper extends MKLDNNBatchNormHelper {
        // Kept for the layer's life outside DL4J's workspaces: the last training forward's batch statistics (DL4J's
        // layer reads them through getMeanCache/getVarCache for the running averages, backprop for dx), and one
        // scratch array the size of the layer's input (no allocation per step).
        private INDArray mean;
        private INDArray variance;
        private float[] meanValues;
        private float[] varianceValues;
        // Per-channel work vectors ([c], filled from Java): the scale, backprop's A, B and C, and sum(dy x).
        private INDArray a;
        private INDArray b;
        private INDArray shift;
        private INDArray sumDyX;
        private INDArray scratch;
        private ChannelSums sums;
        private boolean lastForwardHere;

        Helper(DataType dataType) {
            super(dataType);
        }

        private static boolean applies(INDArray x, CNN2DFormat format) {
            return enabled() && x.rank() == 4 && format == CNN2DFormat.NCHW && x.dataType() == DataType.FLOAT;
        }

        @Override
        public INDArray preOutput(
                INDArray x,
                boolean training,
                long[] shape,
                INDArray gamma,
                INDArray beta,
                INDArray globalMean,
                INDArray globalVar,
                double decay,
                double eps,
                CNN2DFormat format,
                LayerWorkspaceMgr workspaceMgr) {
            lastForwardHere = training && gamma != null && beta != null && applies(x, format);
            if (!lastForwardHere) {
                return super.preOutput(
                        x, training, shape, gamma, beta, globalMean, globalVar, decay, eps, format, workspaceMgr);
            }
            INDArray input = plain(x);
            prepare(input);
            long count = input.length() / input.size(1);
            INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, x.shape());
            // mean; centred = x - mean (in scratch); variance = sum(centred^2) / count, the squares summed in out.
            // The per-channel numbers are worked out here in Java and written in one go: each ND4J call costs tens of
            // microseconds whatever its size, which is most of the time of the smaller batch norms.
            sums.into(input, mean);
            meanValues = dividedBy(mean.toFloatVector(), count);
            mean.data().setData(meanValues);
            Nd4j.exec(new SubOp(input, perChannel(mean), scratch));
            Nd4j.exec(new MulOp(scratch, scratch, out));
            sums.into(out, variance);
            varianceValues = dividedBy(variance.toFloatVector(), count);
            variance.data().setData(varianceValues);
            // out = centred * gamma / sqrt(var + eps) + beta
            float[] g = vector(gamma).toFloatVector();
            float[] scale = new float[g.length];
            for (int i = 0; i < g.length; i++) {
                scale[i] = (float) (g[i] / Math.sqrt(varianceValues[i] + eps));
            }
            Nd4j.exec(new MulOp(scratch, perChannel(filled(a, scale)), out));
            Nd4j.exec(new AddOp(out, perChannel(vector(beta)), out));
            return out;
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(
                INDArray x,
                INDArray dy,
                long[] shape,
                INDArray gamma,
                INDArray beta,
                INDArray dGammaView,
                INDArray dBetaView,
                double eps,
                CNN2DFormat format,
                LayerWorkspaceMgr workspaceMgr) {
            // Decided by the forward: its statistics are the ones this backprop needs (the switch may change between).
            if (!lastForwardHere) {
                return super.backpropGradient(
                        x, dy, shape, gamma, beta, dGammaView, dBetaView, eps, format, workspaceMgr);
            }
            INDArray input = plain(x);
            INDArray grad = plain(dy.dataType() == DataType.FLOAT ? dy : dy.castTo(DataType.FLOAT));
            prepare(input);
            long count = input.length() / input.size(1);
            INDArray dBeta = vector(dBetaView);
            sums.into(grad, dBeta);
            Nd4j.exec(new MulOp(grad, input, scratch));
            sums.into(scratch, sumDyX); // sum(dy x), made dGamma below
            // Per channel, in double: s, then dGamma = (sum(dy x) - m dBeta) / s, then A, B, C.
            float[] m = meanValues;
            float[] v = varianceValues;
            float[] g = vector(gamma).toFloatVector();
            float[] dyx = sumDyX.toFloatVector();
            float[] sumDy = dBeta.toFloatVector();
            int c = m.length;
            float[] gammaGrad = new float[c];
            float[] aValues = new float[c];
            float[] bValues = new float[c];
            float[] shiftValues = new float[c];
            for (int i = 0; i < c; i++) {
                double s = Math.sqrt(v[i] + eps);
                double dg = (dyx[i] - (double) m[i] * sumDy[i]) / s;
                double bi = -g[i] * dg / (count * s * s);
                gammaGrad[i] = (float) dg;
                aValues[i] = (float) (g[i] / s);
                bValues[i] = (float) bi;
                shiftValues[i] = (float) (-g[i] * sumDy[i] / (count * s) - bi * m[i]);
            }
            vector(dGammaView).assign(filled(sumDyX, gammaGrad));
            INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, dy.shape());
            Nd4j.exec(new MulOp(grad, perChannel(filled(a, aValues)), dx));
            Nd4j.exec(new MulOp(input, perChannel(filled(b, bValues)), scratch));
            dx.addi(scratch);
            Nd4j.exec(new AddOp(dx, perChannel(filled(shift, shiftValues)), dx));
            Gradient gradient = new DefaultGradient();
            gradient.setGradientFor(BatchNormalizationParamInitializer.GAMMA, dGammaView);
            gradient.setGradientFor(BatchNormalizationParamInitializer.BETA, dBetaView);
            BACKPROPS.incrementAndGet();
            return new Pair<>(gradient, dx);
        }

        @Override
        public INDArray getMeanCache(DataType dataType) {
            return lastForwardHere ? mean : super.getMeanCache(dataType);
        }

        @Override
        public INDArray getVarCache(DataType dataType) {
            return lastForwardHere ? variance : super.getVarCache(dataType);
        }

        /** The statistics and the work arrays, (re)made outside workspaces where the input's shape changed. */
        private void prepare(INDArray input) {
            if (scratch != null && java.util.Arrays.equals(scratch.shape(), input.shape())) {
                return;
            }
            try (MemoryWorkspace none = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                scratch = Nd4j.createUninitialized(DataType.FLOAT, input.shape(), 'c');
                sums = new ChannelSums(input.shape());
                if (mean == null || mean.length() != input.size(1)) {
                    mean = channelVector(input);
                    variance = channelVector(input);
                    a = channelVector(input);
                    b = channelVector(input);
                    shift = channelVector(input);
                    sumDyX = channelVector(input);
                }
            }
        }

        private static INDArray channelVector(INDArray input) {
            return Nd4j.createUninitialized(DataType.FLOAT, input.size(1));
        }

        /** {@code target} (one of the helper's own [c] vectors) with these values, written in one call. */
        private static INDArray filled(INDArray target, float[] values) {
            target.data().setData(values);
            return target;
        }

        private static float[] dividedBy(float[] sums, long count) {
            float[] out = new float[sums.length];
            for (int i = 0; i < sums.length; i++) {
                out[i] = sums[i] / count; // float division, as ND4J's divi(count) did
            }
            return out;
        }

        private static INDArray plain(INDArray a) {
            return Shape.hasDefaultStridesForShape(a) && a.ordering() == 'c' ? a : a.dup('c');
        }

        private static INDArray vector(INDArray a) {
            return a.rank() == 1 ? a : a.reshape(a.length());
        }

        /** A [c] vector as [1, c, 1, 1], to broadcast over an [n, c, h, w] array. */
        private static INDArray perChannel(INDArray v) {
            return v.reshape(1, v.length(), 1, 1);
        }
    }

    /**
     * Per-channel sums of [n, c, h, w] arrays of one shape, with the work arrays kept. ND4J's reductions add one
     * element after another (1.4 ms for 64 x 32 x 28 x 28 on one core, over any axes), so the sums are matmuls
     * (libnd4j's, oneDNN inside). Which way round depends on the map's size: with large maps, each image-channel's
     * h x w values times a column of ones, then the images summed ([n x c, hw] x [hw, 1], then [1, n] x [n, c]: 0.20
     * ms for 64 x 32 x 28 x 28, 0.09 ms for 64 x 32 x 14 x 14); with small ones, the images summed first and then each
     * channel's row ([1, n] x [n, c x hw], then a sum over hw: 0.07 ms for 64 x 64 x 7 x 7, where the other way takes
     * 0.17 ms but 0.43 and 0.22 ms for the larger two: a one-row product runs on one thread).
     */
    static final class ChannelSums {
        static final long PIXELS_FIRST_FROM = 128; // h x w from which the per-image-channel sums go first
        private final long images;
        private final long channels;
        private final long pixels;
        private final INDArray onesImages; // [1, n]
        private final INDArray onesPixels; // [hw, 1], only where the pixels are summed first
        private final INDArray work; // [n x c, 1] or [1, c x hw]

        ChannelSums(long[] shape) {
            images = shape[0];
            channels = shape[1];
            pixels = shape[2] * shape[3];
            try (MemoryWorkspace none = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                onesImages = Nd4j.ones(DataType.FLOAT, 1, images);
                onesPixels = pixelsFirst() ? Nd4j.ones(DataType.FLOAT, pixels, 1) : null;
                work = pixelsFirst()
                        ? Nd4j.createUninitialized(DataType.FLOAT, new long[] {images * channels, 1}, 'c')
                        : Nd4j.createUninitialized(DataType.FLOAT, new long[] {1, channels * pixels}, 'c');
            }
        }

        private boolean pixelsFirst() {
            return pixels >= PIXELS_FIRST_FROM;
        }

        /** The sums of {@code x} (plain [n, c, h, w], float) into {@code out}, a [c] vector (a view is fine). */
        void into(INDArray x, INDArray out) {
            if (pixelsFirst()) {
                matmul(x.reshape('c', images * channels, pixels), onesPixels, work);
                matmul(onesImages, work.reshape('c', images, channels), out.reshape('c', 1, channels));
            } else {
                matmul(onesImages, x.reshape('c', images, channels * pixels), work);
                work.reshape('c', channels, pixels).sum(out, 1);
            }
        }

        private static void matmul(INDArray a, INDArray b, INDArray out) {
            Nd4j.exec(DynamicCustomOp.builder("matmul")
                    .addInputs(a, b)
                    .addOutputs(out)
                    .build());
        }
    }
}
