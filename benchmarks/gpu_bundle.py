"""The GPU check's bundle: exported CNN families made small enough to travel to a lent GPU machine.

A zoo-size network's weights (ResNet-50: 25.6 M parameters, 102 MB of float32) do not fit the 64 MiB that one
device call may carry. The preparing step (benchmarks.gpu_prepare, here, with DL4J) therefore sets every
large weight tensor of the DL4J network to values drawn from a seed *before* it calibrates, exports and records
DL4J's outputs; the bundle keeps the exported ONNX file without those tensors (a "skeleton") and, for each,
its name, shape, seed, bound and SHA-256. The checking step (benchmarks.gpu_check, on the device machine:
numpy, onnx, onnxruntime, no JDK) draws the same tensors again, refuses any whose SHA-256 differs, and puts
them back: the restored file is, tensor for tensor, the one DL4J's outputs were recorded from.

Why these draws reproduce bit for bit on any machine: they use only PCG64's raw 64-bit stream (NumPy keeps
bit generators' streams stable across versions) and IEEE operations that are exactly rounded (integer shift,
int-to-float conversion, multiply, add, float64-to-float32 cast), never a transcendental function whose last
bit may differ between libm or SIMD implementations. The SHA-256 check makes any drift an error, not a wrong
comparison.

Folder layout (FORMAT 1):
    manifest.json        {"format": 1, "families": {name: {...}}, ...}
    <family>.onnx        the exported model without its seeded tensors
    <family>.dl4j.npy    DL4J's output() on the family's first `reference_rows` seeded images
numpy and onnx only: this module is imported on the device machine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

FORMAT = 1
MANIFEST = "manifest.json"
_UNIT = 2.0**-53


class BundleError(RuntimeError):
    """The bundle is missing, malformed, or its seeded tensors do not reproduce on this machine."""


def uniform(seed: int, count: int) -> np.ndarray:
    """`count` float64 values in [0, 1): PCG64(seed)'s raw stream, top 53 bits of each word (exact)."""
    raw = np.random.PCG64(seed).random_raw(count)
    return (raw >> np.uint64(11)).astype(np.float64) * _UNIT


def seeded_tensor(seed: int, shape, bound: float) -> np.ndarray:
    """float32 values uniform in [-bound, bound), C order, of the given shape."""
    shape = tuple(int(d) for d in shape)
    values = (uniform(seed, int(np.prod(shape, dtype=np.int64))) * 2.0 - 1.0) * float(bound)
    return values.astype(np.float32).reshape(shape)


def seeded_images(seed: int, count: int, shape) -> np.ndarray:
    """float32 (count, C, H, W) images: coarse 8x8 blobs plus fine noise, each image with its own contrast and
    brightness (plain noise would be averaged away by global pooling: every image would get one class).
    The first k of `count` images are the `k` images drawn with the same seed: batches are prefixes."""
    c, h, w = (int(d) for d in shape)
    ch, cw = -(-h // 8), -(-w // 8)
    coarse = uniform(seed, count * c * ch * cw).reshape(count, c, ch, cw)
    blobs = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)[:, :, :h, :w]
    fine = uniform(seed + 1, count * c * h * w).reshape(count, c, h, w)
    contrast = uniform(seed + 2, count).reshape(count, 1, 1, 1) + 0.5
    brightness = uniform(seed + 3, count).reshape(count, 1, 1, 1) - 0.5
    return ((blobs + fine * 0.3) * contrast + brightness).astype(np.float32)


def digest(array: np.ndarray) -> str:
    """SHA-256 of the array's bytes in C order (its dtype's native little-endian layout)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def strip(model: onnx.ModelProto, seeded: dict[str, tuple[int, float]]) -> tuple[onnx.ModelProto, list[dict]]:
    """(the model without the initializers whose bytes have a digest in `seeded`, one entry per removed tensor).

    seeded: {digest: (seed, bound)} of the tensors drawn with seeded_tensor. Matching by content, not by name,
    keeps every tensor the exporter re-laid (transposed, folded) in the skeleton, where it is stored as is."""
    skeleton, entries, keep = onnx.ModelProto(), [], []
    skeleton.CopyFrom(model)
    for tensor in skeleton.graph.initializer:
        array = numpy_helper.to_array(tensor)
        found = seeded.get(digest(array)) if array.dtype == np.float32 else None
        if found is None:
            keep.append(tensor)
            continue
        seed, bound = found
        entries.append(
            {"name": tensor.name, "shape": list(array.shape), "seed": seed, "bound": bound, "sha256": digest(array)}
        )
    del skeleton.graph.initializer[:]
    skeleton.graph.initializer.extend(keep)
    return skeleton, entries


def restore(skeleton: onnx.ModelProto, entries: list[dict]) -> onnx.ModelProto:
    """The skeleton with its seeded initializers drawn again; BundleError if any draw's SHA-256 differs."""
    tensors = []
    for entry in entries:
        array = seeded_tensor(entry["seed"], entry["shape"], entry["bound"])
        if digest(array) != entry["sha256"]:
            raise BundleError(
                f"seeded tensor {entry['name']!r} {entry['shape']} (seed {entry['seed']}) does not reproduce on "
                f"this machine (numpy {np.__version__}): SHA-256 {digest(array)[:12]}, expected {entry['sha256'][:12]}"
            )
        tensors.append(numpy_helper.from_array(array, entry["name"]))
    model = onnx.ModelProto()
    model.CopyFrom(skeleton)
    model.graph.initializer.extend(tensors)
    return model


def read_manifest(folder: Path) -> dict:
    """The bundle's manifest.json; BundleError naming the folder when absent or of another format."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(
            f"No GPU-check bundle at {folder} ({MANIFEST} missing): run `python -m benchmarks.gpu_prepare`."
        )
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: format {manifest.get('format')!r}, this code reads format {FORMAT}.")
    return manifest


def family_model(folder: Path, family: dict) -> onnx.ModelProto:
    """The family's full ONNX model, restored from its skeleton and seeded entries."""
    skeleton = onnx.load(str(Path(folder) / family["skeleton"]))
    return restore(skeleton, family["seeded"])


def reference(folder: Path, family: dict) -> tuple[np.ndarray, np.ndarray]:
    """(the reference images, DL4J's outputs on them); BundleError if the images do not reproduce."""
    x = seeded_images(family["image_seed"], family["reference_rows"], family["input_shape"])
    if digest(x) != family["reference_sha256"]:
        raise BundleError(f"{family['skeleton']}: the reference images do not reproduce on numpy {np.__version__}.")
    return x, np.load(Path(folder) / family["dl4j_outputs"], allow_pickle=False)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


__all__ = [
    "BundleError",
    "FORMAT",
    "digest",
    "family_model",
    "folder_bytes",
    "read_manifest",
    "reference",
    "restore",
    "seeded_images",
    "seeded_tensor",
    "strip",
    "uniform",
]
