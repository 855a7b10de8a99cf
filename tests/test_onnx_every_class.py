"""No other exception may escape an export: every DL4J layer and vertex class, enumerated from the jar.

Every concrete layer configuration class under org.deeplearning4j.nn.conf.layers (and its subpackages) and
every vertex class under org.deeplearning4j.nn.conf.graph in DL4J 1.0.0-M2.1's jar is either
- put in a small 2D CNN or MLP built with DL4J's own builders (sensible default settings), with its outcome
  pinned in EXPECTED: it exports with parity (DL4J's output() vs ONNX Runtime, two batch sizes, the parity rule), or the
  scan refuses it with an UnsupportedLayerError naming the class. A converter removed from the registry (or one
  added for a refused class) fails here until EXPECTED says so; or
- listed in NOT_APPLICABLE with the reason it cannot sit in a 2D CNN or an MLP (recurrent, 1D or 3D
  convolutions, ...); a few of those must still be refused with UnsupportedLayerError.
The enumeration runs at test time, so a class added to DL4J (or a jar swapped in) cannot slip through.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    GraphSpec,
    activation,
    batch_norm_in,
    cnn_format,
    cnn_to_ff,
    concat,
    conv,
    conv_input,
    cropping,
    deconv,
    dense,
    depthwise_conv,
    element_wise,
    feed_forward_input,
    frozen,
    frozen_vertex,
    global_pooling,
    input_type,
    ints,
    l2_distance,
    l2_normalize,
    lrn,
    output,
    pool_helper,
    pooling,
    preprocessor_vertex,
    reshape,
    scale,
    separable_conv,
    sequential,
    shift,
    space_to_depth,
    stack,
    subset,
    unstack,
    upsampling,
    zero_padding,
)
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.errors import UnsupportedLayerError
from bridge.jvm import classpath, jclass
from bridge.onnx.registry import LAYERS, VERTICES

ROWS = 4
LAYER_PACKAGE = "org.deeplearning4j.nn.conf.layers."
VERTEX_PACKAGE = "org.deeplearning4j.nn.conf.graph."
# LayerVertex has no converter of its own: the walk unwraps it into its layer (and preprocessor) nodes.
WALKED = {VERTEX_PACKAGE + "LayerVertex"}


# ---- the enumeration ----
def dl4j_nn_jar() -> Path:
    """The deeplearning4j-nn jar on bridge's classpath (java/train/target/classpath.txt)."""
    jars = [Path(e) for e in classpath() if Path(e).name.startswith("deeplearning4j-nn-") and e.endswith(".jar")]
    assert len(jars) == 1, f"expected one deeplearning4j-nn jar on the classpath, found {jars}"
    return jars[0]


def enumerate_classes() -> dict[str, str]:
    """Concrete (non-abstract, non-interface, top-level) classes of the two packages and their subpackages:
    class name -> "layer" (a conf.layers.Layer) or "vertex" (a conf.graph.GraphVertex). Builders and other
    inner classes ('$') and the packages' helpers (InputTypeUtil, reconstruction distributions, ...) are left out."""
    modifier = jclass("java.lang.reflect.Modifier")
    loader = jclass("java.lang.ClassLoader").getSystemClassLoader()
    kinds = {"layer": jclass(LAYER_PACKAGE + "Layer").class_, "vertex": jclass(VERTEX_PACKAGE + "GraphVertex").class_}
    found = {}
    with zipfile.ZipFile(dl4j_nn_jar()) as jar:
        for entry in jar.namelist():
            name = entry[: -len(".class")].replace("/", ".")
            if not entry.endswith(".class") or "$" in name or not name.startswith((LAYER_PACKAGE, VERTEX_PACKAGE)):
                continue
            cls = jclass("java.lang.Class").forName(name, False, loader)
            if cls.isInterface() or modifier.isAbstract(cls.getModifiers()):
                continue
            kind = next((k for k, base in kinds.items() if base.isAssignableFrom(cls)), None)
            if kind is not None:
                found[name] = kind
    return found


def has_converter(java_class: str) -> bool:
    return java_class in LAYERS or java_class in VERTICES or java_class in WALKED


