"""FrozenLayer, FrozenLayerWithBackprop and FrozenVertex: the layer or vertex they wrap, as it is at inference.

DL4J's TransferLearning builders wrap the layers of a feature extractor in FrozenLayer (a graph's
non-layer vertices in FrozenVertex); freezing only stops their updates, so the forward pass, and the
parameter names in paramTable(), are the wrapped layer's own.
"""

from __future__ import annotations

from ..model.inputs import WRAPPER_KEYS
from .registry import LAYERS, VERTICES, Graph, Tensor, layer, layer_problems, registry_problems, vertex

_MISC = "org.deeplearning4j.nn.conf.layers.misc."
# The configuration key that holds the wrapped layer differs between the two classes.
_WRAPPED = {java_class: key for java_class, key in WRAPPER_KEYS.items() if java_class.startswith(_MISC)}


def _wrapped(conf: dict) -> dict:
    return conf[_WRAPPED[conf["@class"]]]


def _frozen_layer_check(conf: dict) -> list[str]:
    return layer_problems(_wrapped(conf), "the layer it wraps")


@layer(*_WRAPPED, check=_frozen_layer_check)
def frozen_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    inner = _wrapped(conf)
    return LAYERS[inner["@class"]].convert(g, inner, params, x)


def _frozen_vertex_check(conf: dict) -> list[str]:
    return registry_problems(VERTICES, conf["underlying"], "the vertex it wraps")


@vertex("org.deeplearning4j.nn.conf.graph.FrozenVertex", check=_frozen_vertex_check)
def frozen_vertex(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    inner = conf["underlying"]
    return VERTICES[inner["@class"]].convert(g, inner, params, inputs)
