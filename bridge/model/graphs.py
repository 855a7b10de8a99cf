"""DL4J ComputationGraphs from Python: named nodes, merges and skip connections (use it as `nets.graph`).

    net = nets.graph(inputs={"image": (1, 28, 28)},
                     nodes={"c1": (nets.Conv2D(16, 3, mode="same"), "image"),
                            "c2": (nets.Conv2D(16, 3, mode="same", activation="identity"), "c1"),
                            "sum": (nets.Add(), "c1", "c2"),
                            "pool": (nets.GlobalPool("avg"), "sum"),
                            "out": (nets.Output(10), "pool")},
                     outputs=["out"], updater=nets.Adam(1e-3), seed=42)

Every node is `name: (spec, input_name, ...)`: a layer spec of bridge.nets (Dense, Conv2D, ...), a
vertex spec of this module (Add, Concat, ...) or a DL4J Layer / GraphVertex configuration object.
`nodes` may also be a list of `(name, spec, input_name, ...)` tuples, where duplicate names are
caught (a dict literal silently keeps the last of two equal keys).

Inputs: `n_features` (an int) is a flat input, arrays (n, n_features). `(channels, height, width)`
is an image input of DL4J's InputType.convolutional: arrays (n, C, H, W) in NCHW order, with no
flat-row preprocessor (unlike `nets.sequential`, whose image networks take flat rows). The graph
checks names, arities, cycles and reachability in Python, before any call into the JVM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import DataError, java_boundary, java_errors
from ..jvm import jclass
from .keras_names import image_layout
from .layers import Activation, BatchNorm, Conv2D, base_configuration, check_weight_init
from .network import Network

__all__ = [
    "graph",
    "residual_block",
    "Add",
    "Subtract",
    "Product",
    "Average",
    "Max",
    "Concat",
    "Scale",
    "Shift",
    "L2Normalize",
    "Subset",
]

_CONF = "org.deeplearning4j.nn.conf."
_UNBOUNDED = 1 << 30


class _Vertex:
    """A graph vertex spec: `min_inputs`/`max_inputs` are checked in Python before DL4J sees the graph."""

    min_inputs = 1
    max_inputs = 1


class _ElementWise(_Vertex):
    op = ""
    min_inputs = 2
    max_inputs = _UNBOUNDED

    def to_java(self):
        op = jclass(_CONF + "graph.ElementWiseVertex$Op").valueOf(self.op)
        return jclass(_CONF + "graph.ElementWiseVertex")(op)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Add(_ElementWise):
    """Element-wise sum of two or more inputs of the same shape (a residual connection)."""

    op = "Add"


class Subtract(_ElementWise):
    """First input minus the second."""

    op = "Subtract"
    max_inputs = 2


class Product(_ElementWise):
    """Element-wise product of two or more inputs."""

    op = "Product"


class Average(_ElementWise):
    """Element-wise mean of two or more inputs."""

    op = "Average"


class Max(_ElementWise):
    """Element-wise maximum of two or more inputs."""

    op = "Max"


@dataclass(frozen=True)
class Concat(_Vertex):
    """Concatenation along the feature axis: channels for images (n, C, H, W), features for (n, F).
    DL4J's MergeVertex; the inputs must agree on every other axis."""

    min_inputs = 1
    max_inputs = _UNBOUNDED

    def to_java(self):
        return jclass(_CONF + "graph.MergeVertex")()


@dataclass(frozen=True)
class Scale(_Vertex):
    """Multiplies its input by a constant `factor`."""

    factor: float

    def to_java(self):
        return jclass(_CONF + "graph.ScaleVertex")(float(self.factor))


@dataclass(frozen=True)
class Shift(_Vertex):
    """Adds a constant `value` to its input."""

    value: float

    def to_java(self):
        return jclass(_CONF + "graph.ShiftVertex")(float(self.value))


