"""The converter registry and the graph under construction.

One small converter per DL4J class (layer, preprocessor or activation), registered by decorator and
keyed by the Java class name. Registering a class twice is an error: never a silent overwrite.
A converter may declare `check(conf) -> list[str]`: the settings it cannot convert exactly, which
the exporter collects for the whole network before emitting anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from onnx import TensorProto, helper, numpy_helper

__all__ = ["Converter", "Graph", "LAYERS", "PREPROCESSORS", "ACTIVATIONS", "layer", "preprocessor", "activation"]


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
                    raise ValueError(f"{self.kind} converter for {java_class} registered twice "
                                     f"({self[java_class].convert.__module__} and {convert.__module__}).")
                self[java_class] = Converter(java_class, convert, check or (lambda conf: []))
            return convert

        return decorate


LAYERS = Registry("layer")
PREPROCESSORS = Registry("preprocessor")
ACTIVATIONS = Registry("activation")
layer, preprocessor, activation = LAYERS.register, PREPROCESSORS.register, ACTIVATIONS.register
# Layers whose configuration carries an activation function that DL4J never applies.
ACTIVATION_FREE: set[str] = set()


@dataclass
class Graph:
    """ONNX nodes and initializers being built, the current tensor and its per-example shape.

    shape is (features,) for feed-forward activations and (channels, height, width) for NCHW maps.
    """

    opset: int
    x: str = "input"
    shape: tuple[int, ...] = ()
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    _count: int = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, value) -> str:
        array = np.asarray(value)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        """Append a node reading `inputs`; its output becomes the current tensor."""
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        self.x = out
        return out

    def apply(self, op_type: str, hint: str | None = None, **attrs) -> str:
        """A unary op on the current tensor."""
        return self.op(op_type, [self.x], hint, **attrs)

    def float_constant(self, hint: str, value: float) -> str:
        return self.constant(hint, np.array(value, dtype=np.float32))


FLOAT = TensorProto.FLOAT
