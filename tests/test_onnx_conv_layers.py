"""2D CNN layers through the exporter, each in NCHW and NHWC, against DL4J's own output (two batch sizes).

Separable, depthwise and transposed convolutions (modes, stride, dilation, bias), upsampling, zero padding,
cropping, space-to-depth, p-norm/sum pooling, and the convolution, pooling, batch-norm and LRN layers in NHWC.
Each case is one layer (or a short stack) on a random image, seeded random weights, the exporter's parity rule
(onnx_helpers.assert_parity: within max(1e-5, 2 x DL4J float32's own error) of DL4J in float64).
"""

from __future__ import annotations

import numpy as np
import pytest
from dl4j_builders import (
    batch_norm_in,
    cnn_format,
    conv,
    conv_input,
    cropping,
    deconv,
    depthwise_conv,
    global_pooling,
    lrn,
    output,
    pooling,
    separable_conv,
    sequential,
    space_to_depth,
    upsampling,
    zero_padding,
)
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.errors import UnsupportedLayerError

ROWS = 3


def _images(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (ROWS, *shape)).astype(np.float32)


def _image_shape(h: int, w: int, c: int, nhwc: bool) -> tuple[int, int, int]:
    return (h, w, c) if nhwc else (c, h, w)


def _one_layer(make, h: int, w: int, c: int, nhwc: bool, seed: int):
    """A network of the layers `make(nhwc)` returns, on an (h, w, c) image in the given layout."""

    def build():
        layers = make(nhwc)
        net = sequential(layers if isinstance(layers, list) else [layers], conv_input(h, w, c, nhwc), seed=seed)
        randomize(net, seed)
        shape = _image_shape(h, w, c, nhwc)
        return net, _images(shape, seed), shape

    return build


def _avg_pool(k: int, stride: int, include_pad: bool, nhwc: bool):
    from bridge.jvm import jclass

    L = "org.deeplearning4j.nn.conf.layers."
    b = jclass(L + "SubsamplingLayer$Builder")(jclass(L + "SubsamplingLayer$PoolingType").AVG)
    b = b.kernelSize(k, k).stride(stride, stride).avgPoolIncludePadInDivisor(include_pad).dataFormat(cnn_format(nhwc))
    return b.build()


def _dense_out():
    return output(3, "identity", "MSE")


def fit_batch(net, features, labels) -> None:
    import jpype

    from bridge.jvm import jclass

    arrays = lambda a: jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([bridge.to_indarray(a)])  # noqa: E731
    jclass("ai.dl4jbridge.train.Networks").fitBatch(net, arrays(features), arrays(labels))


def _trained_batch_norm(nhwc: bool):
    """conv -> batch norm -> global average -> dense output, a few SGD steps so the running mean and
    variance are DL4J's own statistics rather than the initial zeros and ones."""

    def build():
        net = sequential(
            [
                conv(4, 3, conv_mode="Same", nhwc=nhwc),
                batch_norm_in(nhwc),
                global_pooling("AVG"),
                output(3, "identity", "MSE"),
            ],
            conv_input(7, 7, 2, nhwc),
            seed=11,
        )
        randomize(net, 11)
        shape = _image_shape(7, 7, 2, nhwc)
        rng = np.random.default_rng(12)
        for _ in range(3):
            features = (rng.normal(0.5, 2.0, (8, *shape))).astype(np.float32)
            # Networks.fitBatch, the bridge's training step: DL4J's oneDNN helpers train NHWC batch norm to NaN
            fit_batch(net, features, rng.normal(0, 1, (8, 3)).astype(np.float32))
        return net, _images(shape, 13), shape

    return build


