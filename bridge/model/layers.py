"""Layer and updater specs for the network builders: Keras-shaped arguments, DL4J configurations out (to_java()).

Layer arguments follow Keras where they overlap (`dropout` is the probability of dropping a unit;
DL4J's own dropOut(p) takes the probability of keeping it and is converted here).
"""

from __future__ import annotations

import numbers
from dataclasses import InitVar, dataclass

import jpype

from .. import validate
from ..errors import DataError
from ..jvm import jclass
from ..validate import positive_int
from . import keras_names
from .keras_names import LOSSES, resolve_arguments, resolve_padding
from .schedules import learning_rate as checked_learning_rate

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


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise DataError(
            f"Received an invalid value for `{name}`, expected an int or a pair of non-negative "
            f"ints. Received: {name}={value!r}"
        )
    return pair


def _ints(values):
    return jpype.JArray(jpype.JInt)(list(values))


def _activation(name: str | None, alpha: float | None = None):
    """DL4J's activation for one of ACTIVATIONS or a Keras name of keras_names.ACTIVATIONS (None: Keras' none)."""
    given = name
    name = keras_names.ACTIVATIONS.get(name.lower() if isinstance(name, str) else name, name)
    name = name.lower() if isinstance(name, str) else name
    if name not in ACTIVATIONS:
        raise DataError(
            f"Received an invalid value for `activation`. Received: activation={given!r}. "
            f"Expected one of: {', '.join(ACTIVATIONS)} (or Keras' "
            f"{', '.join(str(k) for k in keras_names.ACTIVATIONS)})."
        )
    if name == "leakyrelu" and alpha is not None:
        return jclass("org.nd4j.linalg.activations.impl.ActivationLReLU")(float(alpha))
    if name == "elu" and alpha is not None:
        return jclass("org.nd4j.linalg.activations.impl.ActivationELU")(float(alpha))
    return jclass("org.nd4j.linalg.activations.Activation").valueOf(name.upper()).getActivationFunction()


def _conv_mode(mode: str):
    word = mode.lower() if isinstance(mode, str) else mode
    if word not in CONVOLUTION_MODES:
        hint = f" ({keras_names.MODE_WORDS[word]})" if word in keras_names.MODE_WORDS else ""
        raise DataError(
            f"Received an invalid value for `mode`{hint}. Received: mode={mode!r}. "
            f"Expected one of: {', '.join(CONVOLUTION_MODES)}."
        )
    return jclass(_CONF + "ConvolutionMode").valueOf(mode.capitalize())


def _common(builder, layer):
    """Options shared by layers with an activation and optional dropout."""
    if hasattr(layer, "activation"):  # None too: Keras' activation=None is none (identity), not DL4J's sigmoid
        builder = builder.activation(_activation(layer.activation, getattr(layer, "alpha", None)))
    if getattr(layer, "dropout", 0.0):
        builder = builder.dropOut(1.0 - float(layer.dropout))  # DL4J takes the retain probability
    return builder


def positive_dimension(value, name):
    return positive_int(value, name)


