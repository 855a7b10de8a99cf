"""DL4J activation functions (org.nd4j.linalg.activations.impl.*) as ONNX ops.

Only exact equivalents are registered; anything else is refused by the exporter's scan.
"""
from __future__ import annotations

from .registry import Graph, Tensor, activation, refuse

_IMPL = "org.nd4j.linalg.activations.impl."


def apply_activation(g: Graph, conf: dict | None, x: Tensor) -> Tensor:
    from .registry import ACTIVATIONS

    if conf is None:
        return x
    return ACTIVATIONS[conf["@class"]].convert(g, conf, x)


def _plain_relu(conf: dict) -> list[str]:
    extras = {k: conf.get(k) for k in ("max", "threshold", "negativeSlope") if conf.get(k) not in (None, 0.0)}
    return [f"ReLU with {extras} (only the plain ReLU is converted)"] if extras else []


@activation(_IMPL + "ActivationIdentity")
def identity(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return x


@activation(_IMPL + "ActivationReLU", check=_plain_relu)
def relu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Relu", x)


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
    return g.apply("Clip", x, hint="hardtanh",
                   extra_inputs=(g.float_constant("minus_one", -1.0), g.float_constant("one", 1.0)))


@activation(_IMPL + "ActivationSoftmax")
def softmax(g: Graph, conf: dict, x: Tensor) -> Tensor:
    if len(x.shape) != 1:
        refuse(f"softmax on a rank-{len(x.shape) + 1} activation of shape [N,{','.join(map(str, x.shape))}] "
               "(only [N, features] softmax is exported; CnnLossLayer's per-pixel softmax is)")
    return g.apply("Softmax", x, axis=1)


@activation(_IMPL + "ActivationSoftPlus")
def softplus(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Softplus", x)


@activation(_IMPL + "ActivationSoftSign")
def softsign(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Softsign", x)


@activation(_IMPL + "ActivationSwish")
def swish(g: Graph, conf: dict, x: Tensor) -> Tensor:
    return g.apply("Mul", x, hint="swish", extra_inputs=(g.apply("Sigmoid", x).name,))


def _gelu_check(conf: dict) -> list[str]:
    return [] if not conf.get("precise") else ["GELU with precise=true (its ND4J kernel has no exact ONNX match)"]


@activation(_IMPL + "ActivationGELU", check=_gelu_check)
def gelu(g: Graph, conf: dict, x: Tensor) -> Tensor:
    # ND4J's default GELU is the sigmoid approximation x * sigmoid(1.702 x).
    scaled = g.op("Mul", [x.name, g.float_constant("gelu_k", 1.702)], "gelu_scaled")
    return g.apply("Mul", x, hint="gelu", extra_inputs=(g.op("Sigmoid", [scaled], "gelu_gate"),))