# ---- the classes that cannot sit in a 2D CNN or an MLP ----
_RNN = "recurrent: takes or gives sequences [N, features, time], which a 2D CNN / MLP does not carry"
_1D = "1D convolution family: takes sequences [N, channels, length] (InputType.recurrent)"
_3D = "3D convolution family: takes volumes [N, C, D, H, W] (InputType.convolutional3D)"
NOT_APPLICABLE = {
    **{
        LAYER_PACKAGE + name: _1D
        for name in (
            "Convolution1D",
            "Convolution1DLayer",
            "Pooling1D",
            "Subsampling1DLayer",
            "Upsampling1D",
            "ZeroPadding1DLayer",
            "convolutional.Cropping1D",
            "LocallyConnected1D",
        )
    },
    **{
        LAYER_PACKAGE + name: _3D
        for name in (
            "Convolution3D",
            "Deconvolution3D",
            "Subsampling3DLayer",
            "Upsampling3D",
            "ZeroPadding3DLayer",
            "convolutional.Cropping3D",
            "Cnn3DLossLayer",
        )
    },
    **{
        LAYER_PACKAGE + name: _RNN
        for name in (
            "LSTM",
            "GravesLSTM",
            "GravesBidirectionalLSTM",
            "recurrent.SimpleRnn",
            "recurrent.Bidirectional",
            "recurrent.LastTimeStep",
            "recurrent.TimeDistributed",
            "RnnOutputLayer",
            "RnnLossLayer",
        )
    },
    LAYER_PACKAGE + "util.MaskZeroLayer": _RNN + " (it wraps a recurrent layer and masks zero time steps)",
    LAYER_PACKAGE + "SelfAttentionLayer": _RNN + " (attention over time steps)",
    LAYER_PACKAGE + "LearnedSelfAttentionLayer": _RNN + " (attention over time steps)",
    LAYER_PACKAGE + "RecurrentAttentionLayer": _RNN + " (attention over time steps)",
    LAYER_PACKAGE + "EmbeddingSequenceLayer": _RNN + " (it gives one embedding per time step)",
    LAYER_PACKAGE + "misc.RepeatVector": _RNN + " (it repeats a feature vector into a sequence)",
    VERTEX_PACKAGE + "AttentionVertex": _RNN + " (dot-product attention over time steps)",
    **{
        VERTEX_PACKAGE + "rnn." + name: _RNN
        for name in ("LastTimeStepVertex", "DuplicateToTimeSeriesVertex", "ReverseTimeSeriesVertex")
    },
}


# ---- building blocks ----
def _rows(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (ROWS, *shape)).astype(np.float32)


def _image_shape(h: int, w: int, c: int, nhwc: bool) -> tuple[int, int, int]:
    return (h, w, c) if nhwc else (c, h, w)


def loss_function(name: str = "MCXENT"):
    return jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").valueOf(name)


def _no_arg_layer(name: str, **settings):
    """A layer from its public no-argument constructor (classes without a Builder), set through its setters."""
    layer_conf = jclass(LAYER_PACKAGE + name)()
    for setter, value in settings.items():
        getattr(layer_conf, setter)(value)
    return layer_conf


def _builder(name: str, *args):
    return jclass(f"{LAYER_PACKAGE}{name}$Builder")(*args)


def _prelu(*input_shape: int):
    """PReLULayer: DL4J 1.0.0-M2.1 does not take its input shape from the InputType (init() fails on a null
    inputShape), so it is given: the per-example shape of its input."""
    return _builder("PReLULayer").inputShape(jpype.JArray(jpype.JLong)(list(input_shape))).build()


@dataclass(frozen=True)
class Case:
    classes: tuple[str, ...]  # the DL4J classes (full names) the case holds
    build: Callable[[], tuple]  # -> (network, inputs, input_shape for to_onnx)


def _mlp(layers: Callable[[], list], n_in: int = 6, seed: int = 1, inputs=None):
    def build():
        net = sequential(layers(), feed_forward_input(n_in), seed=seed)
        randomize(net, seed)
        return net, _rows((n_in,), seed) if inputs is None else inputs, None

    return build


def _cnn(layers: Callable[[bool], list], h: int, w: int, c: int, nhwc: bool = False, seed: int = 2):
    def build():
        net = sequential(layers(nhwc), conv_input(h, w, c, nhwc), seed=seed)
        randomize(net, seed)
        shape = _image_shape(h, w, c, nhwc)
        return net, _rows(shape, seed), shape

    return build


