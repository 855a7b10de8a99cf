"""One image decoder for training data (bridge.data.load_image_folder) and for prediction inputs
(`dl4j-bridge predict`), so that a model sees at serving time exactly the pixels it was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError, ShapeError

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "decode_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_IMAGE_PIXELS = 50_000_000  # a decompression bomb is refused before it is decoded
_MODES = {1: "L", 3: "RGB"}  # grey, or RGB


def decode_image(path: str | Path, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file as float32 (height, width, channels) in [0, 1] (pixel / 255): converted to grey (1 channel)
    or RGB (3), resized bilinearly to size (height, width) when given. DataError naming the file if it is not a
    readable image or is larger than MAX_IMAGE_PIXELS."""
    if channels not in _MODES:
        raise ShapeError(f"Images decode to 1 (grey) or 3 (RGB) channels; {channels} were asked for.")
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise DataError(f"{path}: resizing to {size[0]} x {size[1]} exceeds {MAX_IMAGE_PIXELS:,} pixels: refused.")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:
            image = image.convert(_MODES[channels])
            if size is not None:
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc}).") from exc
    return (pixels.astype(np.float32) / np.float32(255.0)).reshape(pixels.shape[0], pixels.shape[1], channels)
