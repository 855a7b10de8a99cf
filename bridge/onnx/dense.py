"""Feed-forward layers: DenseLayer, OutputLayer, ActivationLayer, DropoutLayer."""

from __future__ import annotations

from .activations import apply_activation
from .registry import Graph, Tensor, layer, refuse

_L = "org.deeplearning4j.nn.conf.layers."


def _dense_check(conf: dict) -> list[str]:
    return ["hasLayerNorm=true (layer normalisation inside DenseLayer)"] if conf.get("hasLayerNorm") else []


@layer(_L + "DenseLayer", _L + "OutputLayer", check=_dense_check)
def dense(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """x·W + b with W [nIn, nOut]; the loss function does not matter at inference."""
    if len(x.shape) != 1:
        refuse(
            f"{conf['@class'].rsplit('.', 1)[-1]} {conf.get('layerName')!r} on a [N,{','.join(map(str, x.shape))}] "
            "input without a preprocessor to flatten it"
        )
    if params["W"].shape[0] != x.shape[0]:
        refuse(
            f"{conf['@class'].rsplit('.', 1)[-1]} {conf.get('layerName')!r} with nIn={params['W'].shape[0]} on "
            f"{x.shape[0]} features (DL4J's own output() fails on this mismatch too)"
        )
    weights = g.constant("W", params["W"])
    n_out = (params["W"].shape[1],)
    if conf.get("hasBias", True):
        y = g.apply("Gemm", x, n_out, "dense", extra_inputs=(weights, g.constant("b", params["b"].reshape(-1))))
    else:
        y = g.apply("MatMul", x, n_out, "dense", extra_inputs=(weights,))
    return apply_activation(g, conf.get("activationFn"), y)


@layer(_L + "ActivationLayer")
def activation_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    return apply_activation(g, conf.get("activationFn"), x)


@layer(_L + "DropoutLayer")
def dropout_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """Identity at inference (DL4J uses inverted dropout: no rescaling at test time)."""
    return x
