"""ComputationGraph vertices without parameters: they combine, slice, scale or reshape tensors.

Each follows DL4J 1.0.0-M2.1's own forward pass (org.deeplearning4j.nn.graph.vertex.impl.*), which works
on the array's axes as they lie: axis 1 is the channel axis of an NCHW map but the height of an NHWC
one, and the converters index the same axis. The RNN vertices (LastTimeStep, DuplicateToTimeSeries,
ReverseTimeSeries) and AttentionVertex have no converter: the scan refuses them by name.
"""

from __future__ import annotations

import numpy as np

from .registry import PREPROCESSORS, Graph, Tensor, refuse, registry_problems, vertex

_V = "org.deeplearning4j.nn.conf.graph."
_ELEMENT_WISE = {"Add": "Sum", "Product": "Mul", "Max": "Max", "Average": "Mean", "Subtract": "Sub"}


def _same_shapes(inputs: list[Tensor], what: str) -> None:
    if len({t.shape for t in inputs}) != 1:
        refuse(f"{what} of tensors with different shapes {[list(t.shape) for t in inputs]}")


def _slice(g: Graph, x: Tensor, axis: int, start: int, end: int, shape: tuple[int, ...], hint: str) -> Tensor:
    """x[start:end] along ONNX axis `axis` (axis 0 is the batch)."""
    return g.apply(
        "Slice", x, shape, hint, extra_inputs=(g.ints("starts", [start]), g.ints("ends", [end]), g.ints("axes", [axis]))
    )


def _merge_check(conf: dict) -> list[str]:
    axis = conf.get("mergeAxis", 1)
    # A negative axis counts from the end (-1: the last, as DL4J's Keras importer writes Concatenate()); whether
    # it names the batch axis shows once the rank is known.
    return [] if isinstance(axis, int) and axis != 0 else [f"mergeAxis={axis} (the batch axis 0 cannot be merged)"]


def _merge_axis(conf: dict, inputs: list[Tensor]) -> int:
    """DL4J's mergeAxis as an axis of the per-example shape; negative axes count from the end of the full
    [N, ...] array."""
    axis, ranks = conf.get("mergeAxis", 1), {len(t.shape) + 1 for t in inputs}
    if len(ranks) != 1:
        refuse(f"MergeVertex of tensors of different ranks {[list(t.shape) for t in inputs]}")
    normalised = axis + ranks.pop() if axis < 0 else axis
    if normalised < 1:
        refuse(
            f"MergeVertex mergeAxis={axis} on [N,...] tensors of shapes {[list(t.shape) for t in inputs]} "
            "names the batch axis 0, which cannot be merged"
        )
    return normalised - 1