@dataclass(frozen=True)
class L2Normalize(_Vertex):
    """x / max(||x||_2, eps) per example, over `axes` (default: every non-batch axis)."""

    eps: float = 1e-8
    axes: tuple[int, ...] | None = None

    def to_java(self):
        import jpype

        axes = jpype.JArray(jpype.JInt)(list(self.axes)) if self.axes else None
        return jclass(_CONF + "graph.L2NormalizeVertex")(axes, float(self.eps))


@dataclass(frozen=True)
class Subset(_Vertex):
    """Features (or channels, for images) `start` up to but excluding `stop`, as in Python's x[:, start:stop].

    DL4J's SubsetVertex(from, to) includes `to`: it receives stop - 1.
    """

    start: int
    stop: int

    def to_java(self):
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.start, self.stop))
        if not ok or not 0 <= self.start < self.stop:
            raise DataError(
                f"Received an invalid Subset(start={self.start!r}, stop={self.stop!r}): expected "
                "integers with 0 <= start < stop (Python slice bounds, stop excluded)."
            )
        return jclass(_CONF + "graph.SubsetVertex")(self.start, self.stop - 1)


@java_boundary("graph")
def graph(
    inputs: Mapping[str, object],
    nodes,
    outputs,
    updater=None,
    seed: int = 42,
    weight_init: str = "xavier",
    l2: float = 0.0,
    name: str = "graph",
    labels: Sequence[str] | None = None,
    data_format: str | None = None,
):
    """A ComputationGraph from named nodes, initialised with `seed`; returns a bridge `Network`.

    inputs: {name: n_features or (channels, height, width)}, in the order DL4J takes the arrays. An image shape
    that reads as Keras' (height, width, channels) just as well, such as (32, 32, 3), needs data_format:
    "channels_first" reads it as above, "channels_last" as (height, width, channels) (NHWC: (n, H, W, C) arrays).
    nodes: {name: (spec, input_name, ...)} or [(name, spec, input_name, ...)].
    outputs: the node names whose activations the network returns (a name or a list); training
    needs them to be output layers (nets.Output).
    The returned Network has `input_shapes`: {input name: per-example shape}.
    """
    input_shapes = _input_shapes(inputs)
    layouts = {n: image_layout(s, data_format, f"inputs[{n!r}]") for n, s in input_shapes.items() if len(s) == 3}
    node_list = _node_list(nodes)
    outputs = [outputs] if isinstance(outputs, str) else list(outputs or ())
    _check_graph(input_shapes, node_list, outputs)
    check_weight_init(weight_init)
    with java_errors(f"building graph {name!r}"):
        builder = (
            base_configuration(updater, seed, weight_init, l2)
            .graphBuilder()
            .addInputs(*input_shapes)
            .setInputTypes(*[_input_type(s, layouts.get(n)) for n, s in input_shapes.items()])
        )
        for node, spec, sources in node_list:
            builder = _add_node(builder, node, spec, sources)
        conf = builder.setOutputs(*outputs).build()
        java = jclass("org.deeplearning4j.nn.graph.ComputationGraph")(conf)
        java.init()
    net = Network(java, name=name, labels=labels)
    net.input_shapes = input_shapes
    return net


def residual_block(name: str, source: str, filters: int, stride: int = 1, project: bool | None = None) -> dict:
    """The nodes of a ResNet basic block reading `source`; its output node is `name`.

    conv3x3(stride) - batch norm - relu - conv3x3 - batch norm, plus the shortcut (identity, or a
    strided 1x1 convolution with batch norm when `project` is set, by default when stride > 1),
    summed and passed through relu. Merge the result into `nodes`: {**residual_block("b1", "stem", 32)}.
    """
    project = stride > 1 if project is None else project
    block = {
        f"{name}_conv1": (Conv2D(filters, 3, stride=stride, mode="same", activation="identity", bias=False), source),
        f"{name}_bn1": (BatchNorm(), f"{name}_conv1"),
        f"{name}_relu1": (Activation("relu"), f"{name}_bn1"),
        f"{name}_conv2": (Conv2D(filters, 3, mode="same", activation="identity", bias=False), f"{name}_relu1"),
        f"{name}_bn2": (BatchNorm(), f"{name}_conv2"),
    }
    shortcut = source
    if project:
        block[f"{name}_proj"] = (
            Conv2D(filters, 1, stride=stride, mode="same", activation="identity", bias=False),
            source,
        )
        block[f"{name}_proj_bn"] = (BatchNorm(), f"{name}_proj")
        shortcut = f"{name}_proj_bn"
    block[f"{name}_add"] = (Add(), f"{name}_bn2", shortcut)
    block[name] = (Activation("relu"), f"{name}_add")
    return block


