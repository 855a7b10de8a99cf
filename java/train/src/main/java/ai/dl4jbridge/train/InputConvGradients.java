package ai.dl4jbridge.train;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicLong;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Trains a convolution that reads the network's input without computing the input gradient nothing needs.
 * DL4J M2.1's oneDNN helper runs conv2d_bp, which always computes the input, weight and bias gradients; for
 * LeNet's one-channel input oneDNN pads the channel to 16 in its backward-data kernel, which took 4.2 ms of a
 * ~27 ms step on 2 cores, against 0.3 ms for the weight gradient (oneDNN's verbose log). Here the weight gradient is
 * one matrix product of the output gradient with the input's sliding windows (a strided view of the input, copied
 * once), the bias gradient a sum; the input gradient returned is zeros.
 *
 * <p>Only inside a dl4j-bridge training step (a thread-local flag set by {@link TrainingStep}, for
 * {@link Networks#fitBatch} and Spark workers alike), where DL4J drops the first layer's input gradient unused; any
 * other backprop (a user's {@code calculateGradients}, external errors) runs DL4J's helper and gets the real input
 * gradient. Padding (Same mode included) is a zeroed copy of the input. Cases left to DL4J: channels-last,
 * non-float data, windows over 64 MiB. Off with {@code -Ddl4jbridge.inputConvGradients=dl4j} or
 * {@code DL4J_BRIDGE_INPUT_CONV_GRADIENTS=dl4j}.
 */
public final class InputConvGradients {
    static final String PROPERTY = "dl4jbridge.inputConvGradients";
    static final String ENVIRONMENT = "DL4J_BRIDGE_INPUT_CONV_GRADIENTS";
    private static final long MAX_WINDOW_ELEMENTS = 1L << 24; // 64 MiB of float32 windows per minibatch
    private static final ThreadLocal<Boolean> IN_TRAINING_STEP = ThreadLocal.withInitial(() -> Boolean.FALSE);
    private static final OncePerNetwork INSTALLED = new OncePerNetwork();
    private static final AtomicLong WEIGHTS_ONLY = new AtomicLong();

    private InputConvGradients() {}

    /** False where the property or the environment says "dl4j": every layer then runs DL4J's own helper. */
    public static boolean enabled() {
        return Switches.isOn(PROPERTY, ENVIRONMENT, "dl4j");
    }

    /** How many backprops computed weight gradients only, in this JVM (tests read it). */
    public static long weightsOnlyBackprops() {
        return WEIGHTS_ONLY.get();
    }

    /** Runs one training step (DL4J's fit on a minibatch) with the input gradient left out, where the helper is
     * installed ({@link TrainingStep} installs it too). */
    public static void trainingStep(Runnable fit) {
        StepChange.Undo unmark = markStep();
        try {
            fit.run();
        } finally {
            unmark.undo();
        }
    }

    /** Installs the helper (once per network) and marks this thread as in a training step; the undo puts the mark
     * back to what it was. */
    static StepChange.Undo beginStep(Model net) {
        ensureInstalled(net);
        return markStep();
    }

    private static StepChange.Undo markStep() {
        boolean outer = IN_TRAINING_STEP.get();
        IN_TRAINING_STEP.set(Boolean.TRUE);
        return () -> IN_TRAINING_STEP.set(outer);
    }

    /** True while this thread runs a training step (tests read it). */
    static boolean inTrainingStep() {
        return IN_TRAINING_STEP.get();
    }

    /** Puts the weights-only helper on the network's convolutions fed by a network input; how many it put. */
    public static int install(Model net) {
        int installed = 0;
        for (Layer layer : inputLayers(net)) {
            if (layer.getClass() == ConvolutionLayer.class && replaceOneDnnHelper((ConvolutionLayer) layer)) {
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

    /** A Spark training hook: installs the helper on each worker's network and marks its minibatch steps. */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.INPUT_CONV_GRADIENTS);
    }

    private static Layer[] inputLayers(Model net) {
        if (net instanceof MultiLayerNetwork) {
            Layer[] layers = ((MultiLayerNetwork) net).getLayers();
            return layers.length == 0 ? layers : new Layer[] {layers[0]};
        }
        if (!(net instanceof ComputationGraph)) {
            return new Layer[0];
        }
        GraphVertex[] vertices = ((ComputationGraph) net).getVertices();
        return java.util.Arrays.stream(vertices)
                .filter(v -> v.hasLayer() && readsOnlyNetworkInputs(v, vertices))
                .map(GraphVertex::getLayer)
                .toArray(Layer[]::new);
    }

    private static boolean readsOnlyNetworkInputs(GraphVertex vertex, GraphVertex[] vertices) {
        VertexIndices[] inputs = vertex.getInputVertices();
        if (inputs == null || inputs.length == 0) {
            return false;
        }
        for (VertexIndices input : inputs) {
            if (!vertices[input.getVertexIndex()].isInputVertex()) {
                return false;
            }
        }
        return true;
    }

    private static boolean replaceOneDnnHelper(ConvolutionLayer layer) {
        try {
            Field field = ConvolutionLayer.class.getDeclaredField("helper");
            field.setAccessible(true);
            Object current = field.get(layer);
            if (current == null || current.getClass() != MKLDNNConvHelper.class) {
                return false; // no oneDNN helper (generic build, NHWC layer, already ours): DL4J's code runs
            }
            field.set(
                    layer,
                    new WeightsOnlyHelper(layer.getParam(ConvolutionParamInitializer.WEIGHT_KEY)
                            .dataType()));
            return true;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot set the convolution helper of " + layer.getClass(), e);
        }
    }

    /** DL4J's oneDNN helper, but for a training step's backprop where it applies: weight and bias gradients only. */
    static final class WeightsOnlyHelper extends MKLDNNConvHelper {
        // Kept across steps, outside DL4J's workspaces, for the layer's life (at most 64 MiB of windows): no
        // allocation per step (LeNet's windows are 3.7 MiB, and fresh memory is slow to touch on small VMs).
        private INDArray columns;
        private INDArray deltaRows;
        private INDArray weightGradT;
        private INDArray padded;

        WeightsOnlyHelper(DataType dataType) {
            super(dataType);
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(
                INDArray input,
                INDArray weights,
                INDArray bias,
                INDArray delta,
                int[] kernel,
                int[] strides,
                int[] pad,
                INDArray biasGradView,
                INDArray weightGradView,
                IActivation afn,
                org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo,
                org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
                ConvolutionMode convolutionMode,
                int[] dilation,
                CNN2DFormat format,
                LayerWorkspaceMgr workspaceMgr) {
            INDArray weightGrad2d = applies(input, delta, format, kernel)
                    ? Shape.newShapeNoCopy(
                            weightGradView, new long[] {delta.size(1), input.size(1) * kernel[0] * kernel[1]}, false)
                    : null;
            if (weightGrad2d == null) {
                return super.backpropGradient(
                        input,
                        weights,
                        bias,
                        delta,
                        kernel,
                        strides,
                        pad,
                        biasGradView,
                        weightGradView,
                        afn,
                        mode,
                        bwdFilterAlgo,
                        bwdDataAlgo,
                        convolutionMode,
                        dilation,
                        format,
                        workspaceMgr);
            }
            weightGrad2d.assign(weightGradients(
                    paddedInput(input, delta, kernel, strides, pad, dilation), delta, kernel, strides, dilation));
            Gradient gradient = new DefaultGradient();
            if (biasGradView != null) {
                INDArray deltas = delta.reshape('c', delta.size(0), delta.size(1), delta.size(2) * delta.size(3));
                // sums along the contiguous axis first
                biasGradView.assign(deltas.sum(2).sum(0).reshape(biasGradView.shape()));
                gradient.gradientForVariable().put(ConvolutionParamInitializer.BIAS_KEY, biasGradView);
            }
            gradient.gradientForVariable().put(ConvolutionParamInitializer.WEIGHT_KEY, weightGradView);
            WEIGHTS_ONLY.incrementAndGet();
            INDArray unused = workspaceMgr.create(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
            return new Pair<>(gradient, unused);
        }

        private static boolean applies(INDArray input, INDArray delta, CNN2DFormat format, int[] kernel) {
            if (!IN_TRAINING_STEP.get() || !enabled() || format != CNN2DFormat.NCHW) {
                return false;
            }
            if (input.dataType() != DataType.FLOAT || delta.dataType() != DataType.FLOAT) {
                return false;
            }
            long windows = input.size(0) * input.size(1) * kernel[0] * kernel[1] * delta.size(2) * delta.size(3);
            return windows <= MAX_WINDOW_ELEMENTS;
        }

        /**
         * The input as the windows read it: itself where it is a plain array needing no padding, else copied into
         * a zeroed [n, c, H', W'] array with the top and left padding DL4J computed (Same mode included) and as much
         * bottom and right padding as the last window reaches.
         */
        private INDArray paddedInput(
                INDArray input, INDArray delta, int[] kernel, int[] strides, int[] pad, int[] dilation) {
            long h = input.size(2), w = input.size(3);
            long hp = Math.max(h + pad[0], (delta.size(2) - 1) * strides[0] + (kernel[0] - 1L) * dilation[0] + 1);
            long wp = Math.max(w + pad[1], (delta.size(3) - 1) * strides[1] + (kernel[1] - 1L) * dilation[1] + 1);
            if (pad[0] == 0 && pad[1] == 0 && hp == h && wp == w && hasPlainStrides(input)) {
                return input;
            }
            padded = reused(padded, new long[] {input.size(0), input.size(1), hp, wp});
            padded.assign(0.0);
            padded.get(
                            NDArrayIndex.all(),
                            NDArrayIndex.all(),
                            NDArrayIndex.interval(pad[0], pad[0] + h),
                            NDArrayIndex.interval(pad[1], pad[1] + w))
                    .assign(input);
            return padded;
        }

        /**
         * [outChannels, inChannels*kH*kW]: the weight gradient, one matrix product of the output gradient as [oc, n x
         * oH x oW] with every output position's input window as [c x kH x kW, n x oH x oW] (both copied into arrays
         * kept across steps). One product over the whole minibatch instead of libnd4j's batched matmul of one per
         * image (64 products of 32 x 784 by 784 x 9 for resnet_small's stem, 3% of its training step in JFR's
         * samples): the stem's backprop went from 2.6-2.9 to 1.8 ms (BENCHMARKS.md, training-resnet-layers).
         */
        private INDArray weightGradients(INDArray input, INDArray delta, int[] kernel, int[] strides, int[] dilation) {
            long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
            long oc = delta.size(1), oh = delta.size(2), ow = delta.size(3), p = oh * ow;
            long kh = kernel[0], kw = kernel[1], k = c * kh * kw;
            // The windows, [c, kH, kW, n, oH, oW], copied from strides over the input's own buffer, one channel at a
            // time: ND4J's copy loops are fast up to rank 5 and go element by element above (rank 6: 4.5 ms against
            // 0.2 ms for LeNet's 64 x 5 x 5 x 24 x 24 windows).
            columns = reused(columns, new long[] {k, n * p});
            for (long ci = 0; ci < c; ci++) {
                INDArray windows = Nd4j.create(
                        input.data(),
                        new long[] {kh, kw, n, oh, ow},
                        new long[] {dilation[0] * w, dilation[1], c * h * w, strides[0] * w, strides[1]},
                        input.offset() + ci * h * w,
                        'c');
                INDArray into = Nd4j.create(
                        columns.data(),
                        new long[] {kh, kw, n, oh, ow},
                        new long[] {kw * n * p, n * p, p, ow, 1},
                        columns.offset() + ci * kh * kw * n * p,
                        'c');
                into.assign(windows);
            }
            deltaRows = reused(deltaRows, new long[] {oc, n, p});
            deltaRows.assign(delta.reshape('c', n, oc, p).permute(1, 0, 2));
            // [k, oc] = windows x output gradient^T: libnd4j's matmul, 0.25 ms for the stem's 9 x 50176 by 50176 x 32,
            // against 1.0 ms for OpenBLAS (Nd4j.gemm) either way round or libnd4j's [oc, k] product
            weightGradT = reused(weightGradT, new long[] {k, oc});
            Nd4j.exec(DynamicCustomOp.builder("matmul")
                    .addInputs(columns, deltaRows.reshape('c', oc, n * p))
                    .addOutputs(weightGradT)
                    .addIntegerArguments(0, 1)
                    .build());
            return weightGradT.transpose();
        }

        private static INDArray reused(INDArray kept, long[] shape) {
            if (kept != null && java.util.Arrays.equals(kept.shape(), shape)) {
                return kept;
            }
            try (MemoryWorkspace none = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                return Nd4j.createUninitialized(DataType.FLOAT, shape, 'c');
            }
        }

        private static boolean hasPlainStrides(INDArray a) {
            long expected = 1;
            for (int d = a.rank() - 1; d >= 0; d--) {
                if (a.size(d) > 1 && a.stride(d) != expected) {
                    return false;
                }
                expected *= a.size(d);
            }
            return true;
        }
    }
}
