"""Convolutional layers (NCHW): ConvolutionLayer, SubsamplingLayer, GlobalPoolingLayer."""
from __future__ import annotations

import math

from .activations import apply_activation
from .registry import Graph, layer

_L = "org.deeplearning4j.nn.conf.layers."
MODES = ("Truncate", "Strict", "Same")


def spatial(in_hw, kernel, stride, padding, dilation, mode: str):
    """ONNX pads [top, left, bottom, right] and the output (height, width), as DL4J computes them.

    Same: output ceil(in / stride), total padding split with the extra row/column at the bottom/right
    (ONNX SAME_UPPER). Truncate and Strict: the symmetric padding from the configuration.
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
            o = (size + 2 * p - effective) // s + 1
        pads_before.append(before)
        pads_after.append(after)
        out.append(o)
    return pads_before + pads_after, tuple(out)


def _geometry(conf: dict):
    return tuple(tuple(int(v) for v in conf.get(key) or (1, 1)) for key in ("kernelSize", "stride", "padding", "dilation"))


def _cnn_checks(conf: dict) -> list[str]:
    problems = []
    data_format = conf.get("cnn2dDataFormat") or "NCHW"
    if data_format != "NCHW":
        problems.append(f"cnn2dDataFormat={data_format} (only NCHW is exported)")
    if conf.get("convolutionMode") not in MODES:
        problems.append(f"convolutionMode={conf.get('convolutionMode')} (supported: {', '.join(MODES)})")
    return problems


@layer(_L + "ConvolutionLayer", check=_cnn_checks)
def convolution(g: Graph, conf: dict, params: dict) -> None:
    """Conv with W [nOut, nIn, kH, kW] (DL4J's and ONNX's layout) and optional bias."""
    kernel, stride, padding, dilation = _geometry(conf)
    pads, out_hw = spatial(g.shape[1:], kernel, stride, padding, dilation, conf["convolutionMode"])
    inputs = [g.x, g.constant("W", params["W"])]
    if conf.get("hasBias", True):
        inputs.append(g.constant("b", params["b"].reshape(-1)))
    g.op("Conv", inputs, "conv", kernel_shape=list(kernel), strides=list(stride), pads=pads, dilations=list(dilation))
    g.shape = (params["W"].shape[0], *out_hw)
    apply_activation(g, conf.get("activationFn"))


def _pooling_checks(conf: dict) -> list[str]:
    problems = _cnn_checks(conf)
    if conf.get("poolingType") not in ("MAX", "AVG"):
        problems.append(f"poolingType={conf.get('poolingType')} (supported: MAX, AVG)")
    if conf.get("poolingType") == "AVG" and tuple(conf.get("dilation") or (1, 1)) != (1, 1):
        problems.append(f"average pooling with dilation={conf.get('dilation')}")
    return problems


@layer(_L + "SubsamplingLayer", check=_pooling_checks)
def subsampling(g: Graph, conf: dict, params: dict) -> None:
    kernel, stride, padding, dilation = _geometry(conf)
    pads, out_hw = spatial(g.shape[1:], kernel, stride, padding, dilation, conf["convolutionMode"])
    if conf["poolingType"] == "MAX":
        g.apply("MaxPool", "maxpool", kernel_shape=list(kernel), strides=list(stride), pads=pads,
                dilations=list(dilation))
    else:
        g.apply("AveragePool", "avgpool", kernel_shape=list(kernel), strides=list(stride), pads=pads,
                count_include_pad=int(bool(conf.get("avgPoolIncludePadInDivisor", True))))
    g.shape = (g.shape[0], *out_hw)


def _global_checks(conf: dict) -> list[str]:
    problems = []
    if conf.get("poolingType") not in ("MAX", "AVG"):
        problems.append(f"poolingType={conf.get('poolingType')} (supported: MAX, AVG)")
    if conf.get("poolingDimensions") not in (None, [2, 3]):
        problems.append(f"poolingDimensions={conf.get('poolingDimensions')} (only [2, 3] of NCHW input)")
    return problems


@layer(_L + "GlobalPoolingLayer", check=_global_checks)
def global_pooling(g: Graph, conf: dict, params: dict) -> None:
    g.apply("GlobalMaxPool" if conf["poolingType"] == "MAX" else "GlobalAveragePool", "global_pool")
    if conf.get("collapseDimensions", True):
        g.apply("Flatten", "global_pool_flat", axis=1)
        g.shape = (g.shape[0],)
    else:
        g.shape = (g.shape[0], 1, 1)
