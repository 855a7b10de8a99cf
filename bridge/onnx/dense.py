"""Feed-forward layers: DenseLayer, OutputLayer, ActivationLayer, DropoutLayer."""
from __future__ import annotations

from .activations import apply_activation
from .registry import Graph, layer

_L = "org.deeplearning4j.nn.conf.layers."


def _dense_check(conf: dict) -> list[str]:
    return ["hasLayerNorm=true (layer normalisation inside DenseLayer)"] if conf.get("hasLayerNorm") else []


@layer(_L + "DenseLayer", _L + "OutputLayer", check=_dense_check)
def dense(g: Graph, conf: dict, params: dict) -> None:
    """x·W + b with W [nIn, nOut]; the loss function does not matter at inference."""
    weights = g.constant("W", params["W"])
    if conf.get("hasBias", True):
        g.op("Gemm", [g.x, weights, g.constant("b", params["b"].reshape(-1))], "dense")
    else:
        g.op("MatMul", [g.x, weights], "dense")
    g.shape = (params["W"].shape[1],)
    apply_activation(g, conf.get("activationFn"))


@layer(_L + "ActivationLayer")
def activation_layer(g: Graph, conf: dict, params: dict) -> None:
    apply_activation(g, conf.get("activationFn"))


@layer(_L + "DropoutLayer")
def dropout_layer(g: Graph, conf: dict, params: dict) -> None:
    """Identity at inference (DL4J uses inverted dropout: no rescaling at test time)."""