def _graph(make: Callable[[GraphSpec], tuple], seed: int):
    """make(spec) adds the vertices and returns (output names, inputs, input_shape)."""

    def build():
        spec = GraphSpec(seed=seed)
        outputs, x, input_shape = make(spec)
        net = spec.build(*outputs)
        randomize(net, seed)
        return net, x, input_shape

    return build


def _layers(*names: str) -> tuple[str, ...]:
    return tuple(LAYER_PACKAGE + n for n in names)


def _vertices(*names: str) -> tuple[str, ...]:
    return tuple(VERTEX_PACKAGE + n for n in names)


# ---- MLP cases ----
def _embedding_inputs() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 10, (ROWS, 1)).astype(np.float32)


def _vae():
    b = jclass(LAYER_PACKAGE + "variational.VariationalAutoencoder$Builder")().nOut(3)
    return b.encoderLayerSizes(ints(5)).decoderLayerSizes(ints(5)).activation(activation("tanh")).build()


MLP_CASES = {
    "dense-output": Case(_layers("DenseLayer", "OutputLayer"), _mlp(lambda: [dense(5, "tanh"), output(3)])),
    "activation-layer": Case(
        _layers("ActivationLayer"), _mlp(lambda: [dense(5, "identity"), _activation_layer("elu"), output(3)])
    ),
    "dropout-layer": Case(
        _layers("DropoutLayer"), _mlp(lambda: [dense(5), _builder("DropoutLayer", 0.5).build(), output(3)])
    ),
    "batch-norm-features": Case(_layers("BatchNormalization"), _mlp(lambda: [dense(5), batch_norm_in(), output(3)])),
    "autoencoder": Case(
        _layers("AutoEncoder"),
        _mlp(lambda: [_builder("AutoEncoder").nOut(4).activation(activation("sigmoid")).build(), output(3)]),
    ),
    "center-loss-output": Case(
        _layers("CenterLossOutputLayer"),
        _mlp(
            lambda: [
                dense(5),
                _builder("CenterLossOutputLayer", loss_function()).nOut(3).activation(activation("softmax")).build(),
            ]
        ),
    ),
    "loss-layer": Case(
        _layers("LossLayer"),
        _mlp(
            lambda: [
                dense(4, "identity"),
                _builder("LossLayer", loss_function()).activation(activation("softmax")).build(),
            ]
        ),
    ),
    "prelu-features": Case(_layers("PReLULayer"), _mlp(lambda: [dense(5, "identity"), _prelu(5), output(3)])),
    "element-wise-multiplication": Case(
        _layers("misc.ElementWiseMultiplicationLayer"),
        _mlp(
            lambda: [
                dense(5),
                _builder("misc.ElementWiseMultiplicationLayer").nIn(5).nOut(5).activation(activation("tanh")).build(),
                output(3),
            ]
        ),
    ),
    "frozen-dense": Case(_layers("misc.FrozenLayer"), _mlp(lambda: [frozen(dense(5, "tanh")), output(3)])),
    "frozen-with-backprop-dense": Case(
        _layers("misc.FrozenLayerWithBackprop"), _mlp(lambda: [frozen(dense(5, "sigmoid"), backprop=True), output(3)])
    ),
    "mask-layer": Case(_layers("util.MaskLayer"), _mlp(lambda: [dense(5), _no_arg_layer("util.MaskLayer"), output(3)])),
    "embedding": Case(
        _layers("EmbeddingLayer"),
        _mlp(
            lambda: [_builder("EmbeddingLayer").nIn(10).nOut(4).build(), output(3)], n_in=1, inputs=_embedding_inputs()
        ),
    ),
    "variational-autoencoder": Case(_layers("variational.VariationalAutoencoder"), _mlp(lambda: [_vae(), output(3)])),
}


# ---- 2D CNN cases (each in NCHW and NHWC where the class has a layout setting) ----
def _conv2d_alias(nhwc: bool):
    """Convolution2D: a subclass of ConvolutionLayer without a Builder of its own."""
    return _no_arg_layer(
        "Convolution2D",
        setKernelSize=ints(3, 3),
        setStride=ints(1, 1),
        setPadding=ints(0, 0),
        setDilation=ints(1, 1),
        setNOut=4,
        setCnn2dDataFormat=cnn_format(nhwc),
        setActivationFn=activation("relu").getActivationFunction(),
    )


