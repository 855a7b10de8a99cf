"""bridge.augment.Augmentation (computed in Java): each transform checked on small known images against numpy.

Expected values come from numpy (np.rot90, np.flip, zero-filled shifts, a linear ramp that bilinear sampling
reproduces exactly), never from the Java code under test.
"""

from __future__ import annotations

import jpype
import numpy as np
import pytest
from dl4j_builders import GraphSpec, conv, conv_input, output_in

from bridge import nets
from bridge.augment import Augmentation
from bridge.errors import DataError, ShapeError, java_errors
from bridge.jvm import jclass
from bridge.jvm.arrays import to_indarray, to_numpy

EVERYTHING = dict(
    shift=2,
    rotation=15,
    flip_horizontal=True,
    flip_vertical=True,
    crop=(6, 6),
    scale=(0.8, 1.2),
    brightness=0.1,
    contrast=0.2,
    noise=0.05,
)


def _images(rng, n=16, c=1, h=8, w=8):
    return rng.random((n, c, h, w), dtype=np.float32)


def _one_pixel(n=32, size=7, at=(2, 4)):
    x = np.zeros((n, 1, size, size), np.float32)
    x[:, 0, at[0], at[1]] = 1.0
    return x


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """image moved by (dy, dx) pixels, zeros filling what comes from outside."""
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _java_batch(array):
    return jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([to_indarray(array)])


def test_default_settings_leave_images_unchanged(rng):
    x = _images(rng, c=3)
    np.testing.assert_array_equal(Augmentation().apply(x, seed=5), x)
    np.testing.assert_array_equal(Augmentation(rotation=0, scale=(1, 1), crop=(8, 8)).apply(x, seed=5), x)


def test_same_seed_same_images_other_seed_other_images(rng):
    x, aug = _images(rng, c=3), Augmentation(**EVERYTHING)
    first, again = aug.apply(x, seed=11), aug.apply(x, seed=11)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, aug.apply(x, seed=12))
    assert not np.allclose(first, Augmentation(**EVERYTHING, seed=1).apply(x, seed=11))  # the settings' own seed
    assert np.isfinite(first).all() and first.dtype == np.float32 and first.shape == x.shape


def test_input_is_left_untouched(rng):
    x = _images(rng)
    copy = x.copy()
    Augmentation(**EVERYTHING).apply(x, seed=3)
    np.testing.assert_array_equal(x, copy)


def test_shift_moves_a_bright_pixel_by_whole_pixels_with_zero_fill():
    x = _one_pixel()
    out = Augmentation(shift=1).apply(x, seed=7)
    offsets = set()
    for image, result in zip(x, out):
        (y,), (xx,) = np.nonzero(result[0] == 1.0)[0:1], np.nonzero(result[0] == 1.0)[1:2]
        dy, dx = int(y[0]) - 2, int(xx[0]) - 4
        assert abs(dy) <= 1 and abs(dx) <= 1
        np.testing.assert_array_equal(result, _shifted(image, dy, dx))
        offsets.add((dy, dx))
    assert len(offsets) >= 4, f"32 images drew only the shifts {offsets}"


def test_shift_at_the_border_drops_the_pixel_and_fills_zeros():
    x = _one_pixel(n=64, at=(0, 0))
    out = Augmentation(shift=(0, 1)).apply(x, seed=2)
    sums = out.reshape(64, -1).sum(axis=1)
    assert set(sums.tolist()) == {0.0, 1.0}, "a shift left loses the corner pixel; zeros come in, nothing else"


@pytest.mark.parametrize("flag, axis", [("flip_horizontal", -1), ("flip_vertical", -2)])
def test_flips_mirror_about_half_of_the_images(rng, flag, axis):
    x = _images(rng, n=32, c=2, h=5, w=6)
    out = Augmentation(**{flag: True}).apply(x, seed=4)
    flipped = [not np.array_equal(o, i) for o, i in zip(out, x)]
    for o, i, f in zip(out, x, flipped):
        np.testing.assert_array_equal(o, np.flip(i, axis=axis) if f else i)
    assert 0 < sum(flipped) < 32


@pytest.mark.parametrize("degrees, k", [(90, 1), (-90, -1), (180, 2)])
def test_rotation_by_quarter_turns_on_a_square_matches_numpy(rng, degrees, k):
    x = _images(rng, n=4, c=3, h=6, w=6)
    out = Augmentation(rotation=(degrees, degrees)).apply(x, seed=0)
    np.testing.assert_allclose(out, np.rot90(x, k=k, axes=(2, 3)), atol=1e-6)


