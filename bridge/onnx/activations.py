"""DL4J activation functions (org.nd4j.linalg.activations.impl.*) as ONNX ops.

Only exact equivalents are registered; anything else is refused by the exporter's scan.
"""

from __future__ import annotations

import math

from .registry import ACTIVATIONS, Graph, Tensor, activation

_IMPL = "org.nd4j.linalg.activations.impl."


def apply_activation(g: Graph, conf: dict | None, x: Tensor) -> Tensor:
    if conf is None:
        return x
    return ACTIVATIONS[conf["@class"]].convert(g, conf, x)


def _setting(conf: dict, key: str, default: float | None) -> float | None:
    value = conf.get(key)
    return default if value is None else float(value)


@activation(_IMPL + "ActivationIdentity")
def identity(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return x


@activation(_IMPL + "ActivationReLU")
def relu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """ND4J's ReLU(max, threshold, negativeSlope) (checked against its output): x where x >= threshold,
    negativeSlope * (x - threshold) below it, then capped at max."""
    top, threshold, slope = (
        _setting(conf, "max", None),
        _setting(conf, "threshold", 0.0),
        _setting(conf, "negativeSlope", 0.0),
    )
    if threshold == 0.0 and slope == 0.0:
        if top is None:
            return g.apply("Relu", x)
        return g.apply(
            "Clip", x, hint="relu_max", extra_inputs=(g.float_constant("zero", 0.0), g.float_constant("max", top))
        )
    at = g.float_constant("threshold", threshold)
    below = g.op("Mul", [g.op("Sub", [x.name, at], "relu_shift"), g.float_constant("slope", slope)], "relu_below")
    y = g.op("Where", [g.op("GreaterOrEqual", [x.name, at], "relu_above"), x.name, below], "relu")
    if top is not None:
        y = g.op("Min", [y, g.float_constant("max", top)], "relu_max")
    return Tensor(y, x.shape)


@activation(_IMPL + "ActivationReLU6")
def relu6(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Clip", x, hint="relu6", extra_inputs=(g.float_constant("zero", 0.0), g.float_constant("six", 6.0)))


@activation(_IMPL + "ActivationLReLU")
def leaky_relu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("LeakyRelu", x, alpha=float(conf.get("alpha", 0.01)))


@activation(_IMPL + "ActivationELU")
def elu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Elu", x, alpha=float(conf.get("alpha", 1.0)))


@activation(_IMPL + "ActivationSELU")
def selu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Selu", x)  # ONNX's default alpha and gamma are SELU's constants, as DL4J's are


@activation(_IMPL + "ActivationSigmoid")
def sigmoid(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Sigmoid", x)


@activation(_IMPL + "ActivationHardSigmoid")
def hard_sigmoid(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("HardSigmoid", x, alpha=0.2, beta=0.5)  # DL4J: min(1, max(0, 0.2 x + 0.5))


@activation(_IMPL + "ActivationTanH")
def tanh(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Tanh", x)


@activation(_IMPL + "ActivationHardTanH")
def hard_tanh(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply(
        "Clip", x, hint="hardtanh", extra_inputs=(g.float_constant("minus_one", -1.0), g.float_constant("one", 1.0))
    )


@activation(_IMPL + "ActivationSoftmax")
def softmax(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """ND4J normalises over the last axis whatever the rank (checked: a [N,C,H,W] map is normalised over W),
    so a layer's softmax acts on the last axis of the layout that layer computes in."""
    return g.apply("Softmax", x, axis=len(x.shape))


@activation(_IMPL + "ActivationSoftPlus")
def softplus(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Softplus", x)


@activation(_IMPL + "ActivationSoftSign")
def softsign(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Softsign", x)


@activation(_IMPL + "ActivationSwish")
def swish(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Mul", x, hint="swish", extra_inputs=(g.apply("Sigmoid", x).name,))


@activation(_IMPL + "ActivationGELU")
def gelu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    if conf.get("precise"):
        return _precise_gelu(g, x)
    # ND4J's default GELU is the sigmoid approximation x * sigmoid(1.702 x).
    scaled = g.op("Mul", [x.name, g.float_constant("gelu_k", 1.702)], "gelu_scaled")
    return g.apply("Mul", x, hint="gelu", extra_inputs=(g.op("Sigmoid", [scaled], "gelu_gate"),))


def _precise_gelu(g: Graph, x: Tensor) -> Tensor:
    """libnd4j's precise GELU is 0.5 x (1 + tanh(sqrt(2/pi) (x + (0.044715 x)^3))): it cubes 0.044715 x, not
    x alone (the tanh formula's 0.044715 x^3), and DL4J's output follows it (checked to 1e-7)."""
    cube = g.op(
        "Pow",
        [g.op("Mul", [x.name, g.float_constant("gelu_c", 0.044715)], "gelu_cx"), g.float_constant("three", 3.0)],
        "gelu_cube",
    )
    inner = g.op(
        "Mul",
        [g.op("Add", [x.name, cube], "gelu_sum"), g.float_constant("gelu_s", math.sqrt(2 / math.pi))],
        "gelu_inner",
    )
    gate = g.op("Add", [g.op("Tanh", [inner], "gelu_tanh"), g.float_constant("one", 1.0)], "gelu_gate")
    half = g.op("Mul", [x.name, g.float_constant("half", 0.5)], "gelu_half")
    return Tensor(g.op("Mul", [half, gate], "gelu"), x.shape)


@activation(_IMPL + "ActivationCube")
def cube(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Mul", x, hint="cube", extra_inputs=(g.op("Mul", [x.name, x.name], "square"),))


@activation(_IMPL + "ActivationRationalTanh")
def rational_tanh(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """libnd4j: 1.7159 * sign(d) * (1 - 1 / (1 + |d| + d^2 + 1.41645 d^4)) with d = 2x/3."""
    d = g.op("Mul", [x.name, g.float_constant("two_thirds", 2.0 / 3.0)], "rtanh_d")
    d2 = g.op("Mul", [d, d], "rtanh_d2")
    d4 = g.op("Mul", [g.op("Mul", [d2, d2], "rtanh_d4"), g.float_constant("rtanh_k", 1.41645)], "rtanh_kd4")
    den = g.op(
        "Add",
        [
            g.op("Add", [g.op("Abs", [d], "rtanh_abs"), g.float_constant("one", 1.0)], "rtanh_1a"),
            g.op("Add", [d2, d4], "rtanh_poly"),
        ],
        "rtanh_den",
    )
    one_minus = g.op("Sub", [g.float_constant("one", 1.0), g.op("Reciprocal", [den], "rtanh_inv")], "rtanh_t")
    signed = g.op("Mul", [g.op("Sign", [d], "rtanh_sign"), one_minus], "rtanh_signed")
    return Tensor(g.op("Mul", [signed, g.float_constant("rtanh_scale", 1.7159)], "rtanh"), x.shape)


@activation(_IMPL + "ActivationRectifiedTanh")
def rectified_tanh(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Relu", g.apply("Tanh", x), hint="rectified_tanh")  # max(0, tanh(x))


@activation(_IMPL + "ActivationMish")
def mish(g: Graph, conf: dict, x: Tensor) -> Tensor:
    # x * tanh(softplus(x)) at every opset: ONNX's Mish op only exists from opset 18 (the exporter starts at 13).
    gate = g.apply("Tanh", g.apply("Softplus", x), hint="mish_gate")
    return g.apply("Mul", x, hint="mish", extra_inputs=(gate.name,))


@activation(_IMPL + "ActivationThresholdedReLU")
def thresholded_relu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("ThresholdedRelu", x, alpha=_setting(conf, "theta", 1.0))  # x > theta ? x : 0, as ND4J


@activation(_IMPL + "ActivationRReLU")
def rrelu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """At inference DL4J 1.0.0-M2.1 returns max(x, (l + u) / 2), not the paper's leaky ReLU (its legacy
    RectifiedLinear op with a scalar; checked against its output): exported as DL4J computes it."""
    level = 0.5 * (_setting(conf, "l", 1.0 / 8) + _setting(conf, "u", 1.0 / 3))
    return g.apply("Max", x, hint="rrelu", extra_inputs=(g.float_constant("rrelu_level", level),))