# id -> (layers for a layout, input height, width, channels); every one runs in NCHW and in NHWC.
LAYERS = {
    # SeparableConvolution2D: depthwise [m, nIn, kH, kW] then pointwise [nOut, nIn*m, 1, 1]
    "separable-truncate": (lambda f: separable_conv(4, nhwc=f), 9, 9, 3),
    "separable-same-stride2": (lambda f: separable_conv(5, stride=2, conv_mode="Same", nhwc=f), 9, 8, 3),
    "separable-dilation2-multiplier2": (lambda f: separable_conv(4, dilation=2, multiplier=2, nhwc=f), 10, 10, 3),
    "separable-nobias-padding1": (lambda f: separable_conv(3, padding=1, bias=False, act="tanh", nhwc=f), 6, 7, 2),
    "separable-strict-stride2": (lambda f: separable_conv(4, stride=2, conv_mode="Strict", nhwc=f), 9, 9, 2),
    # DepthwiseConvolution2D: W [kH, kW, nIn, m]
    "depthwise-truncate": (lambda f: depthwise_conv(nhwc=f), 8, 8, 3),
    "depthwise-same-stride2-multiplier2": (
        lambda f: depthwise_conv(stride=2, conv_mode="Same", multiplier=2, nhwc=f),
        9,
        7,
        3,
    ),
    # Multiplier 2: with multiplier 1, DL4J's own dilated depthwise op fails on the oneDNN build ("could not
    # create a descriptor for a dilated convolution"), so there is no DL4J output to compare with.
    "depthwise-dilation2-nobias": (
        lambda f: depthwise_conv(dilation=2, multiplier=2, bias=False, act="identity", nhwc=f),
        9,
        9,
        2,
    ),
    "depthwise-padding1-multiplier3": (lambda f: depthwise_conv(padding=1, multiplier=3, nhwc=f), 5, 6, 2),
    # Deconvolution2D: W [nIn, nOut, kH, kW]; output stride * (in - 1) + kernel - 2 * padding, or in * stride (Same)
    "deconv-truncate": (lambda f: deconv(4, nhwc=f), 5, 6, 3),
    "deconv-truncate-stride2-padding1": (lambda f: deconv(3, stride=2, padding=1, nhwc=f), 5, 5, 2),
    "deconv-same-stride2": (lambda f: deconv(3, stride=2, conv_mode="Same", nhwc=f), 5, 4, 2),
    "deconv-same-kernel4-stride2": (lambda f: deconv(3, k=4, stride=2, conv_mode="Same", nhwc=f), 4, 5, 2),
    "deconv-same-kernel2-stride3": (lambda f: deconv(2, k=2, stride=3, conv_mode="Same", nhwc=f), 4, 4, 2),
    "deconv-same-stride1": (lambda f: deconv(2, conv_mode="Same", nhwc=f), 5, 5, 2),
    "deconv-dilation2-nobias": (lambda f: deconv(3, dilation=2, bias=False, act="identity", nhwc=f), 4, 5, 2),
    "deconv-strict-stride2": (lambda f: deconv(2, stride=2, conv_mode="Strict", nhwc=f), 4, 4, 3),
    # Upsampling2D (nearest), ZeroPaddingLayer and Cropping2D [top, bottom, left, right], SpaceToDepthLayer
    "upsampling-2x2": (lambda f: upsampling(2, 2, f), 4, 5, 3),
    "upsampling-2x3": (lambda f: upsampling(2, 3, f), 3, 4, 2),
    "upsampling-1x3": (lambda f: upsampling(1, 3, f), 3, 3, 2),
    "zero-padding-1-2-3-4": (lambda f: zero_padding(1, 2, 3, 4, f), 4, 5, 3),
    "zero-padding-top-only": (lambda f: zero_padding(2, 0, 0, 0, f), 3, 3, 2),
    "cropping-1-2-0-1": (lambda f: cropping(1, 2, 0, 1, f), 7, 6, 3),
    "cropping-left-right": (lambda f: cropping(0, 0, 2, 2, f), 5, 7, 2),
    "space-to-depth-2": (lambda f: space_to_depth(2, f), 8, 6, 3),
    "space-to-depth-3": (lambda f: space_to_depth(3, f), 6, 9, 2),
    # SubsamplingLayer: p-norm, and the pools already exported, in both layouts
    "pnorm-pool-p2": (lambda f: pooling("PNORM", 2, 2, pnorm=2, nhwc=f), 8, 8, 3),
    "pnorm-pool-p3-same": (lambda f: pooling("PNORM", 3, 2, conv_mode="Same", pnorm=3, nhwc=f), 7, 8, 2),
    "pnorm-pool-p1-padding1": (lambda f: pooling("PNORM", 3, 2, pnorm=1, padding=1, nhwc=f), 7, 7, 2),
    "max-pool-same-stride2": (lambda f: pooling("MAX", 3, 2, conv_mode="Same", nhwc=f), 7, 8, 3),
    "avg-pool-truncate": (lambda f: pooling("AVG", 2, 2, nhwc=f), 6, 7, 3),
    "avg-pool-same": (lambda f: pooling("AVG", 3, 2, conv_mode="Same", nhwc=f), 7, 7, 2),
    # GlobalPoolingLayer over the map's own spatial axes
    "global-pnorm-p2": (lambda f: global_pooling("PNORM", 2), 5, 6, 3),
    "global-pnorm-p3": (lambda f: global_pooling("PNORM", 3), 5, 5, 2),
    "global-sum": (lambda f: global_pooling("SUM"), 4, 6, 3),
    "global-max": (lambda f: global_pooling("MAX"), 4, 6, 3),
    "global-avg": (lambda f: global_pooling("AVG"), 4, 6, 3),
    "global-avg-kept-dimensions": (lambda f: global_pooling("AVG", collapse=False), 4, 5, 3),
    "global-pnorm-kept-dimensions": (lambda f: global_pooling("PNORM", 2, collapse=False), 4, 5, 3),
    # ConvolutionLayer and LocalResponseNormalization in both layouts
    "conv-truncate": (lambda f: conv(4, 3, nhwc=f), 7, 8, 3),
    "conv-same-stride2": (lambda f: conv(5, 3, stride=2, conv_mode="Same", nhwc=f), 9, 8, 3),
    "conv-nobias-padding1": (lambda f: conv(3, 3, padding=1, bias=False, act="tanh", nhwc=f), 6, 6, 2),
    "lrn-n5": (lambda f: lrn(nhwc=f), 5, 5, 7),
    "lrn-n3": (lambda f: lrn(3, k=1.0, alpha=1e-2, beta=0.5, nhwc=f), 4, 4, 5),
    # A stack: depthwise-separable block, then a decoder step, as a U-Net or MobileNet would use them
    "stack-separable-deconv-upsample": (
        lambda f: [
            depthwise_conv(conv_mode="Same", nhwc=f),
            separable_conv(4, conv_mode="Same", nhwc=f),
            deconv(3, k=2, stride=2, conv_mode="Same", nhwc=f),
            upsampling(2, 2, f),
            cropping(1, 1, 1, 1, f),
            zero_padding(0, 1, 0, 1, f),
        ],
        6,
        6,
        3,
    ),
    # Truncate mode, a window larger than the map by less than the stride: DL4J's output size (in + 2p - k) / s + 1
    # in Java's integer division (towards zero) is one row or column, pooled over the map's edge (DL4J's zoo
    # ResNet50 at 128x128: a 3x3 average pooling over a 2x2 map), where Python's floor gives none; a dense output
    # layer after it reads the size (its CnnToFeedForwardPreProcessor is configured with DL4J's).
    "max-pool-window-over-the-edge": (lambda f: [pooling("MAX", 3, 2, nhwc=f), _dense_out()], 2, 2, 3),
    "avg-pool-window-over-the-edge": (lambda f: [_avg_pool(3, 2, False, f), _dense_out()], 2, 3, 3),
    "avg-pool-include-pad-window-over-the-edge": (lambda f: [_avg_pool(3, 2, True, f), _dense_out()], 2, 2, 2),
    "pnorm-pool-window-over-the-edge": (lambda f: [pooling("PNORM", 4, 3, nhwc=f), _dense_out()], 3, 2, 2),
}

