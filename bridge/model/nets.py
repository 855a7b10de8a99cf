"""Build DL4J networks from Python, without writing Java: `bridge.nets`, the builders and every spec they take.

    net = nets.sequential([nets.Conv2D(20, 5), nets.Pool2D(2), nets.Dense(100), nets.Output(10)],
                          input_shape=(1, 28, 28), updater=nets.Adam(1e-3), seed=42)

Layer arguments follow Keras where they overlap (`dropout` is the probability of dropping a unit;
DL4J's own dropOut(p) takes the probability of keeping it and is converted here).
"""

from __future__ import annotations

from collections.abc import Sequence

import jpype

from ..errors import DataError, java_boundary, java_errors
from ..jvm import jclass
from .graphs import (
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
from .inputs import MULTI_LAYER_INPUT
from .keras_names import image_layout
from .layers import (
    ACTIVATIONS,
    LOSSES,
    LRN,
    Activation,
    AdaDelta,
    AdaGrad,
    Adam,
    AdaMax,
    AMSGrad,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    GlobalPool,
    MultiLabelOutput,
    Nadam,
    Nesterovs,
    Output,
    Pool2D,
    RegressionOutput,
    RmsProp,
    Sgd,
    base_configuration,
    check_weight_init,
    positive_dimension,
)
from .network import Network, as_java, is_graph

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

_CONF = "org.deeplearning4j.nn.conf."


def _input_type(input_shape, data_format: str | None):
    """(DL4J's InputType, the per-example shape the network takes when the configuration does not tell it)."""
    InputType = jclass(_CONF + "inputs.InputType")
    if isinstance(input_shape, int):
        return InputType.feedForward(positive_dimension(input_shape, "input_shape")), None
    shape = tuple(input_shape)
    if len(shape) == 1:
        return InputType.feedForward(positive_dimension(shape[0], "input_shape")), None
    if len(shape) == 3:
        shape = tuple(positive_dimension(v, "input_shape") for v in shape)
        if image_layout(shape, data_format, "input_shape") == "NHWC":
            h, w, c = shape  # Keras' channels-last: the network takes (n, H, W, C) arrays
            return InputType.convolutional(h, w, c, jclass(_CONF + "CNN2DFormat").NHWC), shape
        c, h, w = shape
        return InputType.convolutionalFlat(h, w, c), None  # a flat row of c*h*w values, NCHW
    raise DataError(
        f"Received an invalid value for `input_shape`, expected n_features or (channels, height, width). "
        f"Received: input_shape={input_shape!r}"
    )


@java_boundary("sequential")
def sequential(
    layers: Sequence,
    input_shape,
    updater=None,
    seed: int = 42,
    weight_init: str = "xavier",
    l2: float = 0.0,
    name: str = "network",
    labels: Sequence[str] | None = None,
    data_format: str | None = None,
) -> Network:
    """A MultiLayerNetwork from layer specs, initialised with `seed`.

    input_shape: n_features for a flat input, or (channels, height, width) for images, which the
    network then takes as (n, C, H, W) arrays or flat rows of channels*height*width values (DL4J's
    convolutionalFlat). A shape that reads as Keras' (height, width, channels) just as well, such as (32, 32, 3),
    needs data_format: "channels_first" reads it as above, "channels_last" as (height, width, channels), building
    a DL4J NHWC network that takes (n, H, W, C) arrays.
    updater: a bridge.nets updater, or Keras' name of one ("adam", "sgd", "rmsprop", ...: Keras' defaults).
    """
    if not layers:
        raise DataError("Received an empty `layers` list: a network needs at least an output layer.")
    check_weight_init(weight_init)
    with java_errors(f"building network {name!r}"):
        builder = base_configuration(updater, seed, weight_init, l2)
        input_type, image_shape = _input_type(input_shape, data_format)
        java_layers = jpype.JArray(jclass(_CONF + "layers.Layer"))([layer.to_java() for layer in layers])
        conf = builder.list(java_layers).setInputType(input_type).build()
        java = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
        java.init()
    shapes = {MULTI_LAYER_INPUT: image_shape} if image_shape else None
    return Network(java, name=name, labels=labels, input_shapes=shapes)


@java_boundary("mlp")
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


@java_boundary("lenet")
def lenet(
    input_shape=(1, 28, 28),
    n_classes: int = 10,
    learning_rate: float = 1e-3,
    seed: int = 42,
    labels=None,
    data_format: str | None = None,
) -> Network:
    """The reference LeNet-style CNN: conv5x5x20 - maxpool2 - conv5x5x50 - maxpool2 - dense500 - softmax."""
    layers = [Conv2D(20, 5), Pool2D(2), Conv2D(50, 5), Pool2D(2), Dense(500), Output(n_classes)]
    return sequential(
        layers, input_shape, Adam(learning_rate), seed=seed, name="lenet", labels=labels, data_format=data_format
    )


@java_boundary("resnet_small")
def resnet_small(
    input_shape=(1, 28, 28),
    n_classes: int = 10,
    widths: Sequence[int] = (32, 64),
    learning_rate: float = 1e-3,
    seed: int = 42,
    labels=None,
    data_format: str | None = None,
) -> Network:
    """A small residual CNN (a ComputationGraph taking (n, C, H, W) arrays; (n, H, W, C) with
    data_format="channels_last").

    A 3x3 stem conv (widths[0]) with batch norm and relu, a stride-2 3x3 conv to half the size,
    then one residual block per width: the first with an identity shortcut, the next ones with
    stride 2 and a 1x1-projection shortcut; global average pooling and a softmax output.
    """
    widths = [positive_dimension(w, "widths") for w in widths] if widths else []
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
        data_format=data_format,
    )