@vertex(_V + "MergeVertex", check=_merge_check)
def merge(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """Nd4j.concat(mergeAxis, ...): features (flat), channels (NCHW: axis 1, NHWC: axis 3 or -1)."""
    if len(inputs) == 1:
        return inputs[0]
    axis = _merge_axis(conf, inputs)  # in the per-example shape
    rest = {t.shape[:axis] + t.shape[axis + 1 :] for t in inputs}
    if axis >= len(inputs[0].shape) or len(rest) != 1:
        refuse(
            f"MergeVertex along axis {axis + 1} of shapes {[list(t.shape) for t in inputs]} "
            f"(they must agree but for that axis)"
        )
    shape = list(inputs[0].shape)
    shape[axis] = sum(t.shape[axis] for t in inputs)
    return Tensor(g.op("Concat", [t.name for t in inputs], "concat", axis=axis + 1), tuple(shape))


def _element_wise_check(conf: dict) -> list[str]:
    return [] if conf.get("op") in _ELEMENT_WISE else [f"op={conf.get('op')} (supported: {', '.join(_ELEMENT_WISE)})"]


@vertex(_V + "ElementWiseVertex", check=_element_wise_check)
def element_wise(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    _same_shapes(inputs, f"ElementWiseVertex {conf['op']}")
    if len(inputs) == 1:
        return inputs[0]
    op = _ELEMENT_WISE[conf["op"]]
    if op == "Sub" and len(inputs) != 2:
        refuse(f"ElementWiseVertex Subtract of {len(inputs)} inputs (DL4J takes exactly 2)")
    if op == "Mul":  # ONNX Mul is binary
        out = inputs[0].name
        for t in inputs[1:]:
            out = g.op("Mul", [out, t.name], "product")
        return Tensor(out, inputs[0].shape)
    return Tensor(g.op(op, [t.name for t in inputs], conf["op"].lower()), inputs[0].shape)


def _subset_check(conf: dict) -> list[str]:
    start, end = conf.get("from"), conf.get("to")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
        return [f"from={start}, to={end} (need 0 <= from <= to)"]
    return []


@vertex(_V + "SubsetVertex", check=_subset_check)
def subset(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """Axis 1 from `from` to `to`, both included (DL4J's NDArrayIndex.interval(from, to, true))."""
    x, start, end = inputs[0], conf["from"], conf["to"]
    if end >= x.shape[0]:
        refuse(f"SubsetVertex to={end} on a tensor with {x.shape[0]} entries along axis 1 (shape {list(x.shape)})")
    return _slice(g, x, 1, start, end + 1, (end - start + 1, *x.shape[1:]), "subset")


@vertex(_V + "ScaleVertex")
def scale(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    return g.apply("Mul", inputs[0], None, "scale", extra_inputs=(g.float_constant("factor", conf["scaleFactor"]),))


@vertex(_V + "ShiftVertex")
def shift(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    return g.apply("Add", inputs[0], None, "shift", extra_inputs=(g.float_constant("shift", conf["shiftFactor"]),))


def _norm2(g: Graph, x: Tensor, axes, keepdims: int) -> str:
    """sqrt(sum(x^2)) over `axes`."""
    square = g.op("Mul", [x.name, x.name], "square")
    return g.op("Sqrt", [g.reduce("ReduceSum", square, axes, "sum_squares", keepdims=keepdims)], "norm2")


def _l2_normalize_check(conf: dict) -> list[str]:
    dims = conf.get("dimension") or []
    if dims and list(dims) != list(range(1, len(dims) + 1)):
        return [f"dimension={list(dims)} (DL4J divides by one norm per example: only all non-batch axes work)"]
    return []


@vertex(_V + "L2NormalizeVertex", check=_l2_normalize_check)
def l2_normalize(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """x / max(||x||_2, eps), one norm per example over all its axes."""
    x = inputs[0]
    axes = list(range(1, len(x.shape) + 1))
    if conf.get("dimension") and list(conf["dimension"]) != axes:
        refuse(
            f"L2NormalizeVertex dimension={conf['dimension']} on a tensor of shape {list(x.shape)} "
            f"(only all non-batch axes {axes})"
        )
    norm = g.op("Max", [_norm2(g, x, axes, keepdims=1), g.float_constant("eps", conf.get("eps", 1e-8))], "norm_eps")
    return g.apply("Div", x, None, "l2_normalize", extra_inputs=(norm,))


@vertex(_V + "L2Vertex")
def l2_distance(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """The Euclidean distance between two inputs, per example: [N, 1] (DL4J's eps only guards its gradient)."""
    if len(inputs) != 2:
        refuse(f"L2Vertex of {len(inputs)} inputs (DL4J takes exactly 2)")
    _same_shapes(inputs, "L2Vertex")
    diff = g.apply("Sub", inputs[0], None, "l2_diff", extra_inputs=(inputs[1].name,))
    distance = Tensor(_norm2(g, diff, list(range(1, len(diff.shape) + 1)), keepdims=1), (1,) * len(diff.shape))
    return g.apply("Flatten", distance, (1,), "l2_distance", axis=1)


@vertex(_V + "PoolHelperVertex")
def pool_helper(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """Drops the first row and column: axes 2 and 3 of the array from index 1 (Caffe GoogLeNet imports)."""
    if len(inputs) != 1 or len(inputs[0].shape) != 3:
        refuse(f"PoolHelperVertex of {[list(t.shape) for t in inputs]} (DL4J takes one 4-d activation)")
    x = inputs[0]
    big = np.iinfo(np.int64).max
    return g.apply(
        "Slice",
        x,
        (x.shape[0], x.shape[1] - 1, x.shape[2] - 1),
        "pool_helper",
        extra_inputs=(g.ints("starts", [1, 1]), g.ints("ends", [big, big]), g.ints("axes", [2, 3])),
    )


def _preprocessor_vertex_check(conf: dict) -> list[str]:
    return registry_problems(PREPROCESSORS, conf["preProcessor"], "its preprocessor")


@vertex(_V + "PreprocessorVertex", check=_preprocessor_vertex_check)
def preprocessor_vertex(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    pre = conf["preProcessor"]
    return PREPROCESSORS[pre["@class"]].convert(g, pre, inputs[0])


def _reshape_check(conf: dict) -> list[str]:
    shape, order, problems = conf.get("newShape") or [], conf.get("reshapeOrder", "c"), []
    if order not in ("c", "f"):
        problems.append(f"reshapeOrder={order!r} (supported: 'c', 'f')")
    if not shape or shape[0] != -1:
        problems.append(
            f"newShape={shape}: its first entry must be -1, the batch size, which the ONNX model "
            "leaves free (a fixed first entry ties the network to one batch size or mixes examples)"
        )
    elif not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        problems.append(f"newShape={shape}: every entry but the first must be a positive size")
    if conf.get("maskShape") is not None:
        problems.append(f"maskShape={conf['maskShape']} (masks are a recurrent-network feature)")
    return problems


@vertex(_V + "ReshapeVertex", check=_reshape_check)
def reshape(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """INDArray.reshape(order, newShape). In 'f' order the batch axis is the fastest on both sides, so an
    'f' reshape is the C-order reshape of the axis-reversed tensor, reversed back."""
    x, shape = inputs[0], tuple(conf["newShape"][1:])
    if int(np.prod(shape)) != int(np.prod(x.shape)):
        refuse(
            f"ReshapeVertex newShape={conf['newShape']} from a tensor of shape {list(x.shape)} "
            f"({int(np.prod(x.shape))} values per example)"
        )
    if conf.get("reshapeOrder", "c") == "c":
        return g.apply("Reshape", x, shape, "reshape", extra_inputs=(g.ints("shape", (-1, *shape)),))
    reversed_x = g.apply("Transpose", x, x.shape[::-1], "f_order", perm=list(range(len(x.shape), -1, -1)))
    y = g.apply("Reshape", reversed_x, shape[::-1], "reshape_f", extra_inputs=(g.ints("shape", (*shape[::-1], -1)),))
    return g.apply("Transpose", y, shape, "f_order_back", perm=list(range(len(shape), -1, -1)))


@vertex(_V + "StackVertex")
def stack(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """The inputs one after another along the batch axis (shared-weight, siamese branches)."""
    _same_shapes(inputs, "StackVertex")
    return (
        inputs[0]
        if len(inputs) == 1
        else Tensor(g.op("Concat", [t.name for t in inputs], "stack", axis=0), inputs[0].shape)
    )


def _unstack_check(conf: dict) -> list[str]:
    start, size = conf.get("from"), conf.get("stackSize")
    if not (isinstance(size, int) and size >= 1 and isinstance(start, int) and 0 <= start < size):
        return [f"from={start}, stackSize={size} (need 0 <= from < stackSize)"]
    return []


@vertex(_V + "UnstackVertex", check=_unstack_check)
def unstack(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """Block `from` of `stackSize` equal blocks along the batch axis (step = batch / stackSize, as DL4J)."""
    x = inputs[0]
    batch = g.op("Slice", [g.op("Shape", [x.name], "shape"), g.ints("zero", [0]), g.ints("one", [1])], "batch")
    step = g.op("Div", [batch, g.ints("stack_size", [conf["stackSize"]])], "step")
    start = g.op("Mul", [step, g.ints("from", [conf["from"]])], "start")
    end = g.op("Add", [start, step], "end")
    return Tensor(g.op("Slice", [x.name, start, end, g.ints("axes", [0])], "unstack"), x.shape)
