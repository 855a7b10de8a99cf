"""Data: the bundled and Debian-packaged datasets, IDX/CSV/NPZ files and image folders, as numpy arrays.

Nothing here starts the JVM: these are the arrays that bridge.fit and bridge.OnnxModel take.
"""

from .images import IMAGE_SUFFIXES, decode_image
from .loaders import (
    DATASETS,
    FASHION_MNIST_DIR,
    FASHION_MNIST_LABELS,
    IMAGE_EXTENSIONS,
    is_image_folder,
    labels_for,
    load,
    load_csv,
    load_image_folder,
    load_npz,
    read_idx,
)

__all__ = [
    "load",
    "read_idx",
    "load_npz",
    "load_csv",
    "load_image_folder",
    "is_image_folder",
    "labels_for",
    "decode_image",
    "IMAGE_EXTENSIONS",
    "IMAGE_SUFFIXES",
    "DATASETS",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_LABELS",
]
