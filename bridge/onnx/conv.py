"""Convolutional layers: ConvolutionLayer, SubsamplingLayer, GlobalPoolingLayer (NCHW, or NHWC around them)."""

from __future__ import annotations

import math

from .activations import apply_activation
from .registry import Graph, Tensor, data_format, from_nchw, layer, to_nchw

_L = "org.deeplearning4j.nn.conf.layers."
MODES = ("Truncate", "Strict", "Same")


def spatial(in_hw, kernel, stride, padding, dilation, mode: str):
    """ONNX pads [top, left, bottom, right] and the output (height, width), as DL4J computes them.

    Same: output ceil(in / stride), total padding split with the extra row/column at the bottom/right
    (ONNX SAME_UPPER). Truncate and Strict: the symmetric padding from the configuration, and DL4J's output size
    (in + 2p - k) / s + 1 in Java's integer division, which truncates towards zero: a window larger than the padded
    input by less than the stride still gives one output (DL4J's zoo ResNet50 at 128x128 and less: its 3x3 average
    pooling over a 2x2 map), pooled over the input's rows and columns; ONNX gets that window as padding at the
    bottom/right (MaxPool ignores padding; AveragePool counts it where DL4J divides by the kernel's size).
    """
    pads_before, pads_after, out = [], [], []
    for size, k, s, p, d in zip(in_hw, kernel, stride, padding, dilation):
        effective = (k - 1) * d + 1
        if mode == "Same":
            o = math.ceil(size / s)
            total = max(0, (o - 1) * s + effective - size)
            before, after = total // 2, total - total // 2
        else:
            before = after = p
            o = _java_division(size + 2 * p - effective, s) + 1
            after = max(p, (o - 1) * s + effective - size - p)  # more than p only where the window overhangs
        pads_before.append(before)
        pads_after.append(after)
        out.append(o)
    return pads_before + pads_after, tuple(out)