def _pooling2d_alias(nhwc: bool):
    """Pooling2D: a subclass of SubsamplingLayer without a Builder of its own."""
    return _no_arg_layer(
        "Pooling2D",
        setPoolingType=jclass(LAYER_PACKAGE + "PoolingType").MAX,
        setKernelSize=ints(2, 2),
        setStride=ints(2, 2),
        setPadding=ints(0, 0),
        setDilation=ints(1, 1),
        setCnn2dDataFormat=cnn_format(nhwc),
    )


def _cnn_loss(nhwc: bool):
    fmt = cnn_format(nhwc)
    return _builder("CnnLossLayer", loss_function()).activation(activation("softmax")).format(fmt).build()


def _yolo2(nhwc: bool):
    priors = bridge.to_indarray(np.asarray([[1.0, 1.5], [2.0, 0.5]], np.float32))
    layer_conf = _builder("objdetect.Yolo2OutputLayer").boundingBoxPriors(priors).build()
    if nhwc:  # the Builder has no format setter in 1.0.0-M2.1; the configuration does
        layer_conf.setFormat(cnn_format(True))
    return layer_conf


def _locally_connected(nhwc: bool):
    b = _builder("LocallyConnected2D").nOut(3).kernelSize(ints(2, 2)).activation(activation("tanh"))
    return b.dataFormat(cnn_format(nhwc)).build()


def _capsules():
    primary = _builder("PrimaryCapsules", 4, 2, ints(3, 3), ints(2, 2)).build()
    return [
        primary,
        _builder("CapsuleLayer", 3, 4, 2).build(),
        _builder("CapsuleStrengthLayer").build(),
        _builder("LossLayer", loss_function()).activation(activation("softmax")).build(),
    ]


def _activation_layer(act: str):
    return _builder("ActivationLayer").activation(activation(act)).build()


def _space_to_batch():
    return _builder("SpaceToBatchLayer", ints(2, 2)).build()


def _global(nhwc: bool):
    return global_pooling("AVG")


# id -> (classes, layers for a layout, height, width, channels, layouts)
BOTH, NCHW_ONLY = (False, True), (False,)
CNN_LAYERS = {
    "convolution": (("ConvolutionLayer",), lambda f: [conv(4, 3, conv_mode="Same", nhwc=f)], 6, 7, 3, BOTH),
    "convolution2d-alias": (("Convolution2D",), lambda f: [_conv2d_alias(f)], 6, 6, 2, BOTH),
    "subsampling": (("SubsamplingLayer",), lambda f: [pooling("MAX", 2, 2, nhwc=f)], 6, 6, 3, BOTH),
    "pooling2d-alias": (("Pooling2D",), lambda f: [_pooling2d_alias(f)], 6, 6, 2, BOTH),
    "batch-norm": (("BatchNormalization",), lambda f: [conv(3, 3, nhwc=f), batch_norm_in(f)], 6, 6, 2, BOTH),
    "global-pooling-dense": (
        ("GlobalPoolingLayer",),
        lambda f: [conv(4, 3, nhwc=f), _global(f), dense(5), output(3)],
        6,
        6,
        2,
        BOTH,
    ),
    "cnn-to-dense": (("OutputLayer",), lambda f: [conv(3, 3, nhwc=f), output(3)], 5, 6, 2, BOTH),
    "lrn": (("LocalResponseNormalization",), lambda f: [lrn(nhwc=f)], 4, 4, 6, BOTH),
    "separable": (("SeparableConvolution2D",), lambda f: [separable_conv(4, nhwc=f)], 6, 6, 3, BOTH),
    "depthwise": (("DepthwiseConvolution2D",), lambda f: [depthwise_conv(multiplier=2, nhwc=f)], 6, 6, 3, BOTH),
    "deconvolution": (("Deconvolution2D",), lambda f: [deconv(3, stride=2, nhwc=f)], 4, 5, 2, BOTH),
    "upsampling": (("Upsampling2D",), lambda f: [upsampling(2, 2, f)], 3, 4, 2, BOTH),
    "zero-padding": (("ZeroPaddingLayer",), lambda f: [zero_padding(1, 0, 2, 1, f)], 3, 4, 2, BOTH),
    "cropping": (("convolutional.Cropping2D",), lambda f: [cropping(1, 0, 1, 2, f)], 5, 6, 2, BOTH),
    "space-to-depth": (("SpaceToDepthLayer",), lambda f: [space_to_depth(2, f)], 4, 6, 2, BOTH),
    "space-to-batch": (("SpaceToBatchLayer",), lambda f: [_space_to_batch()], 4, 4, 2, NCHW_ONLY),
    "prelu-map": (
        ("PReLULayer",),
        lambda f: [conv(3, 3, act="identity", nhwc=f), _prelu(*_image_shape(3, 3, 3, f))],
        5,
        5,
        2,
        BOTH,
    ),
    "cnn-loss": (("CnnLossLayer",), lambda f: [conv(3, 1, act="identity", nhwc=f), _cnn_loss(f)], 4, 5, 2, BOTH),
    "yolo2": (
        ("objdetect.Yolo2OutputLayer",),
        lambda f: [conv(2 * (5 + 2), 1, act="identity", nhwc=f), _yolo2(f)],
        4,
        4,
        3,
        BOTH,
    ),
    "activation-layer-first": (
        ("ActivationLayer",),
        lambda f: [_activation_layer("tanh"), conv(3, 3, nhwc=f)],
        5,
        5,
        2,
        BOTH,
    ),
    "dropout-layer-first": (
        ("DropoutLayer",),
        lambda f: [_builder("DropoutLayer", 0.5).build(), conv(3, 3, nhwc=f)],
        5,
        5,
        2,
        BOTH,
    ),
    "frozen-convolution": (("misc.FrozenLayer",), lambda f: [frozen(conv(3, 3, act="tanh", nhwc=f))], 5, 5, 2, BOTH),
    "locally-connected-2d": (("LocallyConnected2D",), lambda f: [_locally_connected(f)], 5, 5, 2, NCHW_ONLY),
    "capsules": (
        ("PrimaryCapsules", "CapsuleLayer", "CapsuleStrengthLayer"),
        lambda f: _capsules(),
        7,
        7,
        2,
        NCHW_ONLY,
    ),
}
CNN_CASES = {
    f"{name}-{'nhwc' if nhwc else 'nchw'}": Case(_layers(*classes), _cnn(make, h, w, c, nhwc, seed))
    for seed, (name, (classes, make, h, w, c, layouts)) in enumerate(CNN_LAYERS.items(), start=10)
    for nhwc in layouts
}


