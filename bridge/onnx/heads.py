"""Output heads and parametrised activations: LossLayer, CnnLossLayer, Yolo2OutputLayer, PReLULayer,
CenterLossOutputLayer, ElementWiseMultiplicationLayer and AutoEncoder, each as DL4J's output() computes it."""

from __future__ import annotations

import numpy as np

from .activations import apply_activation
from .dense import dense
from .registry import ACTIVATION_FREE, Graph, Tensor, data_format, from_nchw, layer, refuse, to_nchw

_L = "org.deeplearning4j.nn.conf.layers."

# DL4J never applies these layers' configured activation function (PReLULayer runs its own PReLU; the YOLO
# head its fixed sigmoid/exp/softmax mix), so the scan must not refuse one it cannot convert.
ACTIVATION_FREE.update({_L + "PReLULayer", _L + "objdetect.Yolo2OutputLayer"})


@layer(_L + "LossLayer")
def loss_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """No parameters: the activation alone (the loss function only matters in training)."""
    return apply_activation(g, conf.get("activationFn"), x)


@layer(_L + "CnnLossLayer")
def cnn_loss_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """The activation per pixel over the channel axis: DL4J reshapes the map to [N*H*W, C] rows, applies it,
    and reshapes back, so an NCHW map goes through NHWC for the activation (a softmax then spans channels)."""
    if len(x.shape) != 3:
        refuse(
            f"CnnLossLayer {conf.get('layerName')!r} on a [N,{','.join(map(str, x.shape))}] input (it takes image maps)"
        )
    if data_format(conf) == "NHWC":
        return apply_activation(g, conf.get("activationFn"), x)
    c, h, w = x.shape
    rows = g.apply("Transpose", x, (h, w, c), "pixels_last", perm=[0, 2, 3, 1])
    y = apply_activation(g, conf.get("activationFn"), rows)
    return g.apply("Transpose", y, (c, h, w), "pixels_first", perm=[0, 3, 1, 2])


@layer(_L + "PReLULayer")
def prelu_layer(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """x < 0 ? alpha * x : x, alpha "W" of the per-example input shape with 1 on the shared axes, which
    broadcasts over the batch as ONNX PRelu's slope does."""
    alpha = np.asarray(params["W"], np.float32)
    if alpha.ndim > len(x.shape) or any(a not in (1, d) for a, d in zip(alpha.shape[::-1], x.shape[::-1])):
        refuse(
            f"PReLULayer {conf.get('layerName')!r}: alpha of shape {list(alpha.shape)} does not broadcast "
            f"over its input [N,{','.join(map(str, x.shape))}]"
        )
    return g.apply("PRelu", x, hint="prelu", extra_inputs=(g.constant("alpha", alpha),))


def _priors(conf: dict) -> np.ndarray:
    boxes = conf["boundingBoxes"]
    return np.asarray(boxes["data"], np.float32).reshape(boxes["shape"])


@layer(_L + "objdetect.Yolo2OutputLayer")
def yolo2_output(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """DL4J's YoloUtils.activate: the [N, B*(5+C), H, W] map read as [N, B, 5+C, H, W] with, per box,
    sigmoid(x, y), prior * exp(w, h), sigmoid(confidence) and a softmax over the C class scores. NHWC: in
    1.0.0-M2.1 it permutes the map to NCHW, does the same and permutes back (YoloUtils.activate(.., nchw, ..)).
    All in float32 (TensorRT has no float64): ONNX Runtime's Exp is a few ulps off ND4J's, far less than the
    float32 rounding of the logits that exp() magnifies in both, which the parity check allows for."""
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    priors, (depth, h, w) = _priors(conf), x.shape
    boxes = priors.shape[0]
    classes = depth // boxes - 5
    if depth % boxes or classes < 1:
        refuse(f"Yolo2OutputLayer with {boxes} boxes on {depth} channels (it needs B*(5+C) channels, C >= 1)")
    grid = g.op("Reshape", [x.name, g.ints("yolo_5d", (-1, boxes, 5 + classes, h, w))], "yolo_boxes")
    xy, wh, confidence, scores = (
        _channels(g, grid, start, stop) for start, stop in ((0, 2), (2, 4), (4, 5), (5, 5 + classes))
    )
    wh = g.op(
        "Mul", [g.op("Exp", [wh], "yolo_exp"), g.constant("yolo_priors", priors.reshape(boxes, 2, 1, 1))], "yolo_wh"
    )
    parts = [
        g.op("Sigmoid", [xy], "yolo_xy"),
        wh,
        g.op("Sigmoid", [confidence], "yolo_conf"),
        g.op("Softmax", [scores], "yolo_classes", axis=2),
    ]
    joined = g.op("Concat", parts, "yolo_joined", axis=2)
    y = Tensor(g.op("Reshape", [joined, g.ints("yolo_4d", (-1, depth, h, w))], "yolo"), x.shape)
    return from_nchw(g, y, fmt)


def _channels(g: Graph, grid: str, start: int, stop: int) -> str:
    """Entries start..stop of each box (axis 2 of [N, B, 5+C, H, W])."""
    return g.op("Slice", [grid, g.ints("start", [start]), g.ints("stop", [stop]), g.ints("axis", [2])], "yolo_part")


@layer(_L + "CenterLossOutputLayer", _L + "AutoEncoder")
def dense_at_inference(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """activation(x·W + b) at inference: the class centres "cL" (CenterLossOutputLayer) and the visible
    bias "vb" (AutoEncoder, whose output() is its encoder) only serve training."""
    return dense(g, conf, params, x)


@layer(_L + "misc.ElementWiseMultiplicationLayer")
def element_wise_multiplication(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """activation(x * W + b), W and b one value per feature."""
    if len(x.shape) != 1:
        refuse(f"ElementWiseMultiplicationLayer {conf.get('layerName')!r} on a [N,{','.join(map(str, x.shape))}] input")
    scaled = g.apply("Mul", x, hint="ew_scale", extra_inputs=(g.constant("W", params["W"].reshape(-1)),))
    shifted = g.apply("Add", scaled, hint="ew_shift", extra_inputs=(g.constant("b", params["b"].reshape(-1)),))
    return apply_activation(g, conf.get("activationFn"), shifted)
