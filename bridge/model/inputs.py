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
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, ShapeError, java_errors
from ..jvm import jclass
from ..jvm.arrays import as_float32, require_float_array
from .kinds import as_java, is_graph

__all__ = [
    "InputSpec",
    "input_specs",
    "input_types",
    "output_names",
    "output_sizes",
    "prepare_features",
    "MULTI_LAYER_INPUT",
    "MULTI_LAYER_OUTPUT",
    "known_input_shapes",
    "record_input_shapes",
    "remember_input_shape",
]

MULTI_LAYER_INPUT = "input"  # the one input of a MultiLayerNetwork
MULTI_LAYER_OUTPUT = "output"  # and its one output

_FF_TO_CNN = "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor"
_LAYER_VERTEX = "org.deeplearning4j.nn.conf.graph.LayerVertex"
_PREPROCESSOR_VERTEX = "org.deeplearning4j.nn.conf.graph.PreprocessorVertex"
# Vertices whose per-example output has the shape of their input: the layout is decided further down.
_SHAPE_PRESERVING = {
    "ElementWiseVertex",
    "ScaleVertex",
    "ShiftVertex",
    "L2NormalizeVertex",
    "DuplicateToTimeSeriesVertex",
    "StackVertex",
    "UnstackVertex",
}
_RESHAPE_VERTEX = "org.deeplearning4j.nn.conf.graph.ReshapeVertex"
# Wrappers that keep the wrapped layer's (or vertex's) input: the configuration key that holds it
# (the exporter's frozen converters read the same table).
WRAPPER_KEYS = {
    "org.deeplearning4j.nn.conf.layers.misc.FrozenLayer": "layer",
    "org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop": "underlying",
    "org.deeplearning4j.nn.conf.graph.FrozenVertex": "underlying",
}
# Layer JSON keys that hold a CNN2DFormat (DL4J spells the field differently per layer class).
FORMAT_KEYS = ("cnn2dDataFormat", "cnn2DFormat", "dataFormat", "format")
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
    java = as_java(net)
    known = known_input_shapes(net)
    if is_graph(java):
        conf = _graph_json(java)
        specs = [_graph_input_spec(conf, name) for name in conf["networkInputs"]]
    else:
        specs = [_multi_layer_input_spec(_multi_layer_json(java))]
    return [_with_known_shape(spec, known.get(spec.name)) for spec in specs]


# Image shapes that bridge.fit saw for raw DL4J networks (no bridge Network to carry them), by network: DL4J's
# configuration keeps no height and width for InputType.convolutional. Weak: a network's entry goes with it.
_RAW_INPUT_SHAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def known_input_shapes(net) -> dict[str, tuple[int, ...]]:
    """The per-example input shapes known beside the configuration: a bridge Network's input_shapes, or those
    recorded for a raw MultiLayerNetwork / ComputationGraph by record_input_shapes."""
    shapes = getattr(net, "input_shapes", None)
    if shapes is None:  # a raw network, or a wrapper made after bridge.fit trained the raw one
        shapes = _RAW_INPUT_SHAPES.get(as_java(net))
    return dict(shapes or {})


