"""DL4J activation functions (org.nd4j.linalg.activations.impl.*) as ONNX ops.

Only exact equivalents are registered; anything else is refused by the exporter's scan.
"""
from __future__ import annotations

from .registry import Graph, activation

_IMPL = "org.nd4j.linalg.activations.impl."


def apply_activation(g: Graph, conf: dict | None) -> None:
    from .registry import ACTIVATIONS

    if conf is None:
        return
    ACTIVATIONS[conf["@class"]].convert(g, conf)


def _plain_relu(conf: dict) -> list[str]:
    extras = {k: conf.get(k) for k in ("max", "threshold", "negativeSlope") if conf.get(k) not in (None, 0.0)}
    return [f"ReLU with {extras} (only the plain ReLU is converted)"] if extras else []


@activation(_IMPL + "ActivationIdentity")
def identity(g: Graph, conf: dict) -> None:
    pass


@activation(_IMPL + "ActivationReLU", check=_plain_relu)
def relu(g: Graph, conf: dict) -> None:
    g.apply("Relu")


@activation(_IMPL + "ActivationReLU6")
def relu6(g: Graph, conf: dict) -> None:
    g.op("Clip", [g.x, g.float_constant("zero", 0.0), g.float_constant("six", 6.0)], "relu6")


@activation(_IMPL + "ActivationLReLU")
def leaky_relu(g: Graph, conf: dict) -> None:
    g.apply("LeakyRelu", alpha=float(conf.get("alpha", 0.01)))


@activation(_IMPL + "ActivationELU")
def elu(g: Graph, conf: dict) -> None:
    g.apply("Elu", alpha=float(conf.get("alpha", 1.0)))


@activation(_IMPL + "ActivationSELU")
def selu(g: Graph, conf: dict) -> None:
    g.apply("Selu")  # ONNX's default alpha and gamma are SELU's constants, as DL4J's are


@activation(_IMPL + "ActivationSigmoid")
def sigmoid(g: Graph, conf: dict) -> None:
    g.apply("Sigmoid")


@activation(_IMPL + "ActivationHardSigmoid")
def hard_sigmoid(g: Graph, conf: dict) -> None:
    g.apply("HardSigmoid", alpha=0.2, beta=0.5)  # DL4J: min(1, max(0, 0.2 x + 0.5))


@activation(_IMPL + "ActivationTanH")
def tanh(g: Graph, conf: dict) -> None:
    g.apply("Tanh")


@activation(_IMPL + "ActivationHardTanH")
def hard_tanh(g: Graph, conf: dict) -> None:
    g.op("Clip", [g.x, g.float_constant("minus_one", -1.0), g.float_constant("one", 1.0)], "hardtanh")


@activation(_IMPL + "ActivationSoftmax")
def softmax(g: Graph, conf: dict) -> None:
    g.apply("Softmax", axis=1)


@activation(_IMPL + "ActivationSoftPlus")
def softplus(g: Graph, conf: dict) -> None:
    g.apply("Softplus")


@activation(_IMPL + "ActivationSoftSign")
def softsign(g: Graph, conf: dict) -> None:
    g.apply("Softsign")


@activation(_IMPL + "ActivationSwish")
def swish(g: Graph, conf: dict) -> None:
    x = g.x
    g.op("Mul", [x, g.apply("Sigmoid")], "swish")


def _gelu_check(conf: dict) -> list[str]:
    return [] if not conf.get("precise") else ["GELU with precise=true (its ND4J kernel has no exact ONNX match)"]


@activation(_IMPL + "ActivationGELU", check=_gelu_check)
def gelu(g: Graph, conf: dict) -> None:
    # ND4J's default GELU is the sigmoid approximation x * sigmoid(1.702 x).
    x = g.x
    scaled = g.op("Mul", [x, g.float_constant("gelu_k", 1.702)], "gelu_scaled")
    g.op("Mul", [x, g.op("Sigmoid", [scaled], "gelu_gate")], "gelu")
