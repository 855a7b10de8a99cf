"""The bridge Network: a DL4J network with the name, class labels and input shapes dl4j-bridge carries along."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DataError, java_errors
from .inputs import input_types
from .kinds import as_java, is_graph

__all__ = ["Network", "as_java", "is_graph"]


class Network:
    """A DL4J MultiLayerNetwork or ComputationGraph (``.java``) with the name and class labels dl4j-bridge
    carries along. ``is_graph`` tells which kind it is.

    input_shapes: optional per-example shape of each input, keyed by input name ("input" for a
    MultiLayerNetwork), in the network's own layout: (F,), (C, H, W) or (H, W, C). DL4J does not
    keep the InputType a network was built with; builders that know it record it here
    (bridge.inputs reads it, save()/load() keep it)."""

    def __init__(
        self,
        java,
        name: str = "network",
        labels: Sequence[str] | None = None,
        input_shapes: dict[str, tuple[int, ...]] | None = None,
    ):
        self.java = java
        self.name = name
        self.labels = tuple(labels) if labels else None
        self.input_shapes = (
            {str(k): tuple(int(d) for d in v) for k, v in input_shapes.items()} if input_shapes else None
        )
        self.history = None  # the History of the latest fit(), kept when it is interrupted (Keras' model.history)

    @property
    def is_graph(self) -> bool:
        return is_graph(self.java)

    def __repr__(self) -> str:
        kind = "ComputationGraph" if self.is_graph else "MultiLayerNetwork"
        return (
            f"Network(name={self.name!r}, kind={kind}, layers={len(self.java.getLayers())}, "
            f"params={int(self.java.numParams())})"
        )

    def __str__(self) -> str:
        """The layer table (summary()'s text); the short repr where the table cannot be drawn (a graph without
        input_shapes): str() and print() must not raise."""
        try:
            return self.summary_text()
        except DataError:
            return repr(self)

    def summary(self) -> None:
        """Prints DL4J's layer table, as Keras' Model.summary() prints its own; str(net) is the same text."""
        print(self.summary_text())

    def summary_text(self) -> str:
        """DL4J's layer table. A graph's needs its input types: DL4J 1.0.0-M2.1's ComputationGraph.summary()
        without them fails with an ArrayIndexOutOfBoundsException."""
        if not self.is_graph:
            return str(self.java.summary())
        with java_errors("DL4J summary()"):
            return str(self.java.summary(*input_types(self)))
