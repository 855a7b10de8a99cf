"""ComputationGraph vertices that combine or reshape tensors: MergeVertex, ElementWiseVertex."""
from __future__ import annotations

from .registry import Graph, Tensor, refuse, vertex

_V = "org.deeplearning4j.nn.conf.graph."
_ELEMENT_WISE = {"Add": "Sum", "Product": "Mul", "Max": "Max", "Average": "Mean", "Subtract": "Sub"}


def _same_shapes(inputs: list[Tensor], what: str) -> None:
    if len({t.shape for t in inputs}) != 1:
        refuse(f"{what} of tensors with different shapes {[list(t.shape) for t in inputs]}")


def _merge_check(conf: dict) -> list[str]:
    return [] if conf.get("mergeAxis", 1) == 1 else [f"mergeAxis={conf.get('mergeAxis')} (only 1, the channel/feature axis)"]


@vertex(_V + "MergeVertex", check=_merge_check)
def merge(g: Graph, conf: dict, params: dict, inputs: list[Tensor]) -> Tensor:
    """Concatenation along the feature axis (flat) or the channel axis (NCHW maps)."""
    if len(inputs) == 1:
        return inputs[0]
    if len({len(t.shape) for t in inputs}) != 1 or len({t.shape[1:] for t in inputs}) != 1:
        refuse(f"MergeVertex of shapes {[list(t.shape) for t in inputs]} (they must agree but for axis 1)")
    shape = (sum(t.shape[0] for t in inputs), *inputs[0].shape[1:])
    return Tensor(g.op("Concat", [t.name for t in inputs], "concat", axis=1), shape)


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
