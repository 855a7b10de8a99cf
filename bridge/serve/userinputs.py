"""A user's inputs for `dl4j-bridge predict`: .npy / .npz arrays, an image file, or a folder of images.

Arrays are taken as they are (float32/float64, laid out as OnnxModel.predict takes them; .npz needs one array,
or --key). Images are read with Pillow, converted to the model's channels (grey for 1, RGB for 3), resized to
the model's height x width and scaled to [0, 1] (pixel / 255), as bridge.data scales MNIST. Nothing is
unpickled: bridge.data.npfiles checks each header against the file and the memory cap before reading; an
unreadable, forged or oversized file is a DataError naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import IMAGE_SUFFIXES, decode_image
from ..data.npfiles import open_npz, read_npy
from ..errors import DataError, ShapeError
from .runtime import flattened_image

__all__ = ["read_inputs", "IMAGE_SUFFIXES", "image_geometry"]


def read_inputs(path, model, key: str | None = None, invert: bool = False) -> tuple[np.ndarray, list[str]]:
    """(the array to predict on, one source name per row) for a .npy/.npz file, an image or a folder of images."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
        return np.stack([_image(p, model, invert) for p in files]), [p.name for p in files]
    if not path.is_file():
        raise DataError(f"No input file at {path}: pass a .npy/.npz file, an image, or a folder of images.")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        x = _array(path, key)
        return x, [f"{path.name}[{i}]" for i in range(len(x))]
    if suffix in IMAGE_SUFFIXES:
        return _image(path, model, invert)[None], [path.name]
    raise DataError(
        f"{path}: unknown input type {suffix!r}; expected .npy, .npz, an image "
        f"({', '.join(IMAGE_SUFFIXES)}) or a folder of images."
    )


def _array(path: Path, key: str | None) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        x = read_npy(path)
    else:
        with open_npz(path) as archive:
            names = archive.names
            chosen = key or (names[0] if len(names) == 1 else "x" if "x" in names else None)
            if chosen is None or chosen not in names:
                raise DataError(
                    f"{path} holds arrays {names}: name the one to predict on with --key (received {key!r})."
                )
            (x,) = archive.read(chosen)
    if x.ndim < 2 or len(x) == 0:
        raise ShapeError(f"{path}: expected an array of shape (n, ...) with n >= 1 rows, found {x.shape}.")
    return x


def image_geometry(model) -> tuple[int, int, int, str]:
    """(channels, height, width, layout) of the images `model` (an OnnxModel) takes; ShapeError if none."""
    shape, layout = model.input_shape, model.input_layout
    if len(shape) == 3 and None not in shape:
        if layout.startswith("NHWC"):
            return shape[2], shape[0], shape[1], "NHWC"
        return shape[0], shape[1], shape[2], "NCHW"
    if len(shape) == 1 and shape[0]:
        image = flattened_image(layout)
        if image:
            return (*image, "flat")
        side = int(round(shape[0] ** 0.5))
        if side * side == shape[0]:
            return 1, side, side, "flat"
    raise ShapeError(
        f"The model takes {layout}: not an image input this command can size images for. "
        "Pass a .npy/.npz array instead."
    )


def _image(path: Path, model, invert: bool) -> np.ndarray:
    channels, height, width, layout = image_geometry(model)
    if channels not in (1, 3):
        raise ShapeError(f"The model takes {channels}-channel images; image files give 1 (grey) or 3 (RGB).")
    x = decode_image(path, channels, (height, width))
    if invert:
        x = 1.0 - x
    if layout == "NHWC":
        return x
    chw = np.transpose(x, (2, 0, 1))
    return chw.reshape(-1) if layout == "flat" else chw