def test_rotation_of_a_non_square_image_fills_corners_with_zeros():
    x = np.ones((1, 1, 4, 8), np.float32)
    out = Augmentation(rotation=(90, 90)).apply(x, seed=0)[0, 0]
    assert out[:, 0].max() == 0 and out[:, -1].max() == 0  # came from outside the 4-row image
    np.testing.assert_array_equal(out[:, 3:5], 1.0)  # the middle stays inside


def test_scale_zooms_about_the_centre():
    x = np.zeros((1, 1, 7, 7), np.float32)
    x[0, 0, 3, 3], x[0, 0, 2, 4] = 0.5, 1.0  # the centre, and one pixel up-right of it
    out = Augmentation(scale=(2, 2)).apply(x, seed=0)[0, 0]
    assert out[3, 3] == 0.5 and out[1, 5] == 1.0  # the centre stays; (-1, +1) from it moves to (-2, +2)


def test_crop_resizes_a_window_back_to_the_image_size():
    """A ramp (value = column) is linear, so bilinear resampling of any window reproduces it exactly."""
    w = 8
    x = np.tile(np.arange(w, dtype=np.float32), (16, 1, w, 1))
    out = Augmentation(crop=(4, 4)).apply(x, seed=9)
    ramp = np.clip((np.arange(w) + 0.5) * 4 / w - 0.5, 0, 3)  # window coordinates of the output columns
    starts = set()
    for result in out:
        x0 = result[0, 0, 0] - ramp[0]
        assert x0 == round(x0) and 0 <= x0 <= w - 4
        np.testing.assert_allclose(result[0], np.tile(x0 + ramp, (w, 1)), atol=1e-5)
        starts.add(int(x0))
    assert len(starts) > 1


def test_brightness_adds_one_offset_per_image(rng):
    x = _images(rng, n=16)
    diff = Augmentation(brightness=0.2).apply(x, seed=1) - x
    per_image = diff.reshape(16, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image), atol=1e-6)
    assert np.abs(per_image[:, 0]).max() <= 0.2 and np.std(per_image[:, 0]) > 0.01


def test_contrast_scales_deviation_from_each_channels_mean(rng):
    x = _images(rng, n=8, c=3)
    out = Augmentation(contrast=0.5).apply(x, seed=1)
    mean = x.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out.mean(axis=(2, 3), keepdims=True), mean, atol=1e-5)
    factor = ((out - mean) / (x - mean)).reshape(8, -1)
    np.testing.assert_allclose(factor, factor[:, :1] * np.ones_like(factor), rtol=1e-3)
    assert ((0.5 <= factor[:, 0]) & (factor[:, 0] <= 1.5)).all() and np.std(factor[:, 0]) > 0.01


def test_noise_has_the_asked_standard_deviation_and_clip_bounds_values():
    x = np.full((32, 1, 16, 16), 0.5, np.float32)
    noisy = Augmentation(noise=0.1).apply(x, seed=3) - x
    assert abs(noisy.std() - 0.1) < 0.005 and abs(noisy.mean()) < 0.005
    clipped = Augmentation(noise=1.0, clip=(0, 1)).apply(x, seed=3)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_nhwc_layout_draws_the_same_transform(rng):
    x = _images(rng, n=8, c=3, h=9, w=9)
    aug = Augmentation(**EVERYTHING, clip=(0, 1))
    nchw = aug.apply(x, seed=5)
    nhwc = aug.apply(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), seed=5, layout="NHWC")
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), nchw, atol=1e-6)


def test_to_java_reads_flat_rows_of_a_sequential_image_network(rng):
    net = nets.lenet()  # takes (n, 784) rows of 1 x 28 x 28 images
    aug = Augmentation(rotation=(90, 90))
    x = rng.random((4, 784), dtype=np.float32)
    out = to_numpy(aug.to_java(net).apply(_java_batch(x), 3)[0])
    assert out.shape == (4, 784)
    np.testing.assert_allclose(out.reshape(4, 1, 28, 28), np.rot90(x.reshape(4, 1, 28, 28), axes=(2, 3)), atol=1e-6)


def test_to_java_augments_nhwc_network_inputs_channels_last(rng):
    net = (
        GraphSpec()
        .input("image", conv_input(6, 6, 2, nhwc=True))
        .layer("c", conv(3, 3, nhwc=True), "image")
        .layer("out", output_in(48, 2), "c")
        .build("out")
    )
    x = rng.random((3, 6, 6, 2), dtype=np.float32)
    out = to_numpy(Augmentation(flip_vertical=True, rotation=(180, 180)).to_java(net).apply(_java_batch(x), 1)[0])
    flipped = [np.array_equal(o, np.flip(i, axis=1)) for o, i in zip(out, x)]  # a flip undoes half of the turn
    rotated = [np.allclose(o, np.rot90(i, 2, axes=(0, 1)), atol=1e-6) for o, i in zip(out, x)]
    assert all(f or r for f, r in zip(flipped, rotated))


