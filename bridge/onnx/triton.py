"""A Triton Inference Server model repository from a DL4J network.

    export_triton(net, "models", name="lenet")   # models/lenet/config.pbtxt, models/lenet/1/model.onnx,
                                                 # models/lenet/labels.txt (when the network has labels)

config.pbtxt is Triton's ModelConfig in protobuf text format (platform "onnxruntime_onnx", max_batch_size, the
ONNX model's inputs and outputs, dynamic_batching); model.onnx is export_onnx's, parity-checked against DL4J.
dl4j-bridge's own service serves the same folder (--model-repository, which reads max_batch_size and the queue
delay from config.pbtxt).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import onnx

from ..errors import DataError, ModelFileError
from ..files import target_path, write_atomic
from ..model.inputs import output_sizes
from ..model.modelfile import load
from ..model.network import Network
from .export import export_onnx

__all__ = ["export_triton", "TritonReport", "triton_config"]

CONFIG_FILE, LABELS_FILE, MODEL_FILE = "config.pbtxt", "labels.txt", "model.onnx"
# A model name Triton and dl4j-bridge's service both take as a folder and a URL path segment (ModelRepository.java).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_BATCH = 1 << 16  # the service's --model-batch bound
# ONNX element types -> Triton's DataType names (model_config.proto).
_TRITON_TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
}


@dataclass(frozen=True)
class TritonReport:
    folder: Path  # REPOSITORY/NAME
    config: Path  # REPOSITORY/NAME/config.pbtxt
    model: Path  # REPOSITORY/NAME/VERSION/model.onnx
    labels: Path | None  # REPOSITORY/NAME/labels.txt, when the network has labels
    opset: int
    max_abs_diff: float | None  # DL4J vs ONNX Runtime, as export_onnx reports it; None without verify
    seconds: float


def export_triton(
    net,
    repository,
    name: str | None = None,
    version: int = 1,
    max_batch_size: int = 64,
    max_queue_delay_microseconds: int | None = None,
    opset: int = 17,
    verify: bool = True,
    tolerance: float | None = None,
    sample=None,
    labels=None,
    scaling: str | None = None,
    input_shape=None,
) -> TritonReport:
    """Write `net` (a bridge Network, a raw MultiLayerNetwork / ComputationGraph, or a DL4J model zip's path) into
    the Triton model repository `repository`: NAME/config.pbtxt, NAME/VERSION/model.onnx, NAME/labels.txt.

    name: the model's name (default: the network's name; a zip's file name). max_batch_size: Triton's; 0 turns
    batching off (the dims then carry the batch dimension, -1). The ONNX export and its parity check are
    export_onnx's (opset, verify, tolerance, sample, labels, scaling, input_shape): a failed check writes
    nothing. Every file is written atomically; config.pbtxt last, so a folder with a config is complete.
    """
    start = time.perf_counter()
    version = _checked_int(version, "version", 1, 10**18 - 1)
    max_batch_size = _checked_int(max_batch_size, "max_batch_size", 0, _MAX_BATCH)
    if max_queue_delay_microseconds is not None:
        _checked_int(max_queue_delay_microseconds, "max_queue_delay_microseconds", 0, 1_000_000)
    if isinstance(net, (str, os.PathLike)):
        net = load(net)
    name = _checked_name(name if name is not None else _default_name(net))
    labels = _checked_labels(net, labels if labels is not None else getattr(net, "labels", None))
    folder = _model_folder(repository, name)
    model_path = folder / str(version) / MODEL_FILE
    report = export_onnx(
        net,
        model_path,
        opset=opset,
        verify=verify,
        tolerance=tolerance,
        sample=sample,
        labels=labels,
        model_name=name,
        scaling=scaling,
        input_shape=input_shape,
    )
    config = triton_config(
        onnx.load(str(model_path), load_external_data=False),
        name,
        max_batch_size,
        labels,
        max_queue_delay_microseconds,
    )
    labels_path = write_atomic(folder / LABELS_FILE, _labels_text(labels), "labels file") if labels else None
    write_atomic(folder / CONFIG_FILE, config.encode("utf-8"), "Triton model configuration")
    return TritonReport(
        folder,
        folder / CONFIG_FILE,
        model_path,
        labels_path,
        report.opset,
        report.max_abs_diff,
        time.perf_counter() - start,
    )


def triton_config(
    model: onnx.ModelProto,
    name: str,
    max_batch_size: int,
    labels: list[str] | None = None,
    max_queue_delay_microseconds: int | None = None,
) -> str:
    """Triton's config.pbtxt for an ONNX model: its inputs and outputs (dims without the batch dimension when
    max_batch_size > 0), label_filename (labels.txt) on the (n, classes) output as wide as `labels`, and dynamic
    batching."""
    batched = max_batch_size > 0
    label_filename, n_labels = (LABELS_FILE, len(labels)) if labels else (None, 0)
    lines = [f"name: {_quoted(name)}", 'platform: "onnxruntime_onnx"', f"max_batch_size: {max_batch_size}"]
    lines += _tensors("input", model.graph.input, batched)
    lines += _tensors("output", model.graph.output, batched, label_filename, n_labels)
    if batched:
        delay = max_queue_delay_microseconds
        lines.append(
            f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}" if delay else "dynamic_batching { }"
        )
    return "\n".join(lines) + "\n"


def _tensors(kind: str, values, batched: bool, label_filename: str | None = None, n_labels: int = 0) -> list[str]:
    entries = []
    for value in values:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        if batched:
            dims = dims[1:]  # Triton adds the batch dimension itself
        fields = [f"name: {_quoted(value.name)}", f"data_type: {_triton_type(tensor.elem_type, value.name)}"]
        fields.append(f"dims: [ {', '.join(map(str, dims))} ]")
        if label_filename and _is_class_vector(tensor, n_labels):
            fields.append(f"label_filename: {_quoted(label_filename)}")
        entries.append("  {\n" + "".join(f"    {f}\n" for f in fields) + "  }")
    return [f"{kind} [", ",\n".join(entries), "]"]


def _is_class_vector(tensor, n_labels: int) -> bool:
    """(n, classes) with one class per label: the output Triton's classification extension labels."""
    dims = tensor.shape.dim
    return len(dims) == 2 and dims[1].dim_value == n_labels


