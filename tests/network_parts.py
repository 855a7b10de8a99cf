"""What tests read back from a DL4J network: its parameters by key, the layer each key belongs to, and the
configuration of each layer (or graph vertex), frozen wrappers included."""

from __future__ import annotations

import numpy as np

from bridge import nets
from bridge.jvm import jclass
from bridge.jvm.arrays import to_numpy

FROZEN_LAYER = "org.deeplearning4j.nn.conf.layers.misc.FrozenLayer"
FROZEN_VERTEX = "org.deeplearning4j.nn.conf.graph.FrozenVertex"
LAYER_VERTEX = "org.deeplearning4j.nn.conf.graph.LayerVertex"


def params(java) -> dict[str, np.ndarray]:
    """paramTable() copied to numpy: {"0_W": ..., "block1_conv1_W": ...}."""
    table = java.paramTable()
    return {str(k): to_numpy(table.get(k)) for k in table.keySet()}


def owner(key: str) -> str:
    """The layer or vertex a paramTable key belongs to: "0_W" -> "0", "stem_bn_log10stdev" -> "stem_bn"."""
    return key.rsplit("_", 1)[0]


def configurations(java) -> dict[str, object]:
    """Layer index (or vertex name) -> its configuration: the Layer conf, or a graph's non-layer vertex conf."""
    if nets.is_graph(java):
        vertices = java.getConfiguration().getVertices()
        confs = {str(k): vertices.get(k) for k in vertices.keySet()}
        return {k: v.getLayerConf().getLayer() if isinstance(v, jclass(LAYER_VERTEX)) else v for k, v in confs.items()}
    layers = java.getLayerWiseConfigurations()
    return {str(i): layers.getConf(i).getLayer() for i in range(java.getnLayers())}