# ---- graph cases: one vertex class each ----
IMAGE = (2, 6, 6)


def _on_map(vertex_conf):
    """image -> conv (Same) -> vertex -> softmax output."""

    def make(spec: GraphSpec):
        spec.input("image", conv_input(6, 6, 2)).layer("c", conv(4, 3, conv_mode="Same", act="tanh"), "image")
        spec.vertex("v", vertex_conf(), "c").layer("out", output(3), "v")
        return ("out",), _rows(IMAGE, 5), IMAGE

    return make


def _on_features(vertex_conf, n_out: int = 3):
    def make(spec: GraphSpec):
        spec.input("in", feed_forward_input(6)).layer("d", dense(8, "tanh"), "in")
        spec.vertex("v", vertex_conf(), "d").layer("out", output(n_out), "v")
        return ("out",), _rows((6,), 6), None

    return make


def _two_branches(vertex_conf):
    """image -> two convolutions of the same shape -> vertex(a, b) -> global average -> output."""

    def make(spec: GraphSpec):
        spec.input("image", conv_input(6, 6, 2))
        spec.layer("a", conv(4, 3, conv_mode="Same", act="identity"), "image")
        spec.layer("b", conv(4, 1, act="tanh"), "image").vertex("v", vertex_conf(), "a", "b")
        spec.layer("gap", global_pooling("AVG"), "v").layer("out", output(3), "gap")
        return ("out",), _rows(IMAGE, 7), IMAGE

    return make


def _l2_distance(spec: GraphSpec):
    """The distance between two convolutions of the same image: one value per example."""
    spec.input("image", conv_input(6, 6, 2))
    spec.layer("a", conv(4, 3, act="identity"), "image").layer("b", conv(4, 3, act="sigmoid"), "image")
    spec.vertex("v", l2_distance(), "a", "b").layer("out", output(2, "identity", "MSE"), "v")
    return ("out",), _rows(IMAGE, 11), IMAGE