def _input_shapes(inputs) -> dict[str, tuple[int, ...]]:
    if not isinstance(inputs, Mapping) or not inputs:
        raise DataError(
            "Received an invalid value for `inputs`, expected a non-empty dict {name: n_features or "
            f"(channels, height, width)}}. Received: inputs={inputs!r}"
        )
    shapes = {}
    for input_name, shape in inputs.items():
        _check_name(input_name, "input")
        shape = (shape,) if isinstance(shape, int) else tuple(shape) if isinstance(shape, (tuple, list)) else None
        if (
            shape is None
            or len(shape) not in (1, 3)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
        ):
            raise DataError(
                f"Received an invalid shape for input {input_name!r}: {inputs[input_name]!r}. Expected "
                "n_features (a positive int) or (channels, height, width) of positive ints."
            )
        shapes[input_name] = shape
    return shapes


def _input_type(shape: tuple[int, ...], layout: str | None):
    InputType = jclass(_CONF + "inputs.InputType")
    if len(shape) == 1:
        return InputType.feedForward(shape[0])
    if layout == "NHWC":  # Keras' channels-last: arrays (n, H, W, C)
        h, w, c = shape
        return InputType.convolutional(h, w, c, jclass(_CONF + "CNN2DFormat").NHWC)
    c, h, w = shape
    return InputType.convolutional(h, w, c)  # arrays (n, C, H, W): no flat-row preprocessor


def _node_list(nodes) -> list[tuple[str, object, tuple[str, ...]]]:
    """[(name, spec, input names)] from the dict or list form, every entry's shape checked."""
    if isinstance(nodes, Mapping):
        entries = [(node, value) for node, value in nodes.items()]
    elif isinstance(nodes, (list, tuple)):
        entries = [(_entry_name(entry), tuple(entry)[1:]) for entry in nodes]
    else:
        entries = None
    if not entries:
        raise DataError(
            "Received an invalid value for `nodes`, expected a non-empty dict {name: (spec, input, ...)} "
            f"or list [(name, spec, input, ...)]. Received: nodes={nodes!r}"
        )
    result = []
    for node, value in entries:
        _check_name(node, "node")
        if not isinstance(value, tuple) or len(value) < 2 or not all(isinstance(s, str) for s in value[1:]):
            raise DataError(
                f"Received an invalid definition for node {node!r}: {value!r}. Expected "
                "(spec, input_name, ...) with at least one input name, e.g. (nets.Dense(64), 'features')."
            )
        result.append((node, value[0], tuple(value[1:])))
    return result


def _entry_name(entry):
    if not isinstance(entry, (tuple, list)) or len(entry) < 3:
        raise DataError(f"Received an invalid node {entry!r}: expected (name, spec, input_name, ...).")
    return entry[0]


def _check_name(name, kind: str) -> None:
    if not isinstance(name, str) or not name:
        raise DataError(f"Received an invalid {kind} name {name!r}: expected a non-empty string.")


def _check_graph(input_shapes: dict, node_list: list, outputs: list[str]) -> None:
    """Names, arities, cycles and reachability, before any call into the JVM."""
    names = set(input_shapes)
    for node, _, _ in node_list:
        if node in names:
            kind = "an input" if node in input_shapes else "another node"
            raise DataError(
                f"Duplicate name {node!r}: a node has the same name as {kind}. Give each node and input a unique name."
            )
        names.add(node)
    for node, spec, sources in node_list:
        for source in sources:
            if source not in names:
                raise DataError(
                    f"Node {node!r} reads {source!r}, which is neither an input nor a node. Known names: "
                    f"{', '.join(sorted(names))}."
                )
        _check_arity(node, spec, len(sources))
    if not outputs:
        raise DataError("Received an empty `outputs`: name at least one node whose activations the network returns.")
    for output in outputs:
        if output not in names or output in input_shapes:
            raise DataError(
                f"Output {output!r} is not a node of the graph. Nodes: {', '.join(node for node, _, _ in node_list)}."
            )
    _check_acyclic(node_list)
    _check_reachability(input_shapes, node_list, outputs)


