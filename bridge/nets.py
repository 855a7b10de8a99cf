"""Build DL4J MultiLayerNetworks from Python, without writing Java.

    net = nets.sequential([nets.Conv2D(20, 5), nets.Pool2D(2), nets.Dense(100), nets.Output(10)],
                          input_shape=(1, 28, 28), updater=nets.Adam(1e-3), seed=42)

Layer arguments follow Keras where they overlap (`dropout` is the probability of dropping a unit;
DL4J's own dropOut(p) takes the probability of keeping it and is converted here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import validate
from .errors import DataError, java_errors
from .jvm import jclass
from .validate import positive_int

__all__ = [
    "Network",
    "as_java",
    "is_graph",
    "sequential",
    "mlp",
    "lenet",
    "Dense",
    "Output",
    "RegressionOutput",
    "MultiLabelOutput",
    "LOSSES",
    "Conv2D",
    "Pool2D",
    "BatchNorm",
    "Dropout",
    "Activation",
    "GlobalPool",
    "LRN",
    "Adam",
    "Sgd",
    "Nesterovs",
    "ACTIVATIONS",
    "RmsProp",
    "AdaGrad",
    "AdaMax",
    "Nadam",
    "AMSGrad",
    "AdaDelta",
    "graph",
    "residual_block",
    "resnet_small",
    "Add",
    "Subtract",
    "Product",
    "Average",
    "Max",
    "Concat",
    "Scale",
    "Shift",
    "L2Normalize",
    "Subset",
]

ACTIVATIONS = (
    "identity",
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "selu",
    "sigmoid",
    "hardsigmoid",
    "tanh",
    "hardtanh",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "gelu",
    "cube",
    "rationaltanh",
    "rectifiedtanh",
    "mish",
    "thresholdedrelu",
)
CONVOLUTION_MODES = ("truncate", "strict", "same")
WEIGHT_INITS = ("xavier", "xavier_uniform", "relu", "relu_uniform", "lecun_normal", "normal", "uniform", "zero")
_CONF = "org.deeplearning4j.nn.conf."


MULTI_LAYER = "org.deeplearning4j.nn.multilayer.MultiLayerNetwork"
COMPUTATION_GRAPH = "org.deeplearning4j.nn.graph.ComputationGraph"


class Network:
    """A DL4J MultiLayerNetwork or ComputationGraph (``.java``) with the name and class labels dl4j-bridge
    carries along. ``is_graph`` tells which kind it is.

    input_shapes: optional per-example shape of each input, keyed by input name ("input" for a
    MultiLayerNetwork), in the network's own layout: (F,), (C, H, W) or (H, W, C). DL4J does not
    keep the InputType a network was built with; builders that know it record it here
    (bridge.inputs reads it, save()/load() keep it)."""

    def __init__(
        self,
        java,
        name: str = "network",
        labels: Sequence[str] | None = None,
        input_shapes: dict[str, tuple[int, ...]] | None = None,
    ):
        self.java = java
        self.name = name
        self.labels = tuple(labels) if labels else None
        self.input_shapes = (
            {str(k): tuple(int(d) for d in v) for k, v in input_shapes.items()} if input_shapes else None
        )

    @property
    def is_graph(self) -> bool:
        return is_graph(self.java)

    def __repr__(self) -> str:
        kind = "ComputationGraph" if self.is_graph else "MultiLayerNetwork"
        return (
            f"Network(name={self.name!r}, kind={kind}, layers={len(self.java.getLayers())}, "
            f"params={int(self.java.numParams())})"
        )

    def summary(self) -> str:
        """DL4J's layer table. A graph's needs its input types: DL4J 1.0.0-M2.1's ComputationGraph.summary()
        without them fails with an ArrayIndexOutOfBoundsException."""
        if not self.is_graph:
            return str(self.java.summary())
        from .inputs import input_types

        with java_errors("DL4J summary()"):
            return str(self.java.summary(*input_types(self)))


def as_java(net):
    """The DL4J network behind a bridge Network, or the argument itself if it already is a
    MultiLayerNetwork or a ComputationGraph."""
    if isinstance(net, Network):
        return net.java
    if _is_java_instance(net, MULTI_LAYER) or _is_java_instance(net, COMPUTATION_GRAPH):
        return net
    raise DataError(
        "Expected a bridge Network, a DL4J MultiLayerNetwork or a DL4J ComputationGraph, "
        f"received {type(net).__name__}."
    )


def is_graph(java) -> bool:
    """True for a DL4J ComputationGraph, False for a MultiLayerNetwork (the Java object, see as_java)."""
    return _is_java_instance(java, COMPUTATION_GRAPH)


def _is_java_instance(obj, class_name: str) -> bool:
    try:
        return isinstance(obj, jclass(class_name))
    except TypeError:
        return False


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise DataError(
            f"Received an invalid value for `{name}`, expected an int or a pair of non-negative "
            f"ints. Received: {name}={value!r}"
        )
    return pair


def _ints(values):
    import jpype

    return jpype.JArray(jpype.JInt)(list(values))


def _activation(name: str, alpha: float | None = None):
    name = name.lower()
    if name not in ACTIVATIONS:
        raise DataError(
            f"Received an invalid value for `activation`. Received: activation={name!r}. "
            f"Expected one of: {', '.join(ACTIVATIONS)}."
        )
    if name == "leakyrelu" and alpha is not None:
        return jclass("org.nd4j.linalg.activations.impl.ActivationLReLU")(float(alpha))
    if name == "elu" and alpha is not None:
        return jclass("org.nd4j.linalg.activations.impl.ActivationELU")(float(alpha))
    return jclass("org.nd4j.linalg.activations.Activation").valueOf(name.upper()).getActivationFunction()


def _conv_mode(mode: str):
    if mode.lower() not in CONVOLUTION_MODES:
        raise DataError(
            f"Received an invalid value for `mode`. Received: mode={mode!r}. "
            f"Expected one of: {', '.join(CONVOLUTION_MODES)}."
        )
    return jclass(_CONF + "ConvolutionMode").valueOf(mode.capitalize())


def _common(builder, layer):
    """Options shared by layers with an activation and optional dropout."""
    if getattr(layer, "activation", None) is not None:
        builder = builder.activation(_activation(layer.activation, getattr(layer, "alpha", None)))
    if getattr(layer, "dropout", 0.0):
        builder = builder.dropOut(1.0 - float(layer.dropout))  # DL4J takes the retain probability
    return builder


def _positive(value, name):
    return positive_int(value, name)


@dataclass(frozen=True)
class Dense:
    units: int
    activation: str = "relu"
    dropout: float = 0.0
    alpha: float | None = None  # leakyrelu / elu slope
    bias: bool = True

    def to_java(self):
        b = jclass(_CONF + "layers.DenseLayer$Builder")().nOut(_positive(self.units, "units")).hasBias(self.bias)
        return _common(b, self).build()


# Loss names: DL4J's LossFunctions.LossFunction names, and the Keras names users bring, mapped to them.
LOSSES = {
    "mse": "MSE",
    "mean_squared_error": "MSE",
    "l2": "L2",
    "l1": "L1",
    "mae": "MEAN_ABSOLUTE_ERROR",
    "mean_absolute_error": "MEAN_ABSOLUTE_ERROR",
    "mape": "MEAN_ABSOLUTE_PERCENTAGE_ERROR",
    "msle": "MEAN_SQUARED_LOGARITHMIC_ERROR",
    "xent": "XENT",
    "binary_crossentropy": "XENT",
    "mcxent": "MCXENT",
    "categorical_crossentropy": "MCXENT",
    "negativeloglikelihood": "NEGATIVELOGLIKELIHOOD",
    "sparse_mcxent": "SPARSE_MCXENT",
    "hinge": "HINGE",
    "squared_hinge": "SQUARED_HINGE",
    "kl_divergence": "KL_DIVERGENCE",
    "poisson": "POISSON",
    "cosine_proximity": "COSINE_PROXIMITY",
    "squared_loss": "SQUARED_LOSS",
    "wasserstein": "WASSERSTEIN",
}


def _loss(name: str):
    """DL4J's LossFunction for a name of LOSSES, or for any of DL4J's own LossFunction names."""
    functions = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction")
    key = name.lower() if isinstance(name, str) else None
    if key in LOSSES:
        return functions.valueOf(LOSSES[key])
    dl4j_names = [str(f.name()) for f in functions.values()]
    if isinstance(name, str) and name.upper() in dl4j_names:
        return functions.valueOf(name.upper())
    raise DataError(
        f"Received an invalid value for `loss`. Received: loss={name!r}. Expected one of: "
        f"{', '.join(LOSSES)} (or a DL4J LossFunction name: {', '.join(dl4j_names)})."
    )


@dataclass(frozen=True)
class Output:
    """DL4J's OutputLayer: `units` outputs, an activation and the loss training minimises.

    The default is a classifier: softmax with multi-class cross-entropy ("mcxent", Keras'
    "categorical_crossentropy"), trained on class indices or one-hot rows. For other targets use
    RegressionOutput (identity, "mse") or MultiLabelOutput (sigmoid, "xent"), or set both here; any name
    of LOSSES. Input shape: (batch, n_in); output (batch, units)."""

    units: int
    activation: str = "softmax"
    loss: str = "mcxent"
    alpha: float | None = None  # leakyrelu / elu slope

    def to_java(self):
        b = jclass(_CONF + "layers.OutputLayer$Builder")(_loss(self.loss)).nOut(_positive(self.units, "units"))
        return _common(b, self).build()


@dataclass(frozen=True)
class RegressionOutput(Output):
    """An output layer for real-valued targets (batch, units): identity activation, mean squared error (or
    loss="l1", "mae", ...)."""

    activation: str = "identity"
    loss: str = "mse"


@dataclass(frozen=True)
class MultiLabelOutput(Output):
    """An output layer for multi-label targets (batch, units) of 0/1 (or probabilities): one sigmoid per label,
    binary cross-entropy ("xent", Keras' "binary_crossentropy")."""

    activation: str = "sigmoid"
    loss: str = "xent"


@dataclass(frozen=True)
class Conv2D:
    filters: int
    kernel: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    mode: str = "truncate"
    activation: str = "relu"
    bias: bool = True
    dropout: float = 0.0
    alpha: float | None = None

    def to_java(self):
        # The no-argument Builder() is the int... varargs one, which JPype calls with no kernel.
        b = (
            jclass(_CONF + "layers.ConvolutionLayer$Builder")(
                _ints(_pair(self.kernel, "kernel")),
                _ints(_pair(self.stride, "stride")),
                _ints(_pair(self.padding, "padding")),
            )
            .dilation(_ints(_pair(self.dilation, "dilation")))
            .convolutionMode(_conv_mode(self.mode))
            .nOut(_positive(self.filters, "filters"))
            .hasBias(self.bias)
        )
        return _common(b, self).build()


@dataclass(frozen=True)
class Pool2D:
    kernel: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None  # defaults to the kernel
    padding: int | tuple[int, int] = 0
    kind: str = "max"  # "max" or "avg"
    mode: str = "truncate"
    include_pad_in_avg: bool = True  # DL4J's avgPoolIncludePadInDivisor

    def to_java(self):
        kinds = {"max": "MAX", "avg": "AVG"}
        if self.kind not in kinds:
            raise DataError(
                f"Received an invalid value for `kind`. Received: kind={self.kind!r}. Expected 'max' or 'avg'."
            )
        pooling = jclass(_CONF + "layers.SubsamplingLayer$PoolingType").valueOf(kinds[self.kind])
        kernel = _pair(self.kernel, "kernel")
        return (
            jclass(_CONF + "layers.SubsamplingLayer$Builder")(
                pooling,
                _ints(kernel),
                _ints(_pair(self.stride or kernel, "stride")),
                _ints(_pair(self.padding, "padding")),
            )
            .convolutionMode(_conv_mode(self.mode))
            .avgPoolIncludePadInDivisor(self.include_pad_in_avg)
            .build()
        )


@dataclass(frozen=True)
class BatchNorm:
    eps: float = 1e-5
    decay: float = 0.9
    use_log_std: bool = True
    lock_gamma_beta: bool = False

    def to_java(self):
        return (
            jclass(_CONF + "layers.BatchNormalization$Builder")()
            .eps(self.eps)
            .decay(self.decay)
            .useLogStd(self.use_log_std)
            .lockGammaBeta(self.lock_gamma_beta)
            .build()
        )


@dataclass(frozen=True)
class Dropout:
    rate: float  # probability of dropping a unit during training

    def to_java(self):
        if not 0.0 <= self.rate < 1.0:
            raise DataError(
                f"Received an invalid value for `rate`, expected 0 <= rate < 1. Received: rate={self.rate!r}"
            )
        return jclass(_CONF + "layers.DropoutLayer$Builder")(1.0 - self.rate).build()


@dataclass(frozen=True)
class Activation:
    activation: str
    alpha: float | None = None

    def to_java(self):
        return _common(jclass(_CONF + "layers.ActivationLayer$Builder")(), self).build()


@dataclass(frozen=True)
class GlobalPool:
    kind: str = "avg"

    def to_java(self):
        kinds = {"max": "MAX", "avg": "AVG"}
        if self.kind not in kinds:
            raise DataError(
                f"Received an invalid value for `kind`. Received: kind={self.kind!r}. Expected 'max' or 'avg'."
            )
        pooling = jclass(_CONF + "layers.PoolingType").valueOf(kinds[self.kind])
        return jclass(_CONF + "layers.GlobalPoolingLayer$Builder")(pooling).build()


@dataclass(frozen=True)
class LRN:
    k: float = 2.0
    n: float = 5.0
    alpha: float = 1e-4
    beta: float = 0.75

    def to_java(self):
        return (
            jclass(_CONF + "layers.LocalResponseNormalization$Builder")()
            .k(self.k)
            .n(self.n)
            .alpha(self.alpha)
            .beta(self.beta)
            .build()
        )


def _updater(name: str, learning_rate, *rest):
    """DL4J's updater config `name` with a learning rate that is a number or a bridge.schedules schedule."""
    from .schedules import learning_rate as checked

    return jclass("org.nd4j.linalg.learning.config." + name)(checked(learning_rate, name), *rest)


@dataclass(frozen=True)
class Adam:
    """learning_rate: a number or a bridge.schedules schedule (Step, Exponential, Cosine, WarmUp, Piecewise);
    the same for every updater below that has a learning rate."""

    learning_rate: object = 1e-3

    def to_java(self):
        return _updater("Adam", self.learning_rate)


@dataclass(frozen=True)
class Sgd:
    learning_rate: object = 1e-2

    def to_java(self):
        return _updater("Sgd", self.learning_rate)


@dataclass(frozen=True)
class Nesterovs:
    learning_rate: object = 1e-2
    momentum: float = 0.9

    def to_java(self):
        return _updater("Nesterovs", self.learning_rate, float(self.momentum))


@dataclass(frozen=True)
class RmsProp:
    learning_rate: object = 1e-1

    def to_java(self):
        return _updater("RmsProp", self.learning_rate)


@dataclass(frozen=True)
class AdaGrad:
    """A number only: DL4J 1.0.0-M2.1's AdaGrad.clone() drops a schedule (each layer then trains with a NaN rate)."""

    learning_rate: float = 1e-1

    def to_java(self):
        import numbers

        if not isinstance(self.learning_rate, numbers.Real) or isinstance(self.learning_rate, bool):
            raise DataError(
                f"AdaGrad takes a number as learning_rate, not {self.learning_rate!r}: DL4J 1.0.0-M2.1 "
                "loses an AdaGrad schedule when it copies the updater to each layer. Use a schedule with "
                "RmsProp, Adam or Sgd, or LearningRateScheduler (bridge.callbacks) with AdaGrad."
            )
        return _updater("AdaGrad", self.learning_rate)


@dataclass(frozen=True)
class AdaMax:
    learning_rate: object = 1e-3

    def to_java(self):
        return _updater("AdaMax", self.learning_rate)


@dataclass(frozen=True)
class Nadam:
    learning_rate: object = 1e-3

    def to_java(self):
        return _updater("Nadam", self.learning_rate)


@dataclass(frozen=True)
class AMSGrad:
    learning_rate: object = 1e-3

    def to_java(self):
        return _updater("AMSGrad", self.learning_rate)


@dataclass(frozen=True)
class AdaDelta:
    """AdaDelta sizes its steps itself: it has no learning rate, so it takes no schedule."""

    rho: float = 0.95
    epsilon: float = 1e-6
    learning_rate: object = None

    def to_java(self):
        if self.learning_rate is not None:
            raise DataError(
                f"AdaDelta has no learning rate, so it cannot take learning_rate={self.learning_rate!r} "
                "(a schedule included): drop it, or use an updater with one (Adam, Sgd, Nesterovs, "
                "RmsProp, AdaGrad, AdaMax, Nadam, AMSGrad)."
            )
        return jclass("org.nd4j.linalg.learning.config.AdaDelta")(float(self.rho), float(self.epsilon))


def _input_type(input_shape):
    InputType = jclass(_CONF + "inputs.InputType")
    if isinstance(input_shape, int):
        return InputType.feedForward(_positive(input_shape, "input_shape"))
    shape = tuple(input_shape)
    if len(shape) == 1:
        return InputType.feedForward(_positive(shape[0], "input_shape"))
    if len(shape) == 3:
        c, h, w = (_positive(v, "input_shape") for v in shape)
        return InputType.convolutionalFlat(h, w, c)  # a flat row of c*h*w values, NCHW
    raise DataError(
        f"Received an invalid value for `input_shape`, expected n_features or (channels, height, width). "
        f"Received: input_shape={input_shape!r}"
    )


def check_weight_init(weight_init: str) -> None:
    if not isinstance(weight_init, str) or weight_init.lower() not in WEIGHT_INITS:
        raise DataError(
            f"Received an invalid value for `weight_init`. Received: weight_init={weight_init!r}. "
            f"Expected one of: {', '.join(WEIGHT_INITS)}."
        )


def base_configuration(updater, seed: int, weight_init: str, l2: float):
    """DL4J's NeuralNetConfiguration.Builder with the options sequential() and graph() share."""
    builder = (
        jclass(_CONF + "NeuralNetConfiguration$Builder")()
        .seed(validate.seed(seed))
        .updater((updater or Adam()).to_java())
        .weightInit(jclass("org.deeplearning4j.nn.weights.WeightInit").valueOf(weight_init.upper()))
    )
    return builder.l2(float(l2)) if l2 else builder


def sequential(
    layers: Sequence,
    input_shape,
    updater=None,
    seed: int = 42,
    weight_init: str = "xavier",
    l2: float = 0.0,
    name: str = "network",
    labels: Sequence[str] | None = None,
) -> Network:
    """A MultiLayerNetwork from layer specs, initialised with `seed`.

    input_shape: n_features for a flat input, or (channels, height, width) for images, which the
    network then takes as flat rows of channels*height*width values (DL4J's convolutionalFlat).
    """
    if not layers:
        raise DataError("Received an empty `layers` list: a network needs at least an output layer.")
    check_weight_init(weight_init)
    with java_errors(f"building network {name!r}"):
        builder = base_configuration(updater, seed, weight_init, l2)
        import jpype

        java_layers = jpype.JArray(jclass(_CONF + "layers.Layer"))([layer.to_java() for layer in layers])
        conf = builder.list(java_layers).setInputType(_input_type(input_shape)).build()
        java = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
        java.init()
    return Network(java, name=name, labels=labels)


def mlp(
    n_in: int = 784,
    hidden: Sequence[int] = (256, 128),
    n_classes: int = 10,
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
    seed: int = 42,
    labels=None,
) -> Network:
    """The reference MNIST MLP: 784 -> 256 -> 128 -> 10, ReLU, softmax, Adam."""
    layers = [Dense(units, "relu", dropout=dropout) for units in hidden] + [Output(n_classes)]
    return sequential(layers, n_in, Adam(learning_rate), seed=seed, name="mlp", labels=labels)


def lenet(
    input_shape=(1, 28, 28), n_classes: int = 10, learning_rate: float = 1e-3, seed: int = 42, labels=None
) -> Network:
    """The reference LeNet-style CNN: conv5x5x20 - maxpool2 - conv5x5x50 - maxpool2 - dense500 - softmax."""
    layers = [Conv2D(20, 5), Pool2D(2), Conv2D(50, 5), Pool2D(2), Dense(500), Output(n_classes)]
    return sequential(layers, input_shape, Adam(learning_rate), seed=seed, name="lenet", labels=labels)


def resnet_small(
    input_shape=(1, 28, 28),
    n_classes: int = 10,
    widths: Sequence[int] = (32, 64),
    learning_rate: float = 1e-3,
    seed: int = 42,
    labels=None,
) -> Network:
    """A small residual CNN (a ComputationGraph taking (n, C, H, W) arrays).

    A 3x3 stem conv (widths[0]) with batch norm and relu, a stride-2 3x3 conv to half the size,
    then one residual block per width: the first with an identity shortcut, the next ones with
    stride 2 and a 1x1-projection shortcut; global average pooling and a softmax output.
    """
    widths = [_positive(w, "widths") for w in widths] if widths else []
    if not widths:
        raise DataError(
            f"Received an invalid value for `widths`, expected one or more positive ints. Received: widths={widths!r}"
        )
    nodes = {
        "stem": (Conv2D(widths[0], 3, mode="same", activation="identity", bias=False), "image"),
        "stem_bn": (BatchNorm(), "stem"),
        "stem_relu": (Activation("relu"), "stem_bn"),
        "down": (Conv2D(widths[0], 3, stride=2, mode="same", activation="identity", bias=False), "stem_relu"),
        "down_bn": (BatchNorm(), "down"),
        "down_relu": (Activation("relu"), "down_bn"),
    }
    source = "down_relu"
    for i, width in enumerate(widths):
        nodes.update(residual_block(f"block{i + 1}", source, width, stride=1 if i == 0 else 2))
        source = f"block{i + 1}"
    nodes["pool"] = (GlobalPool("avg"), source)
    nodes["out"] = (Output(n_classes), "pool")
    return graph(
        inputs={"image": tuple(input_shape)},
        nodes=nodes,
        outputs=["out"],
        updater=Adam(learning_rate),
        seed=seed,
        weight_init="relu",
        name="resnet_small",
        labels=labels,
    )


# The graph builder lives in its own module; it reads this one's layer specs at call time.
from .graphs import (  # noqa: E402
    Add,
    Average,
    Concat,
    L2Normalize,
    Max,
    Product,
    Scale,
    Shift,
    Subset,
    Subtract,
    graph,
    residual_block,
)