def _pool_helper(spec: GraphSpec):
    """PoolHelperVertex drops a row and a column, which DL4J 1.0.0-M2.1's getOutputType does not record: a 7x7
    map becomes 6x6 (DL4J believes 7x7), and both pool to 3x3, so the configuration holds after the pool."""
    spec.input("image", conv_input(7, 7, 2)).layer("c", conv(3, 3, conv_mode="Same"), "image")
    spec.vertex("ph", pool_helper(), "c").layer("pool", pooling("MAX", 2, 2), "ph").layer("out", output(3), "pool")
    return ("out",), _rows((2, 7, 7), 12), (2, 7, 7)


def _pass_through_first(layer_conf):
    """image -> a layer that keeps its input's shape (and names no layout) -> conv -> global pool -> output."""

    def make(spec: GraphSpec):
        spec.input("image", conv_input(6, 6, 2)).layer("first", layer_conf(), "image")
        spec.layer("c", conv(3, 3), "first").layer("gap", global_pooling("MAX"), "c").layer("out", output(3), "gap")
        return ("out",), _rows(IMAGE, 13), IMAGE

    return make


def _stack_unstack(spec: GraphSpec):
    spec.input("a", feed_forward_input(6)).input("b", feed_forward_input(6))
    spec.vertex("stacked", stack(), "a", "b").layer("shared", dense(5, "tanh"), "stacked")
    spec.vertex("ua", unstack(0, 2), "shared").vertex("ub", unstack(1, 2), "shared")
    spec.vertex("v", element_wise("Subtract"), "ua", "ub").layer("out", output(2), "v")
    return ("out",), {"a": _rows((6,), 8), "b": _rows((6,), 9)}, None


def _reshape_to_map(spec: GraphSpec):
    spec.input("in", feed_forward_input(48)).vertex("v", reshape(-1, 3, 4, 4), "in")
    spec.layer("c", conv(2, 3), "v").layer("out", output(3), "c")
    return ("out",), _rows((48,), 10), None


GRAPH_CASES = {
    "layer-vertex-merge": Case(_vertices("LayerVertex", "MergeVertex"), _graph(_two_branches(concat), 30)),
    "element-wise-add": Case(_vertices("ElementWiseVertex"), _graph(_two_branches(lambda: element_wise("Add")), 31)),
    "l2-distance": Case(_vertices("L2Vertex"), _graph(_l2_distance, 32)),
    "subset": Case(_vertices("SubsetVertex"), _graph(_on_features(lambda: subset(2, 5)), 33)),
    "scale": Case(_vertices("ScaleVertex"), _graph(_on_map(lambda: scale(-1.5)), 34)),
    "shift": Case(_vertices("ShiftVertex"), _graph(_on_features(lambda: shift(0.5)), 35)),
    "l2-normalize": Case(_vertices("L2NormalizeVertex"), _graph(_on_map(l2_normalize), 36)),
    "pool-helper": Case(_vertices("PoolHelperVertex"), _graph(_pool_helper, 37)),
    "preprocessor-vertex": Case(
        _vertices("PreprocessorVertex"), _graph(_on_map(lambda: preprocessor_vertex(cnn_to_ff(6, 6, 4))), 38)
    ),
    "reshape": Case(_vertices("ReshapeVertex"), _graph(_reshape_to_map, 39)),
    "stack-unstack": Case(_vertices("StackVertex", "UnstackVertex"), _graph(_stack_unstack, 40)),
    "graph-activation-layer-first": Case(
        _vertices("LayerVertex") + _layers("ActivationLayer"),
        _graph(_pass_through_first(lambda: _activation_layer("relu")), 42),
    ),
    "graph-dropout-layer-first": Case(
        _vertices("LayerVertex") + _layers("DropoutLayer"),
        _graph(_pass_through_first(lambda: _builder("DropoutLayer", 0.5).build()), 43),
    ),
    "frozen-vertex": Case(_vertices("FrozenVertex"), _graph(_on_map(lambda: frozen_vertex(scale(0.5))), 41)),
}

CASES = {**MLP_CASES, **CNN_CASES, **GRAPH_CASES}