@dataclass(frozen=True)
class Dense:
    units: int
    activation: str | None = "relu"
    dropout: float = 0.0
    alpha: float | None = None  # leakyrelu / elu slope
    bias: bool | None = None  # True
    use_bias: InitVar[bool | None] = None  # Keras' name for bias

    def __post_init__(self, use_bias):
        resolve_arguments(self, {"use_bias": use_bias}, {"bias": True})

    def to_java(self):
        b = (
            jclass(_CONF + "layers.DenseLayer$Builder")()
            .nOut(positive_dimension(self.units, "units"))
            .hasBias(self.bias)
        )
        return _common(b, self).build()


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
    "categorical_crossentropy" and "sparse_categorical_crossentropy"), trained on class indices or one-hot rows;
    with loss="binary_crossentropy" ("xent") the default activation is sigmoid. For other targets use
    RegressionOutput (identity, "mse") or MultiLabelOutput (sigmoid, "xent"), or set both here; any name
    of LOSSES. Input shape: (batch, n_in); output (batch, units)."""

    units: int
    activation: str | None = "auto"  # softmax; sigmoid for binary cross-entropy ("xent")
    loss: str = "mcxent"
    alpha: float | None = None  # leakyrelu / elu slope

    def to_java(self):
        loss = _loss(self.loss)
        b = jclass(_CONF + "layers.OutputLayer$Builder")(loss).nOut(positive_dimension(self.units, "units"))
        activation = self.activation
        if activation == "auto":  # Keras' binary_crossentropy goes with sigmoid; DL4J refuses it after softmax
            activation = "sigmoid" if str(loss.name()) == "XENT" else "softmax"
        return b.activation(_activation(activation, self.alpha)).build()


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
    """DL4J's ConvolutionLayer. Keras' spellings work too (bridge.model.keras_names): kernel_size, strides,
    dilation_rate, use_bias, and padding="same" | "valid" (a word: DL4J's mode "same" | "truncate"); padding as
    an int or a pair is DL4J's explicit padding in pixels. Fields left None take the defaults in brackets."""

    filters: int
    kernel: int | tuple[int, int] | None = None  # 3
    stride: int | tuple[int, int] | None = None  # 1
    padding: int | tuple[int, int] | str = 0
    dilation: int | tuple[int, int] | None = None  # 1
    mode: str | None = None  # "truncate"
    activation: str | None = "relu"
    bias: bool | None = None  # True
    dropout: float = 0.0
    alpha: float | None = None
    kernel_size: InitVar[int | tuple[int, int] | None] = None
    strides: InitVar[int | tuple[int, int] | None] = None
    dilation_rate: InitVar[int | tuple[int, int] | None] = None
    use_bias: InitVar[bool | None] = None

    def __post_init__(self, kernel_size, strides, dilation_rate, use_bias):
        keras = {"kernel_size": kernel_size, "strides": strides, "dilation_rate": dilation_rate, "use_bias": use_bias}
        resolve_arguments(self, keras, {"kernel": 3, "stride": 1, "dilation": 1, "bias": True})
        resolve_padding(self)

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
            .nOut(positive_dimension(self.filters, "filters"))
            .hasBias(self.bias)
        )
        return _common(b, self).build()


@dataclass(frozen=True)
class Pool2D:
    """DL4J's SubsamplingLayer. Keras' spellings work too: pool_size, strides, padding="same" | "valid"."""

    kernel: int | tuple[int, int] | None = None  # 2
    stride: int | tuple[int, int] | None = None  # defaults to the kernel
    padding: int | tuple[int, int] | str = 0
    kind: str = "max"  # "max" or "avg"
    mode: str | None = None  # "truncate"
    include_pad_in_avg: bool = True  # DL4J's avgPoolIncludePadInDivisor
    pool_size: InitVar[int | tuple[int, int] | None] = None
    strides: InitVar[int | tuple[int, int] | None] = None

    def __post_init__(self, pool_size, strides):
        resolve_arguments(self, {"pool_size": pool_size, "strides": strides}, {"kernel": 2})
        resolve_padding(self)

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
    eps: float | None = None  # 1e-5
    decay: float | None = None  # 0.9
    use_log_std: bool = True
    lock_gamma_beta: bool = False
    epsilon: InitVar[float | None] = None  # Keras' name for eps
    momentum: InitVar[float | None] = None  # Keras' name for decay

    def __post_init__(self, epsilon, momentum):
        resolve_arguments(self, {"epsilon": epsilon, "momentum": momentum}, {"eps": 1e-5, "decay": 0.9})

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
    return jclass("org.nd4j.linalg.learning.config." + name)(checked_learning_rate(learning_rate, name), *rest)


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
        .updater(updater_config(updater if updater is not None else Adam()))
        .weightInit(jclass("org.deeplearning4j.nn.weights.WeightInit").valueOf(weight_init.upper()))
    )
    return builder.l2(float(l2)) if l2 else builder


def updater_config(updater):
    """DL4J's updater configuration for a bridge.nets updater (nets.Adam(1e-3), ...) or a Keras updater string
    ("adam", "sgd", "rmsprop", ...: keras_names.UPDATERS, with Keras' default learning rates)."""
    if isinstance(updater, str):
        name = updater.lower()
        if name not in keras_names.UPDATERS:
            raise DataError(
                f"Received an invalid value for `updater`. Received: updater={updater!r}. Expected one of: "
                f"{', '.join(keras_names.UPDATERS)}, or a bridge.nets updater such as nets.Adam(1e-3)."
            )
        class_name, learning_rate = keras_names.UPDATERS[name]
        spec = globals()[class_name]
        return (spec() if learning_rate is None else spec(learning_rate)).to_java()
    if not hasattr(updater, "to_java"):
        raise DataError(
            f"Received an invalid value for `updater`, expected a bridge.nets updater (nets.Adam, nets.Sgd, "
            f"nets.Nesterovs, ...) or one of {', '.join(map(repr, keras_names.UPDATERS))}. Received: "
            f"updater={updater!r}"
        )
    return updater.to_java()
