"""ONNX inference in Python: the exported model on ONNX Runtime (TensorRT > CUDA > CPU).

model = OnnxModel("model.onnx")           # providers="auto"
model.providers                           # what actually runs, e.g. ['CPUExecutionProvider']
probabilities = model.predict(x)          # x: float32 (n, *model.input_shape), or flat rows
model.input_shape, model.input_layout     # e.g. (3, 48, 48), "NCHW [N,3,48,48]"
"""

from __future__ import annotations

import ctypes
import json
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelFileError, ProviderError, ShapeError
from ..jvm.arrays import as_float32, require_float_array
from ..validate import positive_int

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
            raise DataError(
                f"Received an invalid value for `providers`. Received: providers={providers!r}. "
                "Expected 'auto', 'cpu', 'cuda', 'tensorrt' or a list of ONNX Runtime provider names."
            )
        return [PROVIDER_ALIASES[providers]], True
    return [PROVIDER_ALIASES.get(p, p) for p in providers], True


class OnnxModel:
    """An exported model on ONNX Runtime.

    providers: "auto" (TensorRT, then CUDA, then CPU: the first that loads), "cpu", "cuda",
    "tensorrt", or a list of provider names. "cuda" or "tensorrt" alone raise ProviderError when
    that provider cannot run; in a list or with "auto", a GPU provider that cannot run is skipped
    with a warning naming the reason (none for "auto" on a machine without an NVIDIA driver).
    `.providers` says what actually runs.

    predict() takes float32 (float64 is cast; other dtypes are refused) in the shape the model
    declares, (n, *input_shape), or flat rows (n, prod(input_shape)) read in C order (an image row
    of C*H*W values is the image flattened channel by channel, as numpy's reshape writes it). A
    flat model [N, F] also takes any (n, ...) with F values per row, e.g. (n, 1, 28, 28). An image
    in the other channel order, e.g. (n, H, W, C) for an [N, C, H, W] model, is refused with
    ShapeError saying which np.transpose fixes it: same number of values, different pixels (also for a
    flat model whose metadata says its rows are flattened NCHW images). An image whose channels, height
    and width are equal (3x3x3) reads the same both ways: that mix-up cannot be told.
    NaN and infinite inputs are refused with DataError. Large inputs run in batches of
    `batch_size` rows. Outputs keep the model's rank: (n, classes), (n, 1, H, W), ...

    Models with several inputs or outputs (multi-input ComputationGraphs) are refused with
    ModelFileError naming them: this runtime feeds one input and reads one output.
    """

    def __init__(self, path, providers="auto", batch_size: int = 1024, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"No ONNX model at {self.path}.")
        self.batch_size = positive_int(batch_size, "batch_size")
        wanted, explicit = _requested(providers)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3  # we report provider failures ourselves, with the reason
        candidates, self.skipped = self._usable(wanted, explicit, ort)
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                options,
                providers=[(p, PROVIDER_OPTIONS[p]) if p in PROVIDER_OPTIONS else p for p in candidates],
            )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelFileError(f"{self.path} is not a loadable ONNX model: {exc}") from exc
        self.providers = list(self.session.get_providers())
        self._check_fallback(candidates, explicit, providers)
        single_input, single_output = _one_input_one_output(self.session, self.path)
        _check_input(single_input, self.path)
        self.input_name = single_input.name
        #: Per-example input shape, e.g. (784,) or (3, 48, 48); None where the model leaves a dimension open.
        self.input_shape = tuple(_dim(d) for d in single_input.shape[1:])
        self.output_name = single_output.name
        #: Per-example output shape, e.g. (10,) or (1, 48, 48); None where the model leaves it open.
        self.output_shape = tuple(_dim(d) for d in single_output.shape[1:])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.labels = _labels(self.metadata.get("labels"), self.path)

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
        """The model's output, float32 (n, *output_shape): (n, classes) probabilities for a classifier,
        (n, 1, H, W) for a per-pixel model. x: (n, *input_shape) or flat rows (class docstring)."""
        x = self._validate(x)
        step = batch_size or self.batch_size
        try:
            parts = [
                self.session.run([self.output_name], {self.input_name: x[i : i + step]})[0]
                for i in range(0, len(x), step)
            ]
        except Exception as exc:  # onnxruntime's own exception types: e.g. a width its open dimension cannot take
            raise ShapeError(
                f"ONNX Runtime refused input of shape {x.shape} for {self.path} (input "
                f"'{self.input_name}' {self.input_layout}): {exc}"
            ) from exc
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def predict_classes(self, x, batch_size: int | None = None) -> np.ndarray:
        """Arg-max over axis 1: (n,) for an (n, classes) output, (n, H, W) per-pixel for (n, K, H, W)."""
        if len(self.output_shape) < 1 or self.output_shape[0] == 1:
            raise ShapeError(
                f"predict_classes needs an output with a class axis of more than one value; this "
                f"model's output '{self.output_name}' is (n, {_dims(self.output_shape)}). "
                "Use predict() and threshold the values instead."
            )
        return self.predict(x, batch_size).argmax(axis=1)

    @property
    def input_layout(self) -> str:
        """How the input is laid out: the exporter's metadata "input_layout" (e.g. "NCHW [N,3,48,48]"),
        else the declared shape (e.g. "[N,3,48,48]")."""
        return (
            self.metadata.get("input_layout")
            or f"[N,{','.join('?' if d is None else str(d) for d in self.input_shape)}]"
        )

    def _validate(self, x) -> np.ndarray:
        x = require_float_array(x)
        if x.ndim < 2 or len(x) == 0:
            raise ShapeError(f"Expected input of shape (n, {_dims(self.input_shape)}) with n >= 1, received {x.shape}.")
        return as_float32(self._reshaped(x))  # finite checked after the cast: 1e300 is inf in float32

    def _reshaped(self, x: np.ndarray) -> np.ndarray:
        """x as (n, *input_shape): as declared, or flat rows in C order; refuses other channel orders by name."""
        declared, got = self.input_shape, x.shape[1:]
        if len(got) == len(declared) and all(d is None or d == g for d, g in zip(declared, got)):
            return x
        if None in declared:
            raise ShapeError(
                f"Expected input of shape (n, {_dims(declared)}) (layout {self.input_layout}; ? is any "
                f"size), received {x.shape}."
            )
        per_row = int(np.prod(declared))
        flat_model = len(declared) == 1
        # An older export's flat input whose metadata names the NCHW image it flattens: refuse that image's transpose.
        fix = _transpose_fix(
            (_multi_channel(flattened_image(self.input_layout)) if flat_model else None) or declared, got
        )
        if not fix and int(np.prod(got)) == per_row and (flat_model or got == (per_row,)):
            return x.reshape(len(x), *declared)
        if fix:
            raise ShapeError(
                f"Received input of shape {x.shape}, but the model takes (n, {_dims(declared)}) "
                f"(layout {self.input_layout}): the channels are on the wrong axis. The values would be "
                f"misread, not reordered: pass np.transpose(x, {fix})."
            )
        accepted = f"(n, {_dims(declared)})" + ("" if flat_model else f" or flat rows (n, {per_row})")
        raise ShapeError(
            f"Expected input of shape {accepted} with n >= 1 (layout {self.input_layout}), received {x.shape}."
        )

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, providers={self.providers})"