# ---- what each class must do, pinned: deleting a converter fails the test, it cannot pass as a refusal ----
PARITY, REFUSAL = "exports with parity", "refused with UnsupportedLayerError naming it"
EXPECTED = {
    **dict.fromkeys(
        _layers(
            "ActivationLayer",
            "AutoEncoder",
            "BatchNormalization",
            "CenterLossOutputLayer",
            "CnnLossLayer",
            "Convolution2D",
            "ConvolutionLayer",
            "Deconvolution2D",
            "DenseLayer",
            "DepthwiseConvolution2D",
            "DropoutLayer",
            "GlobalPoolingLayer",
            "LocalResponseNormalization",
            "LossLayer",
            "OutputLayer",
            "PReLULayer",
            "Pooling2D",
            "SeparableConvolution2D",
            "SpaceToDepthLayer",
            "SubsamplingLayer",
            "Upsampling2D",
            "ZeroPaddingLayer",
            "convolutional.Cropping2D",
            "misc.ElementWiseMultiplicationLayer",
            "misc.FrozenLayer",
            "misc.FrozenLayerWithBackprop",
            "objdetect.Yolo2OutputLayer",
        ),
        PARITY,
    ),
    **dict.fromkeys(
        _vertices(
            "ElementWiseVertex",
            "FrozenVertex",
            "L2NormalizeVertex",
            "L2Vertex",
            "LayerVertex",
            "MergeVertex",
            "PoolHelperVertex",
            "PreprocessorVertex",
            "ReshapeVertex",
            "ScaleVertex",
            "ShiftVertex",
            "StackVertex",
            "SubsetVertex",
            "UnstackVertex",
        ),
        PARITY,
    ),
    **dict.fromkeys(
        _layers(
            "CapsuleLayer",
            "CapsuleStrengthLayer",
            "EmbeddingLayer",
            "LocallyConnected2D",
            "PrimaryCapsules",
            "SpaceToBatchLayer",
            "util.MaskLayer",
            "variational.VariationalAutoencoder",
        ),
        REFUSAL,
    ),
}


def expected_outcome(classes: tuple[str, ...]) -> str:
    """A case is refused when any of its classes is pinned as refused; otherwise it must export with parity."""
    return REFUSAL if any(EXPECTED[c] == REFUSAL for c in classes) else PARITY


def check_outcome(net, x, input_shape, classes: tuple[str, ...]) -> None:
    """The pinned outcome, and only it: any other exception escapes and fails the test."""
    expected = expected_outcome(classes)
    try:
        bridge.onnx.to_onnx(net, input_shape=input_shape)
    except UnsupportedLayerError as error:
        message = str(error)
        assert expected == REFUSAL, f"{classes} are pinned to export with parity, but the export refused:\n{message}"
        for java_class in (c for c in classes if EXPECTED[c] == REFUSAL):
            assert java_class in message, f"the refusal does not name {java_class}:\n{message}"
        return
    assert expected == PARITY, f"{[c for c in classes if EXPECTED[c] == REFUSAL]} are pinned as refused, but exported"
    assert_parity(net, x, input_shape=input_shape)


@pytest.mark.parametrize("case", list(CASES))
def test_every_class_exports_with_parity_or_is_refused_as_pinned(case):
    net, x, input_shape = CASES[case].build()
    check_outcome(net, x, input_shape, CASES[case].classes)


def test_the_pinned_outcomes_agree_with_the_registries():
    """Every class with a case has a pinned outcome (and no other class has one); a class pinned to export has a
    converter, a refused one has none: a converter removed from (or added to) the registries fails here by name."""
    covered = {c for case in CASES.values() for c in case.classes}
    assert covered == EXPECTED.keys(), (
        f"classes with a case but no pinned outcome: {sorted(covered - EXPECTED.keys())}; "
        f"pinned without a case: {sorted(EXPECTED.keys() - covered)}"
    )
    unconverted = sorted(c for c, outcome in EXPECTED.items() if outcome == PARITY and not has_converter(c))
    assert not unconverted, f"pinned to export with parity, but no converter is registered: {unconverted}"
    converted = sorted(c for c, outcome in EXPECTED.items() if outcome == REFUSAL and has_converter(c))
    assert not converted, f"pinned as refused, but a converter is registered (pin them to PARITY): {converted}"


# ---- representatives of the classes a 2D CNN / MLP cannot hold: refused, nothing else ----
def _lstm():
    lstm = _builder("LSTM").nOut(4).activation(activation("tanh")).build()
    rnn_out = _builder("RnnOutputLayer", loss_function()).nOut(3).activation(activation("softmax")).build()
    return sequential([lstm, rnn_out], input_type().recurrent(5))


def _conv1d():
    conv1d = _builder("Convolution1DLayer", 2).nOut(3).activation(activation("relu")).build()
    pool1d = _builder("Subsampling1DLayer", 2).build()
    rnn_out = _builder("RnnOutputLayer", loss_function()).nOut(2).activation(activation("softmax")).build()
    return sequential([conv1d, pool1d, rnn_out], input_type().recurrent(4, 8))


