"""Random image augmentation of training minibatches, computed in Java (ai.dl4jbridge.train.Augmentation).

    aug = bridge.augment.Augmentation(shift=2, rotation=10, scale=(0.9, 1.1), noise=0.02, clip=(0, 1))
    bridge.fit(net, x, y, epochs=10, augmentation=aug)     # the training loop calls aug.to_java(net)
    preview = aug.apply(images, seed=0)                    # (n, C, H, W) in, (n, C, H, W) out

Every image of a batch gets its own draws, in this order: a crop (resized back to the image size), flips,
an integer shift, a rotation and a zoom about the centre (one inverse mapping, bilinear sampling, zeros where
the source lies outside the image), then brightness, contrast, Gaussian noise and the optional clip. The result
is a pure function of (batch, seed): the training loop derives the seed from the run's seed, the epoch and the
batch index. Images are (n, C, H, W), (n, H, W, C) for NHWC networks, or the flat C-order rows that networks
built with nets.sequential(input_shape=(C, H, W)) take; to_java(net) reads which from the network.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError, ShapeError, java_boundary, java_errors
from ..jvm import jclass
from ..jvm.arrays import to_indarray, to_numpy
from ..model.inputs import input_specs

__all__ = ["Augmentation"]

_CLASS = "ai.dl4jbridge.train.Augmentation"


class Augmentation:
    """Random augmentation settings; the defaults leave images unchanged.

    shift: largest shift in pixels, an int or (max_dy, max_dx); integer shifts drawn uniformly per axis.
    rotation: degrees: r draws from [-r, r], (low, high) from that range; positive turns counter-clockwise.
    flip_horizontal, flip_vertical: mirror left-right / top-bottom, each with probability 1/2.
    crop: (height, width) (or an int for a square) of a random window, resized back to the image size.
    scale: zoom factor range (low, high), e.g. (0.9, 1.1); > 1 enlarges.
    brightness: offset drawn from [-b, b], added to every value of the image.
    contrast: c scales each channel's deviation from its mean by a factor drawn from [1 - c, 1 + c].
    noise: standard deviation of Gaussian noise added to every value.
    clip: (low, high) to clip the result to, e.g. (0, 1); None leaves values unclipped.
    seed: mixed into every batch's seed (two augmentations with different seeds draw differently).
    """

    def __init__(
        self,
        shift=0,
        rotation=0.0,
        flip_horizontal: bool = False,
        flip_vertical: bool = False,
        crop=None,
        scale=(1.0, 1.0),
        brightness: float = 0.0,
        contrast: float = 0.0,
        noise: float = 0.0,
        clip=None,
        seed: int = 0,
    ):
        self.shift = _pair_of_ints(shift, "shift", minimum=0)
        self.rotation = _range(rotation, "rotation", symmetric=True)
        self.flip_horizontal = _flag(flip_horizontal, "flip_horizontal")
        self.flip_vertical = _flag(flip_vertical, "flip_vertical")
        self.crop = None if crop is None else _pair_of_ints(crop, "crop", minimum=1)
        self.scale = _range(scale, "scale", symmetric=False)
        if self.scale[0] <= 0:
            raise DataError(
                f"Received an invalid value for `scale`, expected 0 < low <= high. Received: scale={scale!r}"
            )
        self.brightness = _non_negative(brightness, "brightness")
        self.contrast = _non_negative(contrast, "contrast")
        if self.contrast >= 1:
            raise DataError(
                f"Received an invalid value for `contrast`, expected 0 <= contrast < 1 (a factor from "
                f"[1 - c, 1 + c]). Received: contrast={contrast!r}"
            )
        self.noise = _non_negative(noise, "noise")
        self.clip = None if clip is None else _range(clip, "clip", symmetric=False)
        if self.clip is not None and self.clip[0] >= self.clip[1]:
            raise DataError(
                f"Received an invalid value for `clip`, expected (low, high) with low < high. Received: clip={clip!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise DataError(f"Received an invalid value for `seed`, expected an int. Received: seed={seed!r}")
        self.seed = int(seed)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"Augmentation({fields})"

    def settings(self):
        """The Java Augmentation.Settings."""
        s = jclass(_CLASS + "$Settings")()
        s.maxShiftY, s.maxShiftX = self.shift
        s.rotationLow, s.rotationHigh = self.rotation
        s.flipHorizontal, s.flipVertical = self.flip_horizontal, self.flip_vertical
        if self.crop is not None:
            s.cropHeight, s.cropWidth = self.crop
        s.scaleLow, s.scaleHigh = self.scale
        s.brightness, s.contrast, s.noise = self.brightness, self.contrast, self.noise
        if self.clip is not None:
            s.clip, (s.clipLow, s.clipHigh) = True, self.clip
        s.seed = self.seed
        return s

    @java_boundary("Augmentation.to_java")
    def to_java(self, net):
        """The Java BatchTransform for `net`: its image inputs augmented in the network's own layout, its flat
        (non-image) inputs passed through. DataError when the network has no image input."""
        specs = input_specs(net)
        layouts = [_image_input(spec) for spec in specs]
        if all(layout is None for layout in layouts):
            raise DataError(
                "Augmentation needs a network with an image input: this one takes "
                + ", ".join(f"{s.name!r} flat (n, {s.shape[0] if s.shape else 'F'})" for s in specs)
                + "."
            )
        for spec, layout in zip(specs, layouts):
            if layout is not None and spec.shape is not None:
                self._check_crop(*_height_width(spec))
        with java_errors("setting up augmentation"):
            import jpype

            inputs = jpype.JArray(jclass(_CLASS + "$ImageInput"))(layouts)
            return jclass(_CLASS)(self.settings(), inputs)

    @java_boundary("Augmentation.apply")
    def apply(self, images, seed: int = 0, layout: str = "NCHW") -> np.ndarray:
        """The augmented copy of `images`, float32 (n, C, H, W) (or (n, H, W, C) with layout="NHWC"), as the
        training loop would compute it for a batch with this seed."""
        if layout not in ("NCHW", "NHWC"):
            raise DataError(f"Received an invalid value for `layout`, expected 'NCHW' or 'NHWC'. Received: {layout!r}")
        x = np.asarray(images)
        if x.ndim != 4:
            order = "(n, C, H, W)" if layout == "NCHW" else "(n, H, W, C)"
            raise ShapeError(f"Expected `images` as a rank-4 batch {order}, received shape {x.shape}.")
        if not np.issubdtype(x.dtype, np.floating):
            raise DataError(f"Expected `images` as floats (e.g. float32 in [0, 1]), received dtype {x.dtype}.")
        self._check_crop(*(x.shape[2:] if layout == "NCHW" else x.shape[1:3]))

        Input = jclass(_CLASS + "$ImageInput")
        image_input = Input.nchw() if layout == "NCHW" else Input.nhwc()
        with java_errors("augmentation"):
            import jpype

            java = jclass(_CLASS)(self.settings(), image_input)
            batch = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))(
                [to_indarray(np.ascontiguousarray(x, dtype=np.float32))]
            )
            return to_numpy(java.apply(batch, int(seed))[0])

    def _check_crop(self, height: int, width: int) -> None:
        if self.crop is not None and (self.crop[0] > height or self.crop[1] > width):
            raise DataError(
                f"Received crop={self.crop} for images of {height}x{width}: the crop window must fit inside the image."
            )


def _image_input(spec):
    Input = jclass(_CLASS + "$ImageInput")
    if spec.layout == "NCHW":
        return Input.nchw()
    if spec.layout == "NHWC":
        return Input.nhwc()
    if spec.image is not None:
        return Input.flatRows(*spec.image)
    return None


def _height_width(spec) -> tuple[int, int]:
    if spec.layout == "flat":
        return spec.image[1], spec.image[2]
    return tuple(spec.shape[1:]) if spec.layout == "NCHW" else tuple(spec.shape[:2])


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DataError(f"Received an invalid value for `{name}`, expected True or False. Received: {name}={value!r}")
    return bool(value)


def _number(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
    ):
        raise DataError(f"Received an invalid value for `{name}`, expected a finite number. Received: {value!r}")
    return float(value)


def _non_negative(value, name: str) -> float:
    number = _number(value, name)
    if number < 0:
        raise DataError(f"Received an invalid value for `{name}`, expected a number >= 0. Received: {name}={value!r}")
    return number


def _range(value, name: str, symmetric: bool) -> tuple[float, float]:
    """r -> (-r, r) when symmetric; (low, high) checked low <= high."""
    if symmetric and not isinstance(value, (tuple, list)):
        r = _non_negative(value, name)
        return -r, r
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        shape = "a number r (for [-r, r]) or (low, high)" if symmetric else "(low, high)"
        raise DataError(f"Received an invalid value for `{name}`, expected {shape}. Received: {name}={value!r}")
    low, high = (_number(v, name) for v in value)
    if low > high:
        raise DataError(
            f"Received an invalid value for `{name}`, expected (low, high) with low <= high. Received: {name}={value!r}"
        )
    return low, high


def _pair_of_ints(value, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        raise DataError(
            f"Received an invalid value for `{name}`, expected an int >= {minimum} or a pair of them. "
            f"Received: {name}={value!r}"
        )
    return int(pair[0]), int(pair[1])
