"""ONNX inference in Python: the exported model on ONNX Runtime (TensorRT > CUDA > CPU).

    model = OnnxModel("model.onnx")           # providers="auto"
    model.providers                           # what actually runs, e.g. ['CPUExecutionProvider']
    probabilities = model.predict(x)          # x: float32 (n, 784) or (n, 1, 28, 28)
"""
from __future__ import annotations

import ctypes
import json
import warnings
from pathlib import Path

import numpy as np

from .arrays import require_finite, require_float_array
from .errors import DataError, ModelFileError, ProviderError, ShapeError

__all__ = ["OnnxModel", "PROVIDER_ALIASES"]

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
# CUDA's default TF32 matmuls/convolutions (Ampere and later) differ from DL4J by ~1e-3; the contract is 1e-5.
PROVIDER_OPTIONS = {"CUDAExecutionProvider": {"use_tf32": "0"}}


def _tensorrt_missing() -> str | None:
    """Why ONNX Runtime's TensorRT provider cannot load here (it needs TensorRT 10's libnvinfer), or None."""
    try:
        ctypes.CDLL("libnvinfer.so.10")
        return None
    except OSError:
        return "TensorRT 10's libnvinfer.so.10 cannot be loaded (install TensorRT; its libraries on LD_LIBRARY_PATH)"


def _gpu_driver_missing() -> str | None:
    """Why no GPU provider can run here, or None if an NVIDIA driver is present."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)"
    return None


def _requested(providers) -> tuple[list[str], bool]:
    """(provider names in order of preference, whether the caller named them explicitly)."""
    if isinstance(providers, str):
        if providers == "auto":
            return list(PROVIDER_ALIASES.values()), False
        if providers not in PROVIDER_ALIASES:
            raise DataError(f"Received an invalid value for `providers`. Received: providers={providers!r}. "
                            "Expected 'auto', 'cpu', 'cuda', 'tensorrt' or a list of ONNX Runtime provider names.")
        return [PROVIDER_ALIASES[providers]], True
    return [PROVIDER_ALIASES.get(p, p) for p in providers], True


class OnnxModel:
    """An exported model on ONNX Runtime.

    providers: "auto" (TensorRT, then CUDA, then CPU: the first that loads), "cpu", "cuda",
    "tensorrt", or a list of provider names. "cuda" or "tensorrt" alone raise ProviderError when
    that provider cannot run; in a list or with "auto", a GPU provider that cannot run is skipped
    with a warning naming the reason (none for "auto" on a machine without an NVIDIA driver).
    `.providers` says what actually runs.

    predict() takes float32 (float64 is cast; other dtypes are refused) of shape (n, features) or
    any (n, ...) with the same number of values per row, e.g. (n, 1, 28, 28). NaN and infinite
    inputs are refused with DataError. Large inputs run in batches of `batch_size` rows.
    """

    def __init__(self, path, providers="auto", batch_size: int = 1024, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"No ONNX model at {self.path}.")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise DataError(f"Received an invalid value for `batch_size`, expected a positive integer. Received: batch_size={batch_size!r}")
        self.batch_size = batch_size
        wanted, explicit = _requested(providers)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3  # we report provider failures ourselves, with the reason
        candidates, self.skipped = self._usable(wanted, explicit, ort)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=[
                (p, PROVIDER_OPTIONS[p]) if p in PROVIDER_OPTIONS else p for p in candidates])
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelFileError(f"{self.path} is not a loadable ONNX model: {exc}") from exc
        self.providers = list(self.session.get_providers())
        self._check_fallback(candidates, explicit, providers)
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape[1:])
        self.output_name = self.session.get_outputs()[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.labels = tuple(json.loads(self.metadata["labels"])) if self.metadata.get("labels") else None

    @staticmethod
    def _usable(wanted: list[str], explicit: bool, ort) -> tuple[list[str], dict[str, str]]:
        available = set(ort.get_available_providers())
        skipped = {p: "not in this onnxruntime build" for p in wanted if p not in available}
        no_driver = _gpu_driver_missing()
        if no_driver:
            skipped.update({p: no_driver for p in wanted if p in GPU_PROVIDERS and p in available})
        elif any(p in GPU_PROVIDERS for p in wanted) and hasattr(ort, "preload_dlls"):
            try:
                ort.preload_dlls()  # CUDA/cuDNN from NVIDIA's pip packages, when installed
            except Exception:
                pass
        if not no_driver and "TensorrtExecutionProvider" in wanted and "TensorrtExecutionProvider" in available:
            no_tensorrt = _tensorrt_missing()  # checked here: ONNX Runtime would print a page of errors, then fall back
            if no_tensorrt:
                skipped["TensorrtExecutionProvider"] = no_tensorrt
        usable = [p for p in wanted if p not in skipped]
        if explicit and skipped and len(wanted) == 1:
            raise ProviderError(f"{wanted[0]} cannot run: {skipped[wanted[0]]}.")
        if explicit and skipped:
            warnings.warn("; ".join(f"{p} skipped: {why}" for p, why in skipped.items()), RuntimeWarning, stacklevel=3)
        if not usable:
            raise ProviderError(f"None of the requested providers can run: {skipped}.")
        return usable, skipped

    def _check_fallback(self, candidates: list[str], explicit: bool, requested) -> None:
        failed = [p for p in candidates if p in GPU_PROVIDERS and p not in self.providers]
        if not failed:
            return
        reason = f"{', '.join(failed)} failed to initialise (CUDA/cuDNN libraries or the device); running on {self.providers}"
        if explicit and len(candidates) == 1:
            raise ProviderError(f"{reason}. Requested providers={requested!r}.")
        self.skipped.update({p: "failed to initialise" for p in failed})
        warnings.warn(reason, RuntimeWarning, stacklevel=3)

    def predict(self, x, batch_size: int | None = None) -> np.ndarray:
        """Output of the model (class probabilities for a softmax model): float32 (n, classes)."""
        x = self._validate(x)
        step = batch_size or self.batch_size
        parts = [self.session.run([self.output_name], {self.input_name: x[i:i + step]})[0]
                 for i in range(0, len(x), step)]
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def predict_classes(self, x, batch_size: int | None = None) -> np.ndarray:
        return self.predict(x, batch_size).argmax(axis=1)

    def _validate(self, x) -> np.ndarray:
        x = require_float_array(x)
        per_row = int(np.prod(self.input_shape))
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != per_row or len(x) == 0:
            raise ShapeError(f"Expected input of shape (n, {', '.join(map(str, self.input_shape))}) with n >= 1 "
                             f"(or any (n, ...) with {per_row} values per row), received {x.shape}.")
        x = np.ascontiguousarray(x.reshape(len(x), *self.input_shape), dtype=np.float32)
        return require_finite(x)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, providers={self.providers})"