def _check_arity(node: str, spec, n_inputs: int) -> None:
    low, high = _arity(node, spec)
    if not low <= n_inputs <= high:
        expected = f"exactly {low}" if low == high else f"at least {low}" if high >= _UNBOUNDED else f"{low} to {high}"
        hint = " To combine several inputs, feed them through nets.Concat() or nets.Add() first." if high == 1 else ""
        raise DataError(f"Node {node!r} ({_spec_name(spec)}) takes {expected} input(s), received {n_inputs}.{hint}")


def _arity(node: str, spec) -> tuple[int, int]:
    if isinstance(spec, _Vertex):
        return spec.min_inputs, spec.max_inputs
    if hasattr(spec, "to_java"):  # a layer spec of bridge.nets
        return 1, 1
    if _is_java(spec, _CONF + "layers.Layer"):
        return 1, 1
    if _is_java(spec, _CONF + "graph.GraphVertex"):
        return int(spec.minVertexInputs()), int(spec.maxVertexInputs())
    raise DataError(
        f"Node {node!r} has an unknown spec {spec!r}: expected a layer of bridge.nets (Dense, Conv2D, "
        "...), a vertex (Add, Concat, ...), or a DL4J Layer or GraphVertex configuration."
    )


def _spec_name(spec) -> str:
    return type(spec).__name__ if hasattr(spec, "to_java") else str(spec.getClass().getSimpleName())


def _is_java(obj, class_name: str) -> bool:
    try:
        return isinstance(obj, jclass(class_name))
    except TypeError:
        return False


def _check_acyclic(node_list: list) -> None:
    """Kahn's algorithm: whatever cannot be ordered lies on a cycle (or behind one)."""
    pending = {node: {s for s in sources if s != node} for node, _, sources in node_list}
    self_loops = [node for node, _, sources in node_list if node in sources]
    if self_loops:
        raise DataError(f"Node {self_loops[0]!r} reads its own output: a graph may not contain cycles.")
    done = set()
    progress = True
    while progress:
        ready = [node for node, sources in pending.items() if all(s in done or s not in pending for s in sources)]
        progress = bool(ready)
        for node in ready:
            done.add(node)
            del pending[node]
    if pending:
        raise DataError(
            f"The graph has a cycle through node(s) {', '.join(sorted(pending))}: a node may only read "
            "inputs and nodes that do not depend on it."
        )


def _check_reachability(input_shapes: dict, node_list: list, outputs: list[str]) -> None:
    """Every node must feed an output and every input must be read: a dangling name is almost always a typo."""
    sources = {node: srcs for node, _, srcs in node_list}
    used, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name not in used:
            used.add(name)
            stack.extend(sources.get(name, ()))
    for node, _, _ in node_list:
        if node not in used:
            raise DataError(
                f"Node {node!r} does not lead to any output ({', '.join(outputs)}): connect it, list it "
                "in `outputs`, or remove it."
            )
    for input_name in input_shapes:
        if input_name not in used:
            raise DataError(
                f"Input {input_name!r} is not read by any node on the way to the outputs: connect it or "
                "remove it from `inputs`."
            )


def _add_node(builder, node: str, spec, sources: tuple[str, ...]):
    java = spec.to_java() if hasattr(spec, "to_java") else spec
    if isinstance(spec, _Vertex) or _is_java(java, _CONF + "graph.GraphVertex"):
        return builder.addVertex(node, java, *sources)
    return builder.addLayer(node, java, *sources)