def record_input_shapes(net, features: list[np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Remember the image shapes (C, H, W) / (H, W, C) of `features` (one checked array per input, as
    prepare_features returns them) for the inputs whose height and width the configuration does not tell, so
    that exporting and saving the network need no input_shape afterwards. Returns what is now known."""
    shapes = {spec.name: array.shape[1:] for spec, array in zip(input_specs(net), features) if array.ndim == 4}
    return _remember_image_shapes(net, shapes)


def remember_input_shape(net, input_shape) -> dict[str, tuple[int, ...]]:
    """Remember an image shape given once (export_onnx's input_shape: a shape, or a dict by input name) for the
    inputs whose height and width the configuration does not tell. Returns what is now known."""
    if input_shape is None:
        return known_input_shapes(net)
    names = [spec.name for spec in input_specs(net)]
    if not isinstance(input_shape, dict):
        input_shape = {names[0]: input_shape} if len(names) == 1 else {}
    return _remember_image_shapes(net, {k: v for k, v in input_shape.items() if not isinstance(v, int)})


def _remember_image_shapes(net, shapes: dict) -> dict[str, tuple[int, ...]]:
    """Keep the (C, H, W) / (H, W, C) of `shapes` for the image inputs that lack them: on a bridge Network, or
    beside a raw DL4J network."""
    found = {
        spec.name: tuple(int(d) for d in shapes[spec.name])
        for spec in input_specs(net)
        if spec.shape is None and spec.layout in ("NCHW", "NHWC") and len(shapes.get(spec.name, ())) == 3
    }
    known = known_input_shapes(net)
    if not found:
        return known
    known.update(found)
    if as_java(net) is net:
        _RAW_INPUT_SHAPES[net] = known
    else:
        net.input_shapes = known
    return known


def input_types(net) -> list:
    """DL4J InputTypes of the network's inputs, in input order (DataError where a shape is unknown)."""
    conf = "org.deeplearning4j.nn.conf."
    InputType, formats = jclass(conf + "inputs.InputType"), jclass(conf + "CNN2DFormat")
    types = []
    for spec in input_specs(net):
        if spec.shape is None:
            raise DataError(
                f"The shape of input {spec.name!r} ({spec.layout}) is unknown: build the Network with "
                f"input_shapes={{{spec.name!r}: ...}}."
            )
        if spec.layout == "flat":
            types.append(InputType.feedForward(spec.shape[0]))
        elif spec.layout == "NCHW":
            c, h, w = spec.shape
            types.append(InputType.convolutional(h, w, c, formats.NCHW))
        else:
            h, w, c = spec.shape
            types.append(InputType.convolutional(h, w, c, formats.NHWC))
    return types


def output_names(net) -> list[str]:
    """["output"] for a MultiLayerNetwork; the graph's networkOutputs, in order, for a ComputationGraph."""
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


# Layers that keep their input's shape and do not tell it (BatchNormalization's format key is there for
# flat input too): the layers after them decide.
_PASS_THROUGH = {"ActivationLayer", "DropoutLayer", "BatchNormalization"}
_CNN_TO_FF = "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor"


def _multi_layer_input_spec(conf: dict) -> InputSpec:
    pre = conf.get("inputPreProcessors") or {}
    layers = [_unwrapped(c["layer"]) for c in conf["confs"]]
    for index, layer in enumerate(layers):
        here = pre.get(str(index))
        if index and here and here.get("@class") == _CNN_TO_FF:  # an image went through the pass-through layers
            return _image_spec(here)
        if here or layer["@class"].rsplit(".", 1)[-1] not in _PASS_THROUGH or index == len(layers) - 1:
            return _spec_from(MULTI_LAYER_INPUT, here, layer)
    return InputSpec(MULTI_LAYER_INPUT, "flat")


def _image_spec(cnn_to_ff: dict) -> InputSpec:
    c, h, w = (int(cnn_to_ff[k]) for k in ("numChannels", "inputHeight", "inputWidth"))
    layout = cnn_to_ff.get("format") or "NCHW"
    return InputSpec(MULTI_LAYER_INPUT, layout, shape=(h, w, c) if layout == "NHWC" else (c, h, w), channels=c)


def _graph_input_spec(conf: dict, name: str) -> InputSpec:
    """Walks from the input to the first vertex that says what it takes (breadth first, in vertex order)."""
    consumers = _consumers(conf)
    queue, seen = list(consumers.get(name, [])), set()
    while queue:
        vertex_name = queue.pop(0)
        if vertex_name in seen:
            continue
        seen.add(vertex_name)
        vertex = _unwrapped(conf["vertices"][vertex_name])
        kind = vertex.get("@class", "")
        if kind == _LAYER_VERTEX:
            layer = _unwrapped(vertex["layerConf"]["layer"])
            if not vertex.get("preProcessor") and layer["@class"].rsplit(".", 1)[-1] in _PASS_THROUGH:
                queue.extend(consumers.get(vertex_name, []))  # keeps its input's shape: look further
                continue
            return _spec_from(name, vertex.get("preProcessor"), layer)
        if kind == _PREPROCESSOR_VERTEX:
            return _spec_from(name, vertex.get("preProcessor"), None)
        if kind == _RESHAPE_VERTEX:
            return _reshape_input_spec(name, vertex)
        if kind.rsplit(".", 1)[-1] in _SHAPE_PRESERVING:
            queue.extend(consumers.get(vertex_name, []))
    return InputSpec(name, "flat")  # e.g. an input that only feeds a MergeVertex: nothing tells more


def _unwrapped(conf: dict) -> dict:
    while conf.get("@class") in WRAPPER_KEYS:
        conf = conf[WRAPPER_KEYS[conf["@class"]]]
    return conf


def _reshape_input_spec(name: str, vertex: dict) -> InputSpec:
    """A ReshapeVertex fed by the input: flat rows of as many values as one reshaped example holds (a
    C-order reshape of an image equals that of its flattened row; the verification checks the rest)."""
    per_example = vertex.get("newShape") or []
    if len(per_example) < 2 or per_example[0] != -1 or any(d <= 0 for d in per_example[1:]):
        return InputSpec(name, "flat")  # the exporter refuses such a reshape by name
    return InputSpec(name, "flat", shape=(int(np.prod(per_example[1:])),))


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


# A GlobalPoolingLayer records no format, but the axes it pools, which DL4J sets from the input type.
_POOLED_AXES_LAYOUT = {(2, 3): "NCHW", (1, 2): "NHWC"}


def _image_layout(layer: dict) -> str | None:
    for key in FORMAT_KEYS:
        if layer.get(key) in ("NCHW", "NHWC"):
            return layer[key]
    return _POOLED_AXES_LAYOUT.get(tuple(layer.get("poolingDimensions") or ()))


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


def output_sizes(net) -> list[int | None]:
    """Width (nOut) of each network output, in output_names order; None where the output layer has none."""
    java = as_java(net)
    if not is_graph(java):
        return [_n_out(_multi_layer_json(java)["confs"][-1]["layer"])]
    conf = _graph_json(java)
    return [_n_out(conf["vertices"][name].get("layerConf", {}).get("layer", {})) for name in conf["networkOutputs"]]


def _n_out(layer: dict) -> int | None:
    return int(layer["nout"]) if layer.get("nout") else None


def prepare_features(net, x, name: str = "x") -> list[np.ndarray]:
    """x checked against the network's inputs, as one C-contiguous float32 array per input, in input order.

    x: a numpy array for a single-input network, or a dict {input name: array} (required when the network
    has several inputs). Accepted per input layout:
      flat:  (n, F); (n, C, H, W) too when the network reshapes its flat input into a C x H x W image
      NCHW:  (n, C, H, W)          NHWC: (n, H, W, C)
      either image layout: flat C-order rows (n, C*H*W) too, when the network's input shape is known
    An image in the other channel order is refused (ShapeError), never silently misread.
    """
    specs = input_specs(net)
    arrays = _arrays_by_input(specs, x, name)
    prepared = [_prepare_one(spec, array, _label(name, spec, len(specs))) for spec, array in zip(specs, arrays)]
    rows = {len(a) for a in prepared}
    if len(rows) > 1:
        sizes = ", ".join(f"{s.name}: {len(a)}" for s, a in zip(specs, prepared))
        raise ShapeError(f"Every input of `{name}` needs the same number of rows; received {sizes}.")
    return prepared


def _label(name: str, spec: InputSpec, count: int) -> str:
    return argument_label(name, spec.name, count)


def argument_label(name: str, key: str, count: int) -> str:
    """How an error names one input's (or output's) part of argument `name`: x, or x['image'] when there are several."""
    return name if count == 1 else f"{name}[{key!r}]"


def _arrays_by_input(specs: list[InputSpec], x, name: str) -> list:
    return by_name([spec.name for spec in specs], x, name, "input", "array")


def by_name(names: list[str], value, name: str, kind: str, item: str) -> list:
    """`value` as one entry per network input (kind="input") or output, in `names` order: a dict keyed by exactly
    those names, or the value itself when there is one; DataError naming argument `name` otherwise."""
    if isinstance(value, dict):
        if set(value) != set(names):
            raise DataError(
                f"Received `{name}` with keys {sorted(map(str, value))}; this network's {kind}s are "
                f"{names}. Pass a dict with exactly those keys."
            )
        return [value[n] for n in names]
    if len(names) > 1:
        raise DataError(
            f"This network has {len(names)} {kind}s {names}: pass `{name}` as a dict "
            f"{{{kind} name: {item}}}, received {type(value).__name__}."
        )
    return [value]


def _prepare_one(spec: InputSpec, x, name: str) -> np.ndarray:
    x = require_float_array(x, name)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"Received empty data: `{name}` has no rows (shape {x.shape}).")
    if spec.layout == "flat":
        x = _flat(spec, x, name)
    elif x.ndim == 2 and spec.shape is not None and x.shape[1] == int(np.prod(spec.shape)):
        x = x.reshape(len(x), *spec.shape)  # flat C-order rows of the network's own layout
    else:
        _check_image(spec, x, name)
    return as_float32(x, name)  # finite checked after the cast: a float64 1e300 is inf in float32


def _flat(spec: InputSpec, x: np.ndarray, name: str) -> np.ndarray:
    width = spec.shape[0] if spec.shape else None
    if spec.image is not None and x.ndim == 4:
        c, h, w = spec.image
        if tuple(x.shape[1:]) != spec.image:
            raise ShapeError(
                _image_message(
                    name,
                    x.shape,
                    f"(n, {c}, {h}, {w}) or (n, {c * h * w})",
                    channels_last=tuple(x.shape[1:]) == (h, w, c),
                    takes="NCHW",
                )
            )
        return x.reshape(len(x), -1)
    if width is not None and spec.image is None and x.ndim == 4 and int(np.prod(x.shape[1:])) == width:
        return x.reshape(len(x), width)  # e.g. (n, 1, 28, 28) digits into a 784-input MLP
    if x.ndim != 2 or (width is not None and x.shape[1] != width):
        expected = f"(n, {width})" if width is not None else "(n, features)"
        if spec.image is not None:
            expected += " or (n, " + ", ".join(map(str, spec.image)) + ")"
        raise ShapeError(f"Expected `{name}` of shape {expected}, received {x.shape}.")
    return x


def _check_image(spec: InputSpec, x: np.ndarray, name: str) -> None:
    expected = _expected_image_shape(spec)
    if x.ndim != 4:
        raise ShapeError(f"Expected `{name}` of shape {expected} ({spec.layout} images), received {x.shape}.")
    channel_axis, other_axis = (1, 3) if spec.layout == "NCHW" else (3, 1)
    c = spec.channels
    wrong_channels = c is not None and x.shape[channel_axis] != c
    if wrong_channels or (spec.shape is not None and tuple(x.shape[1:]) != spec.shape):
        swapped = wrong_channels and x.shape[other_axis] == c
        raise ShapeError(
            _image_message(
                name,
                x.shape,
                expected,
                channels_last=swapped and spec.layout == "NCHW",
                channels_first=swapped and spec.layout == "NHWC",
                takes=spec.layout,
            )
        )


def _expected_image_shape(spec: InputSpec) -> str:
    if spec.shape is not None:
        return "(n, " + ", ".join(map(str, spec.shape)) + ")"
    c = spec.channels if spec.channels is not None else "C"
    return f"(n, {c}, H, W)" if spec.layout == "NCHW" else f"(n, H, W, {c})"


def _image_message(
    name: str, shape, expected: str, takes: str, channels_last: bool = False, channels_first: bool = False
) -> str:
    """The shape error, and when the array is the right image in the other channel order, the transpose."""
    message = f"Expected `{name}` of shape {expected}, received {shape}."
    if channels_last:
        message += (
            f" It looks channels-last (n, H, W, C); this network takes {takes} images (n, C, H, W): "
            f"pass np.transpose({name}, (0, 3, 1, 2))."
        )
    elif channels_first:
        message += (
            f" It looks channels-first (n, C, H, W); this network takes {takes} images (n, H, W, C): "
            f"pass np.transpose({name}, (0, 2, 3, 1))."
        )
    return message
