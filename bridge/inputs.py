"""What a DL4J network takes as input, read from its configuration JSON.

DL4J does not store the InputType a network was built with, so the layout is inferred from the
first layer (or preprocessor) that consumes each input:

- a FeedForwardToCnnPreProcessor (``InputType.convolutionalFlat``): a flat row of C*H*W values,
  reshaped to an NCHW image inside the network -> layout "flat", image=(C, H, W);
- a feed-forward layer (Dense, Output, ...): layout "flat", shape (nIn,);
- a convolution-family layer (Convolution, Subsampling, BatchNormalization, ...): layout "NCHW" or
  "NHWC" (its cnn2dDataFormat), channels = its nIn; H and W are unknown unless the bridge
  ``Network`` carries ``input_shapes`` (set by the builders that know them).

    specs = input_specs(net)      # [InputSpec(name="input", layout="flat", shape=(784,), ...)]
    names = output_names(net)     # ["output"] for a MultiLayerNetwork
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import java_errors

__all__ = ["InputSpec", "input_specs", "output_names", "MULTI_LAYER_INPUT", "MULTI_LAYER_OUTPUT"]

MULTI_LAYER_INPUT = "input"  # the one input of a MultiLayerNetwork
MULTI_LAYER_OUTPUT = "output"  # and its one output

_FF_TO_CNN = "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor"
_LAYER_VERTEX = "org.deeplearning4j.nn.conf.graph.LayerVertex"
_PREPROCESSOR_VERTEX = "org.deeplearning4j.nn.conf.graph.PreprocessorVertex"
# Vertices whose output has the shape of their input: the layout is decided further down.
_SHAPE_PRESERVING = {"ElementWiseVertex", "ScaleVertex", "ShiftVertex", "L2NormalizeVertex", "DuplicateToTimeSeriesVertex"}
# Layer JSON keys that hold a CNN2DFormat (DL4J spells the field differently per layer class).
_FORMAT_KEYS = ("cnn2dDataFormat", "cnn2DFormat", "dataFormat", "format")
LAYOUTS = ("flat", "NCHW", "NHWC")


@dataclass(frozen=True)
class InputSpec:
    """One network input.

    name: the input's name ("input" for a MultiLayerNetwork, a networkInputs entry for a graph).
    layout: "flat" (n, F) | "NCHW" (n, C, H, W) | "NHWC" (n, H, W, C).
    shape: per-example shape of the array the network takes, in its own layout: (F,), (C, H, W) or
        (H, W, C); None when the configuration does not tell.
    image: (C, H, W) when a flat row is reshaped into an image inside the network (convolutionalFlat).
    channels: channel count of an image input, even when H and W are unknown.
    """

    name: str
    layout: str
    shape: tuple[int, ...] | None = None
    image: tuple[int, int, int] | None = None
    channels: int | None = None


def input_specs(net) -> list[InputSpec]:
    """The network's inputs in input order. net: a bridge Network, a MultiLayerNetwork or a ComputationGraph."""
    from .nets import as_java, is_graph

    java = as_java(net)
    known = dict(getattr(net, "input_shapes", None) or {})
    if is_graph(java):
        conf = _graph_json(java)
        specs = [_graph_input_spec(conf, name) for name in conf["networkInputs"]]
    else:
        specs = [_multi_layer_input_spec(_multi_layer_json(java))]
    return [_with_known_shape(spec, known.get(spec.name)) for spec in specs]


def output_names(net) -> list[str]:
    """["output"] for a MultiLayerNetwork; the graph's networkOutputs, in order, for a ComputationGraph."""
    from .nets import as_java, is_graph

    java = as_java(net)
    if not is_graph(java):
        return [MULTI_LAYER_OUTPUT]
    with java_errors("reading the graph's outputs"):
        return [str(name) for name in java.getConfiguration().getNetworkOutputs()]


def _graph_json(java) -> dict:
    with java_errors("reading the graph configuration"):
        return json.loads(str(java.getConfiguration().toJson()))


def _multi_layer_json(java) -> dict:
    with java_errors("reading the network configuration"):
        return json.loads(str(java.getLayerWiseConfigurations().toJson()))


def _multi_layer_input_spec(conf: dict) -> InputSpec:
    pre = (conf.get("inputPreProcessors") or {}).get("0")
    return _spec_from(MULTI_LAYER_INPUT, pre, conf["confs"][0]["layer"])


def _graph_input_spec(conf: dict, name: str) -> InputSpec:
    """Walks from the input to the first vertex that says what it takes (breadth first, in vertex order)."""
    consumers = _consumers(conf)
    queue, seen = list(consumers.get(name, [])), set()
    while queue:
        vertex_name = queue.pop(0)
        if vertex_name in seen:
            continue
        seen.add(vertex_name)
        vertex = conf["vertices"][vertex_name]
        kind = vertex.get("@class", "")
        if kind == _LAYER_VERTEX:
            return _spec_from(name, vertex.get("preProcessor"), vertex["layerConf"]["layer"])
        if kind == _PREPROCESSOR_VERTEX:
            return _spec_from(name, vertex.get("preProcessor"), None)
        if kind.rsplit(".", 1)[-1] in _SHAPE_PRESERVING:
            queue.extend(consumers.get(vertex_name, []))
    return InputSpec(name, "flat")  # e.g. an input that only feeds a MergeVertex: nothing tells more


def _consumers(conf: dict) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for vertex_name, inputs in conf["vertexInputs"].items():
        for source in inputs:
            consumers.setdefault(source, []).append(vertex_name)
    return consumers


def _spec_from(name: str, preprocessor: dict | None, layer: dict | None) -> InputSpec:
    if preprocessor and preprocessor.get("@class") == _FF_TO_CNN:
        image = (int(preprocessor["numChannels"]), int(preprocessor["inputHeight"]), int(preprocessor["inputWidth"]))
        return InputSpec(name, "flat", shape=(image[0] * image[1] * image[2],), image=image, channels=image[0])
    if layer is None or preprocessor:
        return InputSpec(name, "flat")
    layout = _image_layout(layer)
    n_in = layer.get("nin")
    if layout is not None:
        return InputSpec(name, layout, channels=int(n_in) if n_in else None)
    return InputSpec(name, "flat", shape=(int(n_in),) if n_in else None)


def _image_layout(layer: dict) -> str | None:
    for key in _FORMAT_KEYS:
        if layer.get(key) in ("NCHW", "NHWC"):
            return layer[key]
    return None


def _with_known_shape(spec: InputSpec, shape) -> InputSpec:
    """Fills `shape` from Network.input_shapes, in the network's own layout."""
    if shape is None or spec.shape is not None:
        return spec
    shape = tuple(int(d) for d in shape)
    channels = spec.channels
    if spec.layout == "NCHW" and len(shape) == 3:
        channels = shape[0]
    elif spec.layout == "NHWC" and len(shape) == 3:
        channels = shape[2]
    return InputSpec(spec.name, spec.layout, shape=shape, image=spec.image, channels=channels)
