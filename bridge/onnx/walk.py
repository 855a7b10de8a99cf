"""The exporter's intermediate form: a DL4J network as nodes in DL4J's topological order.

A MultiLayerNetwork is the linear case of a graph: layer i reads layer i-1 (through its input
preprocessor, itself a node). A ComputationGraph gives one node per vertex (a LayerVertex's
preprocessor comes first, as its own node), each naming the tensors it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..jvm.arrays import to_numpy

__all__ = ["Node", "Network", "walk"]

LAYER, VERTEX, PREPROCESSOR = "layer", "vertex", "preprocessor"


@dataclass
class Node:
    name: str  # the tensor it writes: the DL4J layer index or vertex name (preprocessors: "<name>/pre")
    kind: str  # LAYER, VERTEX or PREPROCESSOR
    conf: dict  # the layer's, vertex's or preprocessor's configuration JSON
    inputs: list[str]
    where: str  # for messages: "layer 3 (ConvolutionLayer)", "vertex 'res2a' (ElementWiseVertex)"
    params: Callable[[], dict] = field(default=lambda: {}, repr=False)  # fetched when converted
    label: str = ""  # DL4J's layer or vertex name, the prefix of the ONNX names of what it becomes

    def __post_init__(self):
        self.label = self.label or self.name

    @property
    def java_class(self) -> str:
        return self.conf["@class"]


@dataclass
class Network:
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node]


def walk(java, graph: bool) -> Network:
    """The nodes of a MultiLayerNetwork or ComputationGraph (a JPype proxy), in topological order."""
    return _graph(java) if graph else _multi_layer(java)


def _short(java_class: str) -> str:
    return java_class.rsplit(".", 1)[-1]


def _layer_params(java_layer) -> Callable[[], dict]:
    def fetch() -> dict:
        return {str(k): to_numpy(v) for k, v in dict(java_layer.paramTable()).items()}

    return fetch


def _multi_layer(java) -> Network:
    conf = json.loads(str(java.getLayerWiseConfigurations().toJson()))
    pre = conf.get("inputPreProcessors") or {}
    nodes, previous = [], "input"
    for index, layer_conf in enumerate(c["layer"] for c in conf["confs"]):
        where = f"layer {index} ({_short(layer_conf['@class'])})"
        label = str(layer_conf.get("layerName") or f"layer{index}")
        if pre.get(str(index)) is not None:
            nodes.append(
                Node(
                    f"{index}/pre",
                    PREPROCESSOR,
                    pre[str(index)],
                    [previous],
                    f"preprocessor before {where}",
                    label=f"{label}/pre",
                )
            )
            previous = f"{index}/pre"
        params = _layer_params(java.getLayer(index))
        nodes.append(Node(str(index), LAYER, layer_conf, [previous], where, params, label=label))
        previous = str(index)
    return Network(["input"], [previous], nodes)


def _graph(java) -> Network:
    conf = json.loads(str(java.getConfiguration().toJson()))
    vertices = java.getVertices()
    order = [str(vertices[int(i)].getVertexName()) for i in np.asarray(java.topologicalSortOrder())]
    inputs = [str(name) for name in conf["networkInputs"]]
    nodes = []
    for name in order:
        if name in inputs:
            continue
        vertex_conf, reads = conf["vertices"][name], [str(v) for v in conf["vertexInputs"].get(name, [])]
        nodes += _vertex_nodes(java, name, vertex_conf, reads)
    return Network(inputs, [str(name) for name in conf["networkOutputs"]], nodes)


def _vertex_nodes(java, name: str, vertex_conf: dict, reads: list[str]) -> list[Node]:
    if not vertex_conf["@class"].endswith(".LayerVertex"):
        return [Node(name, VERTEX, vertex_conf, reads, f"vertex {name!r} ({_short(vertex_conf['@class'])})")]
    layer_conf = vertex_conf["layerConf"]["layer"]
    where = f"layer {name!r} ({_short(layer_conf['@class'])})"
    nodes = []
    if vertex_conf.get("preProcessor") is not None:
        nodes.append(Node(f"{name}/pre", PREPROCESSOR, vertex_conf["preProcessor"], reads, f"preprocessor of {where}"))
        reads = [f"{name}/pre"]
    nodes.append(Node(name, LAYER, layer_conf, reads, where, _layer_params(java.getLayer(name))))
    return nodes
