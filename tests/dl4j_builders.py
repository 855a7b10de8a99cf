"""DL4J's own Java builders, called through JPype: the networks users build in Java, not with bridge.nets.

g = GraphSpec(seed=1).input("in", conv_input(12, 12, 3))
g.layer("c1", conv(4, 3, mode="Same"), "in").vertex("sum", add(), "c1", "in")...
net = g.output("out").build()        # an initialised ComputationGraph (JPype proxy)
"""

from __future__ import annotations

import jpype
import numpy as np

import bridge
from bridge.jvm import jclass

C = "org.deeplearning4j.nn.conf."
L = C + "layers."
V = C + "graph."


def ints(*values):
    return jpype.JArray(jpype.JInt)(list(values))


def input_type():
    return jclass(C + "inputs.InputType")


def conv_input(h: int, w: int, c: int, nhwc: bool = False):
    if nhwc:
        return input_type().convolutional(h, w, c, jclass(C + "CNN2DFormat").NHWC)
    return input_type().convolutional(h, w, c)


def flat_image_input(h: int, w: int, c: int):
    return input_type().convolutionalFlat(h, w, c)


def feed_forward_input(n: int):
    return input_type().feedForward(n)


def activation(name: str):
    return jclass("org.nd4j.linalg.activations.Activation").valueOf(name.upper())


def mode(name: str):
    return jclass(C + "ConvolutionMode").valueOf(name)


def conv(
    n_out: int,
    k: int = 3,
    stride: int = 1,
    padding: int = 0,
    conv_mode: str = "Truncate",
    act: str = "relu",
    nhwc: bool = False,
    bias: bool = True,
):
    b = (
        jclass(L + "ConvolutionLayer$Builder")(ints(k, k), ints(stride, stride), ints(padding, padding))
        .nOut(n_out)
        .convolutionMode(mode(conv_mode))
        .activation(activation(act))
        .hasBias(bias)
    )
    if nhwc:
        b = b.dataFormat(jclass(C + "CNN2DFormat").NHWC)
    return b.build()


def batch_norm():
    return jclass(L + "BatchNormalization$Builder")().build()


def max_pool(k: int = 2, stride: int = 2, conv_mode: str = "Truncate"):
    pooling = jclass(L + "SubsamplingLayer$PoolingType").MAX
    return (
        jclass(L + "SubsamplingLayer$Builder")(pooling, ints(k, k), ints(stride, stride))
        .convolutionMode(mode(conv_mode))
        .build()
    )


def global_avg_pool():
    return jclass(L + "GlobalPoolingLayer$Builder")(jclass(L + "PoolingType").AVG).build()


def dense(n_out: int, act: str = "relu"):
    return jclass(L + "DenseLayer$Builder")().nOut(n_out).activation(activation(act)).build()


def output(n_out: int, act: str = "softmax", loss: str = "MCXENT"):
    loss_fn = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").valueOf(loss)
    return jclass(L + "OutputLayer$Builder")(loss_fn).nOut(n_out).activation(activation(act)).build()


def add():
    return jclass(V + "ElementWiseVertex")(jclass(V + "ElementWiseVertex$Op").Add)


def element_wise(op: str):
    return jclass(V + "ElementWiseVertex")(jclass(V + "ElementWiseVertex$Op").valueOf(op))


def concat():
    return jclass(V + "MergeVertex")()


class GraphSpec:
    """A thin chain over DL4J's GraphBuilder that remembers input types in order."""

    def __init__(self, seed: int = 1, updater=None):
        builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed)
        if updater is not None:
            builder = builder.updater(updater)
        self.builder = builder.graphBuilder()
        self.types = []

    def input(self, name: str, kind) -> GraphSpec:
        self.builder = self.builder.addInputs(name)
        self.types.append(kind)
        return self

    def layer(self, name: str, layer_conf, *inputs: str) -> GraphSpec:
        self.builder = self.builder.addLayer(name, layer_conf, *inputs)
        return self

    def vertex(self, name: str, vertex_conf, *inputs: str) -> GraphSpec:
        self.builder = self.builder.addVertex(name, vertex_conf, *inputs)
        return self

    def build(self, *outputs: str):
        conf = self.builder.setOutputs(*outputs).setInputTypes(*self.types).build()
        net = jclass("org.deeplearning4j.nn.graph.ComputationGraph")(conf)
        net.init()
        return net


