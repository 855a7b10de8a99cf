"""Parity checking shared by the ONNX tests: DL4J's output() vs ONNX Runtime, value, dtype and shape."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

import bridge
from bridge.nets import as_java
from bridge.onnx import to_onnx
from bridge.onnx.export import dl4j_outputs, parity

TOLERANCE = 1e-5


def randomize(net, seed: int) -> None:
    """Random parameters from a seed (BatchNorm variances kept positive), so parity is not checked on zeros."""
    rng = np.random.default_rng(seed)
    java = as_java(net)
    for key, value in dict(java.paramTable()).items():
        shape = tuple(int(d) for d in value.shape())
        name = str(key).rsplit("_", 1)[1]  # "<layer or vertex>_<param>"; param names have no underscore
        array = rng.uniform(0.5, 1.5, shape) if name == "var" else rng.normal(0, 0.5, shape)
        java.setParam(str(key), bridge.to_indarray(array.astype(np.float32)))


def assert_parity(
    net, x, opset: int = 17, tolerance: float | None = None, input_shape=None, argmax: bool = False
) -> float:
    """Check two batch sizes (the first row, then all) by the exporter's rule: ONNX Runtime within
    max(1e-5, 2 x DL4J float32's own error) of DL4J in float64, per output (tolerance: an optional stricter
    absolute ceiling on that); shapes and dtypes as DL4J's. Return the max |ONNX Runtime - DL4J float32|.

    x: one array (rows in the ONNX input's shape, or flat rows) or a dict by ONNX input name.
    argmax: also require the same arg-max (last axis) in every output row.
    """
    model = to_onnx(net, opset=opset, input_shape=input_shape)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    feeds = x if isinstance(x, dict) else {inputs[0].name: x}
    feeds = {i.name: np.asarray(feeds[i.name], np.float32).reshape(len(feeds[i.name]), *i.shape[1:]) for i in inputs}
    worst = 0.0
    for rows in (1, len(next(iter(feeds.values())))):
        batch = {name: value[:rows] for name, value in feeds.items()}
        expected = dl4j_outputs(net, [batch[i.name] for i in inputs])
        actual = session.run(None, batch)
        where = f"(opset {opset}, onnx {onnx.__version__}, onnxruntime {ort.__version__}, batch {rows})"
        for output, got, want in zip(session.get_outputs(), actual, expected):
            assert got.shape == want.shape, f"{output.name}: shape {got.shape} != DL4J {want.shape} {where}"
            assert got.dtype == want.dtype == np.float32, f"{output.name}: dtype {got.dtype} vs {want.dtype} {where}"
            if argmax:
                agree = float(np.mean(got.argmax(-1) == want.argmax(-1)))
                assert agree == 1.0, f"{output.name}: arg-max agreement {agree:.3f} {where}"
        for checked in parity(net, session, batch):
            problem = checked.problem(tolerance)
            assert problem is None, f"{problem} {where}"
            worst = max(worst, checked.max_abs_diff)
    return worst
