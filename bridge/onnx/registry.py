"""The converter registries and the ONNX graph under construction.

One small converter per DL4J class (layer, vertex, preprocessor or activation), registered by decorator
and keyed by the Java class name. Registering a class twice is an error: never a silent overwrite.
A converter may declare `check(conf) -> list[str]`: the settings it cannot convert exactly, which the
exporter collects for the whole network before emitting anything.

Converters work over named tensors, with nothing global moving between them:
    layer:        convert(g, conf, params, x: Tensor) -> Tensor
    vertex:       convert(g, conf, params, inputs: list[Tensor]) -> Tensor
    preprocessor: convert(g, conf, x: Tensor) -> Tensor
    activation:   convert(g, conf, x: Tensor) -> Tensor
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..errors import UnsupportedLayerError
from ..model.inputs import FORMAT_KEYS

__all__ = [
    "Converter",
    "Graph",
    "Tensor",
    "LAYERS",
    "VERTICES",
    "PREPROCESSORS",
    "ACTIVATIONS",
    "layer",
    "vertex",
    "preprocessor",
    "activation",
    "data_format",
    "to_nchw",
    "from_nchw",
    "refuse",
]

FLOAT = TensorProto.FLOAT


@dataclass(frozen=True)
class Tensor:
    """An ONNX tensor by name, with its per-example shape in its own layout: (features,), (C, H, W) for
    NCHW maps or (H, W, C) for NHWC maps."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Converter:
    java_class: str
    convert: Callable
    check: Callable[[dict], list[str]] = lambda conf: []


class Registry(dict):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, *java_classes: str, check: Callable[[dict], list[str]] | None = None):
        def decorate(convert):
            for java_class in java_classes:
                if java_class in self:
                    raise ValueError(
                        f"{self.kind} converter for {java_class} registered twice "
                        f"({self[java_class].convert.__module__} and {convert.__module__})."
                    )
                self[java_class] = Converter(java_class, convert, check or (lambda conf: []))
            return convert

        return decorate


LAYERS = Registry("layer")
VERTICES = Registry("vertex")
PREPROCESSORS = Registry("preprocessor")
ACTIVATIONS = Registry("activation")
layer, vertex, preprocessor, activation = (
    LAYERS.register,
    VERTICES.register,
    PREPROCESSORS.register,
    ACTIVATIONS.register,
)
# Layers whose configuration carries an activation function that DL4J never applies.
ACTIVATION_FREE: set[str] = set()


def refuse(message: str):
    """For what only shows once shapes are known (the scan has seen the configuration only)."""
    raise UnsupportedLayerError(f"This network cannot be exported to ONNX exactly: {message}")


# Reductions whose axes moved from an attribute to an input: ReduceSum at opset 13, the others at 18.
_AXES_AS_INPUT_SINCE = {"ReduceSum": 13}
_AXES_AS_INPUT_DEFAULT = 18


@dataclass
class Graph:
    """ONNX nodes and initializers being built, for one opset.

    Names come from the DL4J layer or vertex being converted (`scope`): nodes `<layer>/<OpType>`
    (`block1_conv1/Conv`), initializers `<layer>/<hint>` (`block1_conv1/W`); a node's output tensor has the
    node's name. A repeated name gets a `_2`, `_3`... suffix, so names are unique across the graph (network
    input and output names are reserved up front). Every node and initializer carries `doc`, the DL4J class
    and configuration it comes from."""

    opset: int
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    used: set = field(default_factory=set)
    scope: str = ""
    doc: str = ""

    def name(self, hint: str) -> str:
        base = f"{self.scope}/{hint}" if self.scope else hint
        candidate, count = base, 1
        while candidate in self.used:
            count += 1
            candidate = f"{base}_{count}"
        self.used.add(candidate)
        return candidate

    def constant(self, hint: str, value) -> str:
        name = self.name(hint)
        tensor = numpy_helper.from_array(np.asarray(value), name)
        tensor.doc_string = self.doc
        self.initializers.append(tensor)
        return name

    def float_constant(self, hint: str, value: float) -> str:
        return self.constant(hint, np.array(value, dtype=np.float32))

    def ints(self, hint: str, values) -> str:
        return self.constant(hint, np.asarray(list(values), dtype=np.int64))

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        """Append a node reading `inputs` (tensor names); return its output's name (the node's name).
        hint: the node's part in the layer ("relu_shift"), added to its doc_string."""
        out = self.name(op_type)
        doc = f"{self.doc} [{hint}]" if hint and self.doc else self.doc or hint
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, doc_string=doc or None, **attrs))
        return out

    def reduce(self, op_type: str, x: str, axes, hint: str | None = None, keepdims: int = 1) -> str:
        """A Reduce* node over `axes`, given as this opset takes them: an input from the opset that made it one
        (ReduceSum 13, the others 18), an attribute before."""
        if self.opset >= _AXES_AS_INPUT_SINCE.get(op_type, _AXES_AS_INPUT_DEFAULT):
            return self.op(op_type, [x, self.ints("axes", axes)], hint, keepdims=keepdims)
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=keepdims)

    def apply(
        self,
        op_type: str,
        x: Tensor,
        shape: tuple[int, ...] | None = None,
        hint: str | None = None,
        extra_inputs: tuple[str, ...] = (),
        **attrs,
    ) -> Tensor:
        """A node on one tensor (plus constant inputs); the output keeps x's shape unless `shape` is given."""
        return Tensor(self.op(op_type, [x.name, *extra_inputs], hint, **attrs), x.shape if shape is None else shape)


def data_format(conf: dict) -> str:
    """A CNN layer's or preprocessor's layout, "NCHW" or "NHWC" (the keys differ between DL4J classes)."""
    for key in FORMAT_KEYS:
        value = conf.get(key)
        if isinstance(value, str) and value in ("NCHW", "NHWC"):
            return value
    return "NCHW"


def to_nchw(g: Graph, x: Tensor, fmt: str) -> Tensor:
    """NHWC maps are converted around an NCHW op (ONNX's Conv, pools and friends are NCHW only);
    ONNX Runtime's optimizer removes transposes that cancel out."""
    if fmt != "NHWC" or len(x.shape) != 3:
        return x
    h, w, c = x.shape
    return g.apply("Transpose", x, (c, h, w), "to_nchw", perm=[0, 3, 1, 2])


def from_nchw(g: Graph, y: Tensor, fmt: str) -> Tensor:
    if fmt != "NHWC" or len(y.shape) != 3:
        return y
    c, h, w = y.shape
    return g.apply("Transpose", y, (h, w, c), "to_nhwc", perm=[0, 2, 3, 1])


def layer_problems(conf: dict, where: str) -> list[str]:
    """What the scan finds in one layer configuration: its converter's refusals and its activation's
    (wrapper layers such as FrozenLayer call this on the layer they wrap)."""
    problems = registry_problems(LAYERS, conf, where)
    if conf["@class"] in LAYERS and conf.get("activationFn") is not None and conf["@class"] not in ACTIVATION_FREE:
        problems += registry_problems(ACTIVATIONS, conf["activationFn"], f"{where} activation")
    return problems


def registry_problems(registry: Registry, conf: dict, where: str) -> list[str]:
    java_class = conf["@class"]
    if java_class not in registry:
        return [f"{where}: {java_class} has no {registry.kind} converter"]
    return [f"{where}: {java_class}: {problem}" for problem in registry[java_class].check(conf)]