def sequential(layers, kind, seed: int = 1):
    """A MultiLayerNetwork from DL4J layer configurations and an InputType."""
    # list() with no argument is the Layer... varargs overload, which JPype calls with an empty array.
    builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed).list(jpype.JArray(jclass(L + "Layer"))(layers))
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(builder.setInputType(kind).build())
    net.init()
    return net


# ---- 2D CNN layer builders (engineer D: tests/test_onnx_conv_layers.py) ----
def cnn_format(nhwc: bool):
    return jclass(C + "CNN2DFormat").NHWC if nhwc else jclass(C + "CNN2DFormat").NCHW


def _conv_options(b, stride: int, dilation: int, conv_mode: str, act: str, nhwc: bool, bias: bool, padding: int = 0):
    return (
        b.stride(ints(stride, stride))
        .dilation(ints(dilation, dilation))
        .padding(ints(padding, padding))
        .convolutionMode(mode(conv_mode))
        .activation(activation(act))
        .hasBias(bias)
        .dataFormat(cnn_format(nhwc))
    )


def separable_conv(
    n_out: int,
    k: int = 3,
    stride: int = 1,
    dilation: int = 1,
    conv_mode: str = "Truncate",
    multiplier: int = 1,
    act: str = "relu",
    nhwc: bool = False,
    bias: bool = True,
    padding: int = 0,
):
    b = jclass(L + "SeparableConvolution2D$Builder")(ints(k, k)).nOut(n_out).depthMultiplier(multiplier)
    return _conv_options(b, stride, dilation, conv_mode, act, nhwc, bias, padding).build()


def depthwise_conv(
    k: int = 3,
    stride: int = 1,
    dilation: int = 1,
    conv_mode: str = "Truncate",
    multiplier: int = 1,
    act: str = "relu",
    nhwc: bool = False,
    bias: bool = True,
    padding: int = 0,
):
    b = jclass(L + "DepthwiseConvolution2D$Builder")(ints(k, k)).depthMultiplier(multiplier)
    return _conv_options(b, stride, dilation, conv_mode, act, nhwc, bias, padding).build()


def deconv(
    n_out: int,
    k: int = 3,
    stride: int = 1,
    dilation: int = 1,
    conv_mode: str = "Truncate",
    act: str = "relu",
    nhwc: bool = False,
    bias: bool = True,
    padding: int = 0,
):
    b = jclass(L + "Deconvolution2D$Builder")(ints(k, k)).nOut(n_out)
    return _conv_options(b, stride, dilation, conv_mode, act, nhwc, bias, padding).build()


def upsampling(sh: int, sw: int, nhwc: bool = False):
    return jclass(L + "Upsampling2D$Builder")().size(ints(sh, sw)).dataFormat(cnn_format(nhwc)).build()


def zero_padding(top: int, bottom: int, left: int, right: int, nhwc: bool = False):
    return jclass(L + "ZeroPaddingLayer$Builder")(top, bottom, left, right).dataFormat(cnn_format(nhwc)).build()


def cropping(top: int, bottom: int, left: int, right: int, nhwc: bool = False):
    return jclass(L + "convolutional.Cropping2D$Builder")(top, bottom, left, right).dataFormat(cnn_format(nhwc)).build()


def space_to_depth(block: int, nhwc: bool = False):
    fmt = jclass(L + "SpaceToDepthLayer$DataFormat")
    return jclass(L + "SpaceToDepthLayer$Builder")(block, fmt.NHWC if nhwc else fmt.NCHW).build()


def pooling(
    kind: str,
    k: int = 2,
    stride: int = 2,
    conv_mode: str = "Truncate",
    pnorm: int = 2,
    nhwc: bool = False,
    padding: int = 0,
    dilation: int = 1,
):
    b = jclass(L + "SubsamplingLayer$Builder")(
        jclass(L + "SubsamplingLayer$PoolingType").valueOf(kind),
        ints(k, k),
        ints(stride, stride),
        ints(padding, padding),
    )
    b = b.convolutionMode(mode(conv_mode)).dataFormat(cnn_format(nhwc)).dilation(ints(dilation, dilation))
    return (b.pnorm(pnorm) if kind == "PNORM" else b).build()


