"""More 2D CNN layers: separable, depthwise and transposed convolutions, upsampling, padding, cropping, space-to-depth.

Each works on NCHW maps, or on NHWC maps (`CNN2DFormat.NHWC`) between transposes or directly on its own axes.
DL4J's weight layouts (checked against its output):
    SeparableConvolution2D  W [depthMultiplier, nIn, kH, kW] (depthwise), pW [nOut, nIn*depthMultiplier, 1, 1], b [nOut]
    DepthwiseConvolution2D  W [kH, kW, nIn, depthMultiplier], b [nIn*depthMultiplier]
    Deconvolution2D         W [nIn, nOut, kH, kW] (ONNX ConvTranspose's layout), b [nOut]
The depthwise output channel of input channel c and multiplier m is c*depthMultiplier + m, as in an ONNX Conv
with group=nIn.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from .conv import activate_in_layout, conv_mode_check, conv_nchw, geometry
from .registry import FLOAT, Graph, Tensor, data_format, from_nchw, layer, refuse, to_nchw

_L = "org.deeplearning4j.nn.conf.layers."


def _bias(conf: dict, params: dict):
    return params["b"].reshape(-1) if conf.get("hasBias", True) and "b" in params else None


@layer(_L + "SeparableConvolution2D", check=conv_mode_check)
def separable_convolution(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """A depthwise Conv (group=nIn, no bias) then a 1x1 pointwise Conv with the bias, then the activation.

    NHWC: DL4J 1.0.0-M2.1 computes in NCHW and returns a permuted view ([N,H,W,C], strides of the NCHW buffer):
    a true transpose. (Reading that view's buffer as if it were C-ordered looks like a reshape: it is not.)"""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    depthwise = params["W"]  # [m, nIn, kH, kW] -> [nIn*m, 1, kH, kW], channel c*m + k
    multiplier, n_in, kh, kw = depthwise.shape
    weights = np.ascontiguousarray(depthwise.transpose(1, 0, 2, 3)).reshape(n_in * multiplier, 1, kh, kw)
    y = conv_nchw(g, conf, x, weights, None, n_in * multiplier, group=n_in)
    pointwise = params["pW"]
    y = g.apply(
        "Conv",
        y,
        (pointwise.shape[0], *y.shape[1:]),
        "pointwise",
        extra_inputs=(g.constant("pW", pointwise),) + _bias_input(g, _bias(conf, params)),
        kernel_shape=[1, 1],
    )
    return activate_in_layout(g, conf, from_nchw(g, y, fmt))


def _bias_input(g: Graph, bias) -> tuple[str, ...]:
    return (g.constant("b", bias),) if bias is not None else ()


@layer(_L + "DepthwiseConvolution2D", check=conv_mode_check)
def depthwise_convolution(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """One ONNX Conv with group=nIn; W [kH, kW, nIn, m] becomes [nIn*m, 1, kH, kW]."""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    kh, kw, n_in, multiplier = params["W"].shape
    weights = np.ascontiguousarray(params["W"].transpose(2, 3, 0, 1)).reshape(n_in * multiplier, 1, kh, kw)
    y = conv_nchw(g, conf, x, weights, _bias(conf, params), n_in * multiplier, group=n_in)
    return activate_in_layout(g, conf, from_nchw(g, y, fmt))


def deconvolution_geometry(in_hw, kernel, stride, padding, dilation, mode: str):
    """ONNX pads [top, left, bottom, right], output_padding and the output (height, width), as DL4J computes them.

    Same: output in * stride; libnd4j puts floor(total / 2) of the padding top/left (total = (in - 1) * stride
    + effective kernel - output), the rest bottom/right; when the kernel is smaller than the stride the
    total is negative and ONNX adds the missing rows as output_padding. Truncate/Strict: output
    stride * (in - 1) + effective kernel - 2 * padding.
    """
    before, after, extra, out = [], [], [], []
    for size, k, s, p, d in zip(in_hw, kernel, stride, padding, dilation):
        effective = (k - 1) * d + 1
        if mode == "Same":
            o = size * s
            total = (size - 1) * s + effective - o
            top = max(0, total // 2)
            before.append(top)
            after.append(max(0, total - top))
            extra.append(max(0, -total))
        else:
            o = s * (size - 1) + effective - 2 * p
            before.append(p)
            after.append(p)
            extra.append(0)
        out.append(o)
    return before + after, extra, tuple(out)


@layer(_L + "Deconvolution2D", check=conv_mode_check)
def deconvolution(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """ONNX ConvTranspose: DL4J's W [nIn, nOut, kH, kW] is already its (C_in, C_out, kH, kW) layout."""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    kernel, stride, padding, dilation = geometry(conf)
    pads, extra, out_hw = deconvolution_geometry(
        x.shape[1:], kernel, stride, padding, dilation, conf["convolutionMode"]
    )
    if min(out_hw) < 1:
        refuse(f"Deconvolution2D on a {x.shape[1:]} map with kernel {kernel}, padding {padding} has no output.")
    weights = params["W"]
    y = g.apply(
        "ConvTranspose",
        x,
        (weights.shape[1], *out_hw),
        "deconv",
        extra_inputs=(g.constant("W", weights),) + _bias_input(g, _bias(conf, params)),
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=pads,
        dilations=list(dilation),
        output_padding=extra,
    )
    return activate_in_layout(g, conf, from_nchw(g, y, fmt))


def _spatial_axes(fmt: str) -> tuple[int, int]:
    """The height and width axes of an [N, ...] map in its own layout."""
    return (1, 2) if fmt == "NHWC" else (2, 3)


def _with_hw(shape: tuple[int, ...], fmt: str, h: int, w: int) -> tuple[int, ...]:
    return (h, w, shape[2]) if fmt == "NHWC" else (shape[0], h, w)


def _hw(shape: tuple[int, ...], fmt: str) -> tuple[int, int]:
    return (shape[0], shape[1]) if fmt == "NHWC" else (shape[1], shape[2])


@layer(_L + "Upsampling2D")
def upsampling(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """Nearest-neighbour repeat by (sH, sW): ONNX Resize with integer scales (asymmetric, floor), exact copies."""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    sh, sw = (int(v) for v in conf.get("size") or (1, 1))
    scales = g.constant("scales", np.array([1, 1, sh, sw], np.float32))
    y = Tensor(
        g.op(
            "Resize",
            [x.name, "", scales],
            "upsample",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
        (x.shape[0], x.shape[1] * sh, x.shape[2] * sw),
    )
    return from_nchw(g, y, fmt)


@layer(_L + "ZeroPaddingLayer")
def zero_padding(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """The map between blocks of zeros on its own height and width axes (ONNX ConstantOfShape and Concat); DL4J's
    padding is [top, bottom, left, right].

    Not ONNX Pad: ONNX Runtime's PadFusion folds a Pad whose value is a constant 0 into a following MaxPool's pads,
    which MaxPool fills with -inf (1.17-1.31: windows of negative values at the border then give their maximum, not
    DL4J's 0). A zero computed at run time only hides the constant until something folds it: ONNX Runtime itself
    where the batch size is fixed, onnx-simplifier always. No fusion takes a Concat for a Pad."""
    fmt = data_format(conf)
    top, bottom, left, right = (int(v) for v in conf["padding"])
    h_axis, w_axis = _spatial_axes(fmt)
    h, w = _hw(x.shape, fmt)
    rows = _between_zeros(g, x.name, h_axis, top, bottom, "zero_pad_rows")
    padded = _between_zeros(g, rows, w_axis, left, right, "zero_pad_columns")
    if padded == x.name:
        padded = g.op("Identity", [x.name], "zero_pad")
    return Tensor(padded, _with_hw(x.shape, fmt, h + top + bottom, w + left + right))


def _between_zeros(g: Graph, x: str, axis: int, before: int, after: int, hint: str) -> str:
    """x with `before` and `after` rows of zeros along `axis`, the blocks shaped from x's run-time shape."""
    if before == 0 and after == 0:
        return x
    shape = g.op("Shape", [x], f"{hint}_shape")
    keep = g.ints("keep", [0 if d == axis else 1 for d in range(4)])
    parts = [x]
    for position, size in ((0, before), (1, after)):
        if size:
            block = g.op(
                "Add", [g.op("Mul", [shape, keep]), g.ints("rows", [size if d == axis else 0 for d in range(4)])]
            )
            zeros = g.op(
                "ConstantOfShape", [block], f"{hint}_zeros", value=helper.make_tensor("zero", FLOAT, [1], [0.0])
            )
            parts.insert(0 if position == 0 else len(parts), zeros)
    return g.op("Concat", parts, hint, axis=axis)


@layer(_L + "convolutional.Cropping2D")
def cropping(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """ONNX Slice on the map's own height and width axes; DL4J's cropping is [top, bottom, left, right]."""
    fmt = data_format(conf)
    top, bottom, left, right = (int(v) for v in conf["cropping"])
    h, w = _hw(x.shape, fmt)
    if top + bottom >= h or left + right >= w:
        refuse(f"Cropping2D cropping={[top, bottom, left, right]} leaves nothing of a {h}x{w} map.")
    inputs = (
        g.ints("starts", (top, left)),
        g.ints("ends", (h - bottom, w - right)),
        g.ints("axes", _spatial_axes(fmt)),
    )
    return g.apply("Slice", x, _with_hw(x.shape, fmt, h - top - bottom, w - left - right), "crop", extra_inputs=inputs)


@layer(_L + "SpaceToDepthLayer")
def space_to_depth(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """ONNX SpaceToDepth: output channel (row offset * block + column offset) * C + c, as DL4J orders it."""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    block = int(conf["blockSize"])
    c, h, w = x.shape
    if h % block or w % block:
        refuse(f"SpaceToDepthLayer blockSize={block} does not divide a {h}x{w} map.")
    y = g.apply("SpaceToDepth", x, (c * block * block, h // block, w // block), "space_to_depth", blocksize=block)
    return from_nchw(g, y, fmt)