def _one_input_one_output(session, path: Path):
    """The model's only input and only output; ModelFileError naming them all when there are several."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(
            f"{path} has inputs {[i.name for i in inputs]} and outputs {[o.name for o in outputs]}; OnnxModel runs "
            "models with exactly one input and one output. Export a single-input, single-output graph, or run this "
            "one with onnxruntime.InferenceSession directly, feeding every input by name."
        )
    return inputs[0], outputs[0]


def _check_input(value, path: Path) -> None:
    """OnnxModel feeds float32 (n, ...): refuse, by name, models that take another type or have no batch axis."""
    if value.type != "tensor(float)":
        raise ModelFileError(
            f"{path}: input '{value.name}' is {value.type}; OnnxModel feeds float32 "
            "(tensor(float)) inputs only. Run it with onnxruntime.InferenceSession directly."
        )
    if len(value.shape) < 2:
        raise ModelFileError(
            f"{path}: input '{value.name}' has shape {value.shape}; OnnxModel needs a batch axis "
            "and at least one feature axis, (N, features) or (N, C, H, W)."
        )


def _labels(text: str | None, path: Path) -> tuple[str, ...] | None:
    """The class names of the model's "labels" metadata (a JSON list of strings); ModelFileError when malformed."""
    if not text:
        return None
    try:
        labels = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ModelFileError(
            f'{path}: metadata "labels" is not JSON ({exc}); expected a JSON list of class '
            f'names, e.g. ["zero", "one"]. Received: {text[:80]!r}'
        ) from exc
    if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
        raise ModelFileError(f'{path}: metadata "labels" must be a JSON list of strings, received {text[:80]!r}.')
    return tuple(labels)


def _dim(d) -> int | None:
    """A declared dimension: its size, or None when symbolic ("N", "height") or unknown."""
    return int(d) if isinstance(d, int) and d > 0 else None


def _dims(shape: tuple) -> str:
    return ", ".join("?" if d is None else str(d) for d in shape)


_FLATTENED_IMAGE = re.compile(r"NCHW \[N,(\d+),(\d+),(\d+)\] flattened")


def flattened_image(layout: str) -> tuple[int, int, int] | None:
    """(C, H, W) of a flat input whose "input_layout" metadata says it is a flattened NCHW image (the exporter's
    form before image inputs: "NCHW [N,1,28,28] flattened to [N,784]"), or None."""
    match = _FLATTENED_IMAGE.search(layout or "")
    return tuple(int(g) for g in match.groups()) if match else None


def _multi_channel(image: tuple | None) -> tuple | None:
    """The image, where its channel order matters (one channel reads the same both ways)."""
    return image if image and image[0] > 1 else None


def _transpose_fix(declared: tuple, got: tuple) -> tuple | None:
    """The np.transpose axes that turn `got` into `declared` for a channels-first/last mix-up, or None."""
    if len(declared) != 3 or len(got) != 3 or declared == got:
        return None
    if got == (declared[1], declared[2], declared[0]):  # NHWC data, NCHW model
        return (0, 3, 1, 2)
    if got == (declared[2], declared[0], declared[1]):  # NCHW data, NHWC model
        return (0, 2, 3, 1)
    return None