def global_pooling(kind: str, pnorm: int = 2, collapse: bool = True):
    b = jclass(L + "GlobalPoolingLayer$Builder")(jclass(L + "PoolingType").valueOf(kind)).collapseDimensions(collapse)
    return (b.pnorm(pnorm) if kind == "PNORM" else b).build()


def lrn(n: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, nhwc: bool = False):
    b = jclass(L + "LocalResponseNormalization$Builder")().n(float(n)).k(k).alpha(alpha).beta(beta)
    return b.dataFormat(cnn_format(nhwc)).build()


def batch_norm_in(nhwc: bool = False):
    return jclass(L + "BatchNormalization$Builder")().dataFormat(cnn_format(nhwc)).build()


# ---- Graph vertices, frozen layers, transfer learning (engineer C: tests/test_onnx_vertices.py) ----
def output_in(n_in: int, n_out: int, act: str = "softmax", loss: str = "MCXENT"):
    """An OutputLayer with nIn set (TransferLearning's addLayer does not infer it)."""
    loss_fn = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").valueOf(loss)
    return jclass(L + "OutputLayer$Builder")(loss_fn).nIn(n_in).nOut(n_out).activation(activation(act)).build()


def subset(start: int, end: int):
    return jclass(V + "SubsetVertex")(start, end)


def scale(factor: float):
    return jclass(V + "ScaleVertex")(factor)


def shift(amount: float):
    return jclass(V + "ShiftVertex")(amount)


def l2_normalize(dims=None, eps: float = 1e-8):
    if dims is None and eps == 1e-8:
        return jclass(V + "L2NormalizeVertex")()
    return jclass(V + "L2NormalizeVertex")(ints(*(dims or ())), eps)


def l2_distance():
    return jclass(V + "L2Vertex")()


def pool_helper():
    return jclass(V + "PoolHelperVertex")()


def reshape(*shape: int, order: str = "c"):
    return jclass(V + "ReshapeVertex")(jpype.JChar(order), ints(*shape), None)


def stack():
    return jclass(V + "StackVertex")()


def unstack(start: int, size: int):
    return jclass(V + "UnstackVertex")(start, size)


def cnn_to_ff(h: int, w: int, c: int):
    return jclass(C + "preprocessor.CnnToFeedForwardPreProcessor")(h, w, c)


def ff_to_cnn(h: int, w: int, c: int):
    return jclass(C + "preprocessor.FeedForwardToCnnPreProcessor")(h, w, c)


def preprocessor_vertex(pre):
    return jclass(V + "PreprocessorVertex")(pre)


def frozen_vertex(inner):
    return jclass(V + "FrozenVertex")(inner)


def frozen(layer_conf, backprop: bool = False):
    """FrozenLayer (or FrozenLayerWithBackprop) around a layer configuration."""
    if backprop:
        return jclass(L + "misc.FrozenLayerWithBackprop")(layer_conf)
    return jclass(L + "misc.FrozenLayer$Builder")().layer(layer_conf).build()


def minibatches(shape, classes: int, count: int, seed: int):
    """`count` (features, one-hot labels) pairs of Gaussian images, as INDArray[] pairs for Networks.fitBatch."""
    rng = np.random.default_rng(seed)
    arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))
    for _ in range(count):
        features = rng.normal(0, 1, shape).astype(np.float32)
        labels = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, shape[0])]
        yield arrays([bridge.to_indarray(features)]), arrays([bridge.to_indarray(labels)])


def train_with_and_without(build, batches, switch, counter):
    """Trains two networks from `build` on the same minibatches (`batches()` yields Networks.fitBatch's arrays) with
    dl4j-bridge's training step: the first with a step change on, the second after `switch("dl4j")` turned it back.
    Returns the largest parameter difference and how often `counter()` (the change's own count) rose for each."""
    fit_batch = jclass("ai.dl4jbridge.train.Networks").fitBatch
    runs = []
    for turned_back in (False, True):
        if turned_back:
            switch("dl4j")
        net, before = build(), counter()
        for features, labels in batches():
            fit_batch(net, features, labels)
        runs.append((net, counter() - before))
    (ours, ran), (theirs, ran_turned_back) = runs
    return float(np.abs(bridge.to_numpy(ours.params()) - bridge.to_numpy(theirs.params())).max()), ran, ran_turned_back
