"""What kind of DL4J network an object is, and the DL4J network behind a wrapper.

The lowest layer of bridge.model: it imports nothing of the package but errors and the JVM, so that every
module reading networks (inputs, the exporter, training) can use it.
"""

from __future__ import annotations

from ..errors import DataError
from ..jvm import jclass

__all__ = ["MULTI_LAYER", "COMPUTATION_GRAPH", "as_java", "is_graph", "is_network"]

MULTI_LAYER = "org.deeplearning4j.nn.multilayer.MultiLayerNetwork"
COMPUTATION_GRAPH = "org.deeplearning4j.nn.graph.ComputationGraph"


def is_network(obj) -> bool:
    """True for a DL4J MultiLayerNetwork or ComputationGraph (a JPype proxy)."""
    return _is_java_instance(obj, MULTI_LAYER) or _is_java_instance(obj, COMPUTATION_GRAPH)


def as_java(net):
    """The DL4J network behind a bridge Network (any object whose `.java` is one), or the argument itself if it
    already is a MultiLayerNetwork or a ComputationGraph."""
    if is_network(net):
        return net
    java = getattr(net, "java", None)
    if java is not None and is_network(java):
        return java
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