def test_to_java_refuses_a_network_without_image_input():
    with pytest.raises(DataError, match="needs a network with an image input.*784"):
        Augmentation(shift=1).to_java(nets.mlp())


def test_java_transform_refuses_a_batch_of_the_wrong_rank(rng):
    transform = Augmentation(shift=1).to_java(nets.resnet_small())  # takes (n, 1, 28, 28)
    with (
        pytest.raises(DataError, match="expected a rank-4 batch of images \\[n, C, H, W\\], received rank 2"),
        java_errors("fit"),
    ):  # the boundary the training loop's errors cross
        transform.apply(_java_batch(rng.random((2, 784), dtype=np.float32)), 0)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 8, 8), np.float32), "rank-4 batch"),
        (np.zeros((2, 1, 8, 8), np.uint8), "as floats"),
        (np.zeros((2, 1, 4, 4), np.float32), "crop window must fit"),
    ],
    ids=["rank-3", "integers", "crop-too-big"],
)
def test_apply_refuses_bad_batches(images, message):
    with pytest.raises((ShapeError, DataError), match=message):
        Augmentation(crop=(6, 6)).apply(images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shift=-1), "`shift`, expected an int >= 0"),
        (dict(shift=1.5), "`shift`"),
        (dict(rotation=(30, 10)), "low <= high"),
        (dict(rotation="big"), "`rotation`"),
        (dict(scale=(0, 1)), "0 < low <= high"),
        (dict(scale=2), "`scale`, expected \\(low, high\\)"),
        (dict(crop=0), "`crop`, expected an int >= 1"),
        (dict(brightness=-0.1), "`brightness`, expected a number >= 0"),
        (dict(contrast=1.0), "0 <= contrast < 1"),
        (dict(noise=float("nan")), "`noise`, expected a finite number"),
        (dict(flip_horizontal="yes"), "`flip_horizontal`, expected True or False"),
        (dict(clip=(1, 0)), "`clip`"),
        (dict(seed="x"), "`seed`"),
    ],
    ids=[
        "negative-shift",
        "float-shift",
        "reversed-rotation",
        "text-rotation",
        "zero-scale",
        "scalar-scale",
        "zero-crop",
        "negative-brightness",
        "contrast-1",
        "nan-noise",
        "text-flag",
        "reversed-clip",
        "text-seed",
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(DataError, match=message):
        Augmentation(**kwargs)


# ---- through bridge.fit: the training loop applies the transform to each minibatch on its loader thread ----------


def _trained_params(mnist, augmentation, seed=5):
    import bridge

    x, y, _, _ = mnist
    net = nets.lenet(seed=1)
    bridge.fit(net, x[:256], y[:256], epochs=1, batch_size=64, seed=seed, progress=False, augmentation=augmentation)
    return to_numpy(net.java.params())


def test_fit_with_augmentation_is_seeded_and_changes_what_the_network_sees(mnist):
    plain = _trained_params(mnist, None)
    augmentation = Augmentation(shift=2, rotation=10, scale=(0.9, 1.1))
    augmented = _trained_params(mnist, augmentation)
    np.testing.assert_array_equal(_trained_params(mnist, augmentation), augmented)  # same run seed, same result
    assert not np.array_equal(augmented, plain)
    assert not np.array_equal(_trained_params(mnist, augmentation, seed=6), augmented)
    np.testing.assert_array_equal(_trained_params(mnist, Augmentation()), plain)  # identity: nothing else changes


def test_fit_refuses_augmentation_for_a_network_without_image_input(mnist):
    import bridge

    x, y, _, _ = mnist
    with pytest.raises(DataError, match="needs a network with an image input"):
        bridge.fit(nets.mlp(), x[:64], y[:64], progress=False, augmentation=Augmentation(shift=1))


@pytest.mark.slow
def test_fit_on_spark_augments_on_the_workers(mnist):
    """The Java transform is Serializable: Spark ships it to its executors, which augment each minibatch."""
    import bridge

    x, y = mnist[0][:128], mnist[1][:128]

    def trained(augmentation):
        net = nets.lenet(seed=1)
        bridge.fit(net, x, y, epochs=1, batch_size=32, seed=3, spark="local[1]", verbose=0, augmentation=augmentation)
        return to_numpy(net.java.params())

    plain, augmented = trained(None), trained(Augmentation(shift=2, rotation=10))
    assert np.isfinite(augmented).all()
    assert not np.array_equal(plain, augmented)
    np.testing.assert_array_equal(trained(Augmentation()), plain)  # identity settings: the same training