def _triton_type(elem_type: int, name: str) -> str:
    if elem_type not in _TRITON_TYPES:
        raise DataError(f"Tensor {name!r} has ONNX type {onnx.TensorProto.DataType.Name(elem_type)}, no Triton type.")
    return _TRITON_TYPES[elem_type]


def _quoted(text: str) -> str:
    """A protobuf text-format string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _checked_int(value, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DataError(
            f"Received an invalid value for `{what}`, expected an int in [{low}, {high}]. Received: {value!r}"
        )
    return value


def _default_name(net) -> str:
    return net.name if isinstance(net, Network) else "dl4j-network"


def _checked_name(name) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DataError(
            f"Received an invalid value for `name`: {name!r}. A Triton model name here is 1-64 of A-Z a-z 0-9 _ . - "
            "starting with a letter or digit (it names a folder and a URL path segment)."
        )
    return name


def _checked_labels(net, labels) -> list[str] | None:
    """The labels as a list, one per line of labels.txt: refused when one holds a line break or their count is
    not the width of a single output."""
    if not labels:
        return None
    labels = [str(label) for label in labels]
    broken = [label for label in labels if "\n" in label or "\r" in label]
    if broken:
        raise DataError(f"Labels {broken!r} hold line breaks: Triton's labels file has one label per line.")
    sizes = output_sizes(net)
    if len(sizes) == 1 and sizes[0] is not None and sizes[0] != len(labels):
        raise DataError(f"Received {len(labels)} labels for an output of {sizes[0]} classes.")
    return labels


def _labels_text(labels: list[str]) -> bytes:
    return "".join(f"{label}\n" for label in labels).encode("utf-8")


def _model_folder(repository, name: str) -> Path:
    repository = Path(repository)
    if repository.exists() and not repository.is_dir():
        raise ModelFileError(f"The Triton model repository {repository} is a file, not a folder.")
    folder = repository / name
    target_path(folder / CONFIG_FILE, "Triton model configuration")  # creates the folders, refuses a directory there
    return folder
