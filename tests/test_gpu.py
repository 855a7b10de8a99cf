"""ONNX Runtime's GPU providers against its CPU provider, on the shared vectors (no JVM needed).

Marked `gpu`: they run where an NVIDIA driver and onnxruntime-gpu are present (a lent GPU machine,
see docs/architecture.md, "GPUs") and are skipped elsewhere, with the reason.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge.errors import ProviderError
from bridge.serve.runtime import GPU_PROVIDERS

pytestmark = pytest.mark.gpu
VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"


def _digits(n: int = 1000) -> np.ndarray:
    x = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 784).astype(np.float32) / np.float32(255)
    return np.resize(x, (n, 784))


@pytest.mark.parametrize("model", ["mlp", "lenet", "resnet"])  # resnet: NCHW input, fed flat rows of 784
def test_cuda_matches_cpu(model):
    x = _digits()
    cpu = bridge.OnnxModel(VECTORS / model / "model.onnx", providers="cpu").predict(x)
    gpu = bridge.OnnxModel(VECTORS / model / "model.onnx", providers="cuda")
    assert gpu.providers[0] == "CUDAExecutionProvider"
    assert np.max(np.abs(gpu.predict(x) - cpu)) <= 1e-5


def test_cuda_large_batch_matches_cpu():
    x = _digits(4096)
    cpu = bridge.OnnxModel(VECTORS / "lenet" / "model.onnx", providers="cpu").predict(x, batch_size=4096)
    gpu = bridge.OnnxModel(VECTORS / "lenet" / "model.onnx", providers="cuda").predict(x, batch_size=4096)
    assert gpu.shape == (4096, 10)
    assert np.max(np.abs(gpu - cpu)) <= 1e-5


def test_auto_runs_on_a_gpu_provider():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" skips TensorRT quietly where its libraries are absent
        model = bridge.OnnxModel(VECTORS / "mlp" / "model.onnx")
    assert model.providers[0] in GPU_PROVIDERS


def test_tensorrt_matches_cpu_or_refuses_by_name():
    x = _digits()
    cpu = bridge.OnnxModel(VECTORS / "lenet" / "model.onnx", providers="cpu").predict(x)
    try:
        trt = bridge.OnnxModel(VECTORS / "lenet" / "model.onnx", providers="tensorrt")
    except ProviderError as error:  # no TensorRT libraries on this machine: a clear refusal, never a silent CPU run
        assert "TensorrtExecutionProvider" in str(error)
        return
    assert trt.providers[0] == "TensorrtExecutionProvider"
    assert np.max(np.abs(trt.predict(x) - cpu)) <= 1e-5
