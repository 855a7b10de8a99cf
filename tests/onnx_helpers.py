"""Parity checking shared by the ONNX tests: DL4J's output() vs ONNX Runtime, value, dtype and shape."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

import bridge
from bridge.onnx import to_onnx

TOLERANCE = 1e-5


def randomize(net, seed: int) -> None:
    """Random parameters from a seed (BatchNorm variances kept positive), so parity is not checked on zeros."""
    rng = np.random.default_rng(seed)
    for key, value in dict(net.java.paramTable()).items():
        shape = tuple(int(d) for d in value.shape())
        name = str(key).split("_", 1)[1]
        array = rng.uniform(0.5, 1.5, shape) if name == "var" else rng.normal(0, 0.5, shape)
        net.java.setParam(str(key), bridge.to_indarray(array.astype(np.float32)))


def assert_parity(net, x: np.ndarray, opset: int = 17, tolerance: float = TOLERANCE, input_shape=None) -> float:
    """Check two batch sizes; return the max abs difference seen."""
    model = to_onnx(net, opset=opset, input_shape=input_shape)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (x[:1], x):
        expected = bridge.predict(net, batch.reshape(len(batch), -1))
        actual = session.run(None, {"input": batch})[0]
        where = f"(opset {opset}, onnx {onnx.__version__}, onnxruntime {ort.__version__}, batch {len(batch)})"
        assert actual.shape == expected.shape, f"output shape {actual.shape} != DL4J {expected.shape} {where}"
        assert actual.dtype == expected.dtype == np.float32, f"output dtype {actual.dtype} vs {expected.dtype} {where}"
        diff = float(np.max(np.abs(actual - expected)))
        assert diff <= tolerance, f"max abs diff {diff:.3g} > {tolerance:g} {where}"
        worst = max(worst, diff)
    return worst