def _conv3d():
    conv3d = _builder("Convolution3D", ints(2, 2, 2)).nOut(3).activation(activation("relu")).build()
    pool3d = _builder("Subsampling3DLayer", ints(2, 2, 2)).build()
    channels_first = jclass(LAYER_PACKAGE + "Convolution3D$DataFormat").NCDHW
    kind = input_type().convolutional3D(channels_first, 5, 5, 5, 2)
    return sequential([conv3d, pool3d, output(2)], kind)


def _bidirectional_last_step():
    rnn = _builder("recurrent.SimpleRnn").nOut(4).activation(activation("tanh")).build()
    wrapped = jclass(LAYER_PACKAGE + "recurrent.LastTimeStep")(jclass(LAYER_PACKAGE + "recurrent.Bidirectional")(rnn))
    return sequential([wrapped, output(2)], input_type().recurrent(3))


def _last_time_step_vertex():
    spec = GraphSpec(seed=1).input("seq", input_type().recurrent(4))
    spec.vertex("last", jclass(VERTEX_PACKAGE + "rnn.LastTimeStepVertex")("seq"), "seq").layer("out", output(3), "last")
    return spec.build("out")


# id -> (the classes the refusal must name, network builder)
REFUSED = {
    "lstm": (_layers("LSTM", "RnnOutputLayer"), _lstm),
    "convolution1d": (_layers("Convolution1DLayer", "Subsampling1DLayer"), _conv1d),
    "convolution3d": (_layers("Convolution3D", "Subsampling3DLayer"), _conv3d),
    "bidirectional-last-step": (_layers("recurrent.LastTimeStep"), _bidirectional_last_step),
    "last-time-step-vertex": (_vertices("rnn.LastTimeStepVertex"), _last_time_step_vertex),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_classes_outside_2d_cnns_and_mlps_are_refused(case):
    classes, build = REFUSED[case]
    assert all(c in NOT_APPLICABLE for c in classes), "a refused representative must be listed as not applicable"
    with pytest.raises(UnsupportedLayerError) as error:
        bridge.onnx.to_onnx(build())
    for java_class in classes:
        assert java_class in str(error.value), f"the refusal does not name {java_class}:\n{error.value}"


# ---- nothing slips through ----
def test_every_enumerated_class_has_a_case_or_a_reason():
    found = enumerate_classes()
    layers = {c for c, kind in found.items() if kind == "layer"}
    vertices = found.keys() - layers
    # DL4J 1.0.0-M2.1 has 65 concrete layer classes and 18 vertex classes in these packages.
    assert len(layers) >= 60 and len(vertices) >= 15, (
        f"implausible enumeration: {len(layers)} layers, {len(vertices)} vertices in {dl4j_nn_jar()}"
    )
    covered = {c for case in CASES.values() for c in case.classes}
    both = sorted(covered & NOT_APPLICABLE.keys())
    assert not both, f"classes both covered by a case and listed as not applicable: {both}"
    missing = sorted(found.keys() - covered - NOT_APPLICABLE.keys())
    assert not missing, (
        f"DL4J classes with neither a case nor a reason (add a case to CASES, or an entry to "
        f"NOT_APPLICABLE saying why a 2D CNN / MLP cannot hold them): {missing}"
    )
    stale = sorted((covered | NOT_APPLICABLE.keys()) - found.keys())
    assert not stale, f"classes named here that the jar does not have (renamed? abstract?): {stale}"


def test_a_network_dl4j_itself_cannot_run_is_refused():
    """PoolHelperVertex straight into a dense layer: DL4J's configuration says 6x6, the map is 5x5, and DL4J's
    own output() throws. The export must refuse it rather than write a model ONNX Runtime cannot load."""
    spec = GraphSpec(seed=1).input("image", conv_input(6, 6, 2)).layer("c", conv(4, 3, conv_mode="Same"), "image")
    net = spec.vertex("v", pool_helper(), "c").layer("out", output(3), "v").build("out")
    expected = r"CnnToFeedForwardPreProcessor configured for \[N,4,6,6\] receives \[N,4,5,5\]"
    with pytest.raises(UnsupportedLayerError, match=expected):
        bridge.onnx.to_onnx(net, input_shape=IMAGE)