# DL4J's own output() fails on these in NHWC (the exporter refuses them: test below).
NCHW_ONLY = {"global-avg-kept-dimensions", "global-pnorm-kept-dimensions"}
CASES = {
    f"{name}-{'nhwc' if nhwc else 'nchw'}": _one_layer(make, h, w, c, nhwc, seed)
    for seed, (name, (make, h, w, c)) in enumerate(LAYERS.items(), start=1)
    for nhwc in (False, True)
    if not (nhwc and name in NCHW_ONLY)
}
CASES.update({f"batch-norm-trained-{'nhwc' if nhwc else 'nchw'}": _trained_batch_norm(nhwc) for nhwc in (False, True)})


@pytest.mark.parametrize("case", list(CASES))
def test_conv_layer_parity(case):
    net, x, input_shape = CASES[case]()
    assert_parity(net, x, input_shape=input_shape)


@pytest.mark.parametrize(
    "layer, h, w, c, nhwc, message",
    [
        (lambda: pooling("MAX", 2, 1, dilation=2), 6, 6, 2, False, "pools an undilated window"),
        (lambda: pooling("AVG", 2, 1, dilation=2, nhwc=True), 6, 6, 2, True, "pools an undilated window"),
        (lambda: global_pooling("AVG", collapse=False), 4, 5, 3, True, "collapseDimensions=false on NHWC"),
    ],
    ids=["max-pool-dilation2", "avg-pool-dilation2-nhwc", "global-kept-dimensions-nhwc"],
)
def test_settings_dl4j_computes_wrongly_are_refused_by_name(layer, h, w, c, nhwc, message):
    net, _, input_shape = _one_layer(lambda f: layer(), h, w, c, nhwc, 1)()
    with pytest.raises(UnsupportedLayerError, match=message):
        bridge.onnx.to_onnx(net, input_shape=input_shape)