def _java_division(a: int, b: int) -> int:
    return -(-a // b) if a < 0 else a // b


def geometry(conf: dict):
    """(kernel, stride, padding, dilation), each a pair of ints."""
    return tuple(
        tuple(int(v) for v in conf.get(key) or (1, 1)) for key in ("kernelSize", "stride", "padding", "dilation")
    )


def conv_mode_check(conf: dict) -> list[str]:
    if conf.get("convolutionMode") not in MODES:
        return [f"convolutionMode={conf.get('convolutionMode')} (supported: {', '.join(MODES)})"]
    return []


def conv_nchw(g: Graph, conf: dict, x: Tensor, weights, bias, n_out: int, group: int = 1) -> Tensor:
    """One ONNX Conv on an NCHW tensor with DL4J's geometry; weights [nOut, nIn/group, kH, kW]."""
    kernel, stride, padding, dilation = geometry(conf)
    pads, out_hw = spatial(x.shape[1:], kernel, stride, padding, dilation, conf["convolutionMode"])
    inputs = (g.constant("W", weights),) + ((g.constant("b", bias.reshape(-1)),) if bias is not None else ())
    return g.apply(
        "Conv",
        x,
        (n_out, *out_hw),
        "conv",
        extra_inputs=inputs,
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=pads,
        dilations=list(dilation),
        group=group,
    )


# Convolution2D and Pooling2D: DL4J's subclasses of ConvolutionLayer and SubsamplingLayer, with no settings of their own.
@layer(_L + "ConvolutionLayer", _L + "Convolution2D", check=conv_mode_check)
def convolution(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """Conv with W [nOut, nIn, kH, kW] (DL4J's and ONNX's layout) and optional bias."""
    fmt = data_format(conf)
    bias = params["b"] if conf.get("hasBias", True) else None
    y = conv_nchw(g, conf, to_nchw(g, x, fmt), params["W"], bias, params["W"].shape[0])
    return activate_in_layout(g, conf, from_nchw(g, y, fmt))


def activate_in_layout(g: Graph, conf: dict, y: Tensor) -> Tensor:
    """The activation on the map in the layer's own layout: DL4J applies it to the array the layer returns,
    and ND4J's softmax normalises that array's last axis (channels for NHWC, width for NCHW; checked on
    ConvolutionLayer, SeparableConvolution2D, DepthwiseConvolution2D and Deconvolution2D), so an NHWC layer's
    activation must come after the transpose back."""
    return apply_activation(g, conf.get("activationFn"), y)


def _pooling_checks(conf: dict) -> list[str]:
    problems = conv_mode_check(conf)
    if conf.get("poolingType") not in ("MAX", "AVG", "PNORM"):
        problems.append(f"poolingType={conf.get('poolingType')} (supported: MAX, AVG, PNORM)")
    if tuple(conf.get("dilation") or (1, 1)) != (1, 1):
        # DL4J 1.0.0-M2.1 sizes the output for the dilated window but pools an undilated one (both nd4j builds).
        problems.append(
            f"{conf.get('poolingType')} pooling with dilation={conf.get('dilation')} (DL4J pools "
            "an undilated window into an output sized for the dilated one)"
        )
    return problems


@layer(_L + "SubsamplingLayer", _L + "Pooling2D", check=_pooling_checks)
def subsampling(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    kernel, stride, padding, dilation = geometry(conf)
    pads, out_hw = spatial(x.shape[1:], kernel, stride, padding, dilation, conf["convolutionMode"])
    shape, common = (x.shape[0], *out_hw), dict(kernel_shape=list(kernel), strides=list(stride), pads=pads)
    if conf["poolingType"] == "MAX":
        y = g.apply("MaxPool", x, shape, "maxpool", dilations=list(dilation), **common)
    elif conf["poolingType"] == "AVG":
        y = g.apply(
            "AveragePool",
            x,
            shape,
            "avgpool",
            count_include_pad=int(bool(conf.get("avgPoolIncludePadInDivisor", True))),
            **common,
        )
    else:
        y = g.apply("LpPool", x, shape, "pnorm_pool", p=int(conf.get("pnorm", 2)), **common)
    return from_nchw(g, y, fmt)


def _global_checks(conf: dict) -> list[str]:
    problems = []
    if conf.get("poolingType") not in ("MAX", "AVG", "PNORM", "SUM"):
        problems.append(f"poolingType={conf.get('poolingType')} (supported: MAX, AVG, PNORM, SUM)")
    if conf.get("poolingDimensions") == [1, 2] and conf.get("collapseDimensions") is False:
        problems.append(
            "collapseDimensions=false on NHWC maps (DL4J 1.0.0-M2.1's own output() fails on it: "
            "it reshapes [N, C] to [N, H, 1, 1])"
        )
    return problems


@layer(_L + "GlobalPoolingLayer", check=_global_checks)
def global_pooling(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """Pooling over the spatial axes of a map (the feature axis of [N, F] input is left alone)."""
    if len(x.shape) != 3:
        return x
    fmt = data_format(conf) if conf.get("poolingDimensions") != [1, 2] else "NHWC"
    x = to_nchw(g, x, fmt)
    kind = conf["poolingType"]
    if kind == "PNORM":
        y = g.apply("GlobalLpPool", x, (x.shape[0], 1, 1), "global_pnorm", p=int(conf.get("pnorm", 2)))
    elif kind == "SUM":
        y = Tensor(g.reduce("ReduceSum", x.name, (2, 3), "global_sum"), (x.shape[0], 1, 1))
    else:
        y = g.apply("GlobalMaxPool" if kind == "MAX" else "GlobalAveragePool", x, (x.shape[0], 1, 1), "global_pool")
    if conf.get("collapseDimensions", True):
        return g.apply("Flatten", y, (x.shape[0],), "global_pool_flat", axis=1)
    return from_nchw(g, y, fmt)
