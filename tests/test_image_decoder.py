"""The image decoder Spark executors use (ai.dl4jbridge.train.ImageDecoder, Java) gives the pixels of the Python one
(bridge.data.images.decode_image, which load_image_folder and predict use), bit for bit: every mode Pillow writes,
grey and RGB, resized down, up, one side only, or not at all."""

from __future__ import annotations

import io

import jpype
import numpy as np
import pytest
from PIL import Image

from bridge.data.images import decode_image
from bridge.errors import BridgeError, java_errors
from bridge.jvm import jclass

FORMATS = {
    "L.png": ("L", "PNG"),
    "RGB.png": ("RGB", "PNG"),
    "RGBA.png": ("RGBA", "PNG"),
    "LA.png": ("LA", "PNG"),
    "P.png": ("P", "PNG"),
    "1.png": ("1", "PNG"),
    "RGB.jpg": ("RGB", "JPEG"),
    "L.jpg": ("L", "JPEG"),
    "P.gif": ("P", "GIF"),
    "RGB.bmp": ("RGB", "BMP"),
    "L.bmp": ("L", "BMP"),
    "RGB.tiff": ("RGB", "TIFF"),
}
# (height, width) from 37 x 45: Pillow 13 orders its two passes by which side shrinks and which grows.
SIZES = {
    "same": None,
    "down": (28, 28),
    "up": (40, 52),
    "width-only": (37, 20),
    "height-only": (11, 45),
    "taller-narrower": (50, 30),
    "shorter-wider": (30, 60),
}


def _encoded(name: str, rng) -> bytes:
    mode, fmt = FORMATS[name]
    # A smooth gradient plus noise: JPEG's blocks and the resampling both have something to do.
    h, w = 37, 45
    base = np.add.outer(np.linspace(0, 200, h), np.linspace(0, 55, w))
    rgb = np.clip(base[..., None] + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    image = image.convert("RGBA") if mode == "RGBA" else image.convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L"))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def _java(encoded: bytes, channels: int, size) -> np.ndarray:
    h, w = size if size is not None else (0, 0)
    with java_errors("decoding"):
        pixels = jclass("ai.dl4jbridge.train.ImageDecoder").decode(
            jpype.JArray(jpype.JByte)(encoded), channels, h, w, "test image"
        )
    return np.asarray(pixels[:], dtype=np.float32)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
@pytest.mark.parametrize("name", FORMATS)
def test_java_decoder_gives_the_python_decoders_pixels(tmp_path, rng, name, channels, size):
    encoded = _encoded(name, rng)
    path = tmp_path / f"image-{name}"
    path.write_bytes(encoded)
    expected = decode_image(path, channels, size)
    got = _java(encoded, channels, size).reshape(expected.shape)
    differ = np.argwhere(got != expected)
    assert differ.size == 0, (
        f"{name} -> {channels} channel(s) at {size}: {len(differ)} of {expected.size} values differ, first at "
        f"{differ[0].tolist()}: Java {got[tuple(differ[0])]} vs Python {expected[tuple(differ[0])]}"
    )


@pytest.mark.parametrize(
    "encoded, message",
    [
        (b"not an image at all", "cannot be read as an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cannot be read as an image"),
    ],
    ids=["garbage", "truncated-png"],
)
def test_unreadable_images_are_refused_by_name(encoded, message):
    with pytest.raises(BridgeError, match=f"test image: {message}"):
        _java(encoded, 1, (28, 28))


def test_sixteen_bit_images_are_refused_rather_than_decoded_differently(tmp_path):
    out = io.BytesIO()
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(out, "PNG")
    with pytest.raises(BridgeError, match="16-bit samples"):
        _java(out.getvalue(), 1, None)


def test_java_decoder_matches_at_random_sizes(tmp_path):
    """Noise images (the hardest case for rounding) at 100 random (source, target) size pairs, grey and RGB."""
    rng = np.random.default_rng(20261205)
    for case in range(100):
        h, w, height, width = (int(v) for v in rng.integers(1, 70, 4))
        channels = (1, 3)[case % 2]
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB").save(out, "PNG")
        path = tmp_path / f"noise-{case}.png"
        path.write_bytes(out.getvalue())
        expected = decode_image(path, channels, (height, width))
        got = _java(out.getvalue(), channels, (height, width)).reshape(expected.shape)
        assert np.array_equal(got, expected), f"{h}x{w} -> {height}x{width}, {channels} channel(s)"