@pytest.mark.parametrize("log_std", [True, False], ids=["log10stdev", "var"])
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
def test_batch_norm_factor_is_computed_in_float64(log_std, nhwc):
    """Each batch norm's factor gamma / sqrt(var + eps) is computed at export in float64 and rounded once (ONNX
    BatchNormalization with var 1 and epsilon 0 then multiplies by it exactly). Computed in float32 in the graph it
    is three roundings per channel that every later layer carries coherently: InceptionResNetV1 from DL4J's zoo
    (127 batch norms) missed the parity rule by them (tests/test_onnx_families.py)."""
    from onnx import numpy_helper

    from bridge.jvm import jclass

    norm = jclass("org.deeplearning4j.nn.conf.layers.BatchNormalization$Builder")().useLogStd(log_std).eps(1e-3)
    layers = [conv(5, 3, conv_mode="Same", act="identity", nhwc=nhwc), norm.dataFormat(cnn_format(nhwc)).build()]
    net = sequential([*layers, global_pooling("AVG"), output(3)], conv_input(6, 6, 2, nhwc), seed=21)
    randomize(net, 21)
    params = {str(k): bridge.to_numpy(v).astype(np.float64).reshape(-1) for k, v in dict(net.paramTable()).items()}
    var = (10.0 ** params["1_log10stdev"]) ** 2 if log_std else params["1_var"]
    shape = _image_shape(6, 6, 2, nhwc)
    model = bridge.onnx.to_onnx(net, input_shape=shape)
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type == "BatchNormalization")
    factor, _, mean, unit = (initializers[name] for name in node.input[1:])
    np.testing.assert_array_equal(factor, (params["1_gamma"] / np.sqrt(var + 1e-3)).astype(np.float32))
    assert not mean.any() and (unit == 1).all()
    assert next(a.f for a in node.attribute if a.name == "epsilon") == 0.0
    assert_parity(net, _images(shape, 22), input_shape=shape)
