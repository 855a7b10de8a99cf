"""Output heads and activations through the exporter, built with DL4J's own builders, against DL4J's output().

Heads: LossLayer, CnnLossLayer (NCHW, NHWC), Yolo2OutputLayer (NCHW, NHWC, in a graph), PReLULayer (shared and
per-position alpha), CenterLossOutputLayer, ElementWiseMultiplicationLayer, AutoEncoder. Activations: every ND4J
activation (the Activation enum) and its settings, on flat rows and on image maps (softmax over the last axis).
Each case: seeded random weights, two batch sizes, the exporter's parity rule (onnx_helpers.assert_parity).
"""

from __future__ import annotations

import jpype
import numpy as np
import onnx
import pytest
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    activation,
    conv,
    conv_input,
    deconv,
    dense,
    depthwise_conv,
    feed_forward_input,
    output,
    separable_conv,
    sequential,
)
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.jvm import jclass

ROWS = 4
IMPL = "org.nd4j.linalg.activations.impl."


# ---- builders for the heads (DL4J's own Builder classes) ----
def loss_function(name: str = "MCXENT"):
    return jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").valueOf(name)


def loss_layer(act: str = "softmax", loss: str = "MCXENT"):
    return jclass(L + "LossLayer$Builder")(loss_function(loss)).activation(activation(act)).build()


def cnn_loss_layer(act: str = "softmax", nhwc: bool = False, loss: str = "MCXENT"):
    fmt = jclass(C + "CNN2DFormat").NHWC if nhwc else jclass(C + "CNN2DFormat").NCHW
    return jclass(L + "CnnLossLayer$Builder")(loss_function(loss)).activation(activation(act)).format(fmt).build()


def yolo2(priors, nhwc: bool = False):
    b = jclass(L + "objdetect.Yolo2OutputLayer$Builder")().boundingBoxPriors(
        bridge.to_indarray(np.asarray(priors, np.float32))
    )
    layer_conf = b.build()
    if nhwc:  # the Builder has no format setter in 1.0.0-M2.1; the configuration does
        layer_conf.setFormat(jclass(C + "CNN2DFormat").NHWC)
    return layer_conf


def prelu(input_shape, shared_axes=None):
    """input_shape: the per-example shape ([C, H, W] or [F]). DL4J 1.0.0-M2.1 does not infer it (PReLULayer's
    setNIn does nothing) and sizes alpha from it; sharedAxes count the batch axis (2, 3: H and W)."""
    b = jclass(L + "PReLULayer$Builder")().inputShape(jpype.JArray(jpype.JLong)(list(input_shape)))
    if shared_axes:
        b = b.sharedAxes(jpype.JArray(jpype.JLong)(list(shared_axes)))
    return b.build()


def center_loss_output(n_out: int, act: str = "softmax"):
    return jclass(L + "CenterLossOutputLayer$Builder")(loss_function()).nOut(n_out).activation(activation(act)).build()


def element_wise_multiplication(n: int, act: str = "tanh"):
    return (
        jclass(L + "misc.ElementWiseMultiplicationLayer$Builder")().nIn(n).nOut(n).activation(activation(act)).build()
    )


def autoencoder(n_out: int, act: str = "sigmoid"):
    return jclass(L + "AutoEncoder$Builder")().nOut(n_out).activation(activation(act)).build()


def activation_layer(fn):
    """An ActivationLayer of an ND4J activation object (IActivation) or an Activation enum name."""
    fn = activation(fn) if isinstance(fn, str) else fn
    return jclass(L + "ActivationLayer$Builder")().activation(fn).build()


def nd4j_activation(name: str, *args):
    return jclass(IMPL + name)(*args)


# ---- cases ----
def _rows(shape, seed: int, scale: float = 2.0) -> np.ndarray:
    """Normal values with a spread of 2, so thresholds, caps and saturations are all crossed."""
    return (np.random.default_rng(seed).normal(0, scale, (ROWS, *shape))).astype(np.float32)


def _network(layers, kind, shape, seed: int, input_shape=None):
    def build():
        net = sequential(layers(), kind(), seed=seed)
        randomize(net, seed)
        return net, _rows(shape, seed), input_shape

    return build


def _flat(layers, n: int = 6, seed: int = 1):
    return _network(layers, lambda: feed_forward_input(n), (n,), seed)


def _image(layers, h: int, w: int, c: int, nhwc: bool = False, seed: int = 2):
    shape = (h, w, c) if nhwc else (c, h, w)
    return _network(layers, lambda: conv_input(h, w, c, nhwc), shape, seed, shape)


def _yolo_graph():
    spec = GraphSpec(seed=7).input("image", conv_input(6, 5, 3))
    spec.layer("features", conv(8, 3, conv_mode="Same"), "image")
    spec.layer("boxes", conv(3 * (5 + 2), 1, act="identity"), "features")
    spec.layer("yolo", yolo2([[1.0, 1.5], [2.0, 0.5], [0.7, 3.0]]), "boxes")
    net = spec.build("yolo")
    randomize(net, 7)
    # Inputs of spread 0.25 keep the raw w/h predictions (log box-size ratios) within a few units, as a trained
    # head's are. At spread 2 this random ReLU conv stack feeds exp() values up to 15, giving box sizes of 1.7e6
    # where float32's spacing is 0.125: the conv's own summation-order rounding (3e-6, within conv parity), times
    # exp, then decides a 1e-5 comparison, not the YOLO converter. 0.5 already lands at 7.6e-6.
    return net, _rows((3, 6, 5), 7, scale=0.25), (3, 6, 5)


ACTIVATION_OBJECTS = {
    **{
        name: (lambda name=name: activation(name))
        for name in (
            "identity",
            "relu",
            "relu6",
            "leakyrelu",
            "elu",
            "selu",
            "sigmoid",
            "hardsigmoid",
            "tanh",
            "hardtanh",
            "softmax",
            "softplus",
            "softsign",
            "swish",
            "gelu",
            "mish",
            "cube",
            "rationaltanh",
            "rectifiedtanh",
            "thresholdedrelu",
            "rrelu",
        )
    },
    "gelu-precise": lambda: nd4j_activation("ActivationGELU", True),
    "leakyrelu-alpha": lambda: nd4j_activation("ActivationLReLU", 0.3),
    "elu-alpha": lambda: nd4j_activation("ActivationELU", 0.7),
    "thresholdedrelu-theta": lambda: nd4j_activation("ActivationThresholdedReLU", -0.5),
    "rrelu-l-u": lambda: nd4j_activation("ActivationRReLU", 0.1, 0.3),
    "relu-max": lambda: nd4j_activation("ActivationReLU", 2.5, 0.0, 0.0),
    "relu-threshold": lambda: nd4j_activation("ActivationReLU", None, 0.7, 0.0),
    "relu-negative-slope": lambda: nd4j_activation("ActivationReLU", None, 0.0, 0.2),
    "relu-all-settings": lambda: nd4j_activation("ActivationReLU", 3.0, -0.5, 0.1),
}

CASES = {
    "loss-layer-softmax": _flat(lambda: [dense(5, "identity"), loss_layer()]),
    "loss-layer-sigmoid-xent": _flat(lambda: [dense(4), loss_layer("sigmoid", "XENT")]),
    "cnn-loss-softmax-nchw": _image(lambda: [conv(4, 3, conv_mode="Same", act="identity"), cnn_loss_layer()], 5, 6, 2),
    "cnn-loss-softmax-nhwc": _image(
        lambda: [conv(4, 3, conv_mode="Same", act="identity", nhwc=True), cnn_loss_layer(nhwc=True)], 5, 6, 2, nhwc=True
    ),
    "cnn-loss-sigmoid-nchw": _image(
        lambda: [conv(1, 3, conv_mode="Same", act="identity"), cnn_loss_layer("sigmoid", loss="XENT")], 6, 6, 3
    ),
    "yolo2-nchw": _image(lambda: [conv(2 * (5 + 3), 1, act="identity"), yolo2([[1.0, 2.0], [3.0, 1.5]])], 4, 5, 2),
    "yolo2-nhwc": _image(
        lambda: [conv(2 * (5 + 1), 1, act="identity", nhwc=True), yolo2([[0.5, 1.0], [2.0, 2.0]], nhwc=True)],
        4,
        3,
        2,
        nhwc=True,
    ),
    "yolo2-graph": _yolo_graph,
    "prelu-cnn-shared-axes": _image(lambda: [conv(3, 1, act="identity"), prelu((3, 4, 4), (2, 3)), output(4)], 4, 4, 2),
    "prelu-cnn-per-position": _image(lambda: [conv(3, 1, act="identity"), prelu((3, 4, 4)), output(4)], 4, 4, 2),
    "prelu-flat": _flat(lambda: [dense(5, "identity"), prelu((5,)), output(3)]),
    "center-loss-output": _flat(lambda: [dense(5), center_loss_output(3)]),
    "element-wise-multiplication": _flat(lambda: [dense(5), element_wise_multiplication(5), output(3)]),
    "autoencoder": _flat(lambda: [autoencoder(5), output(3)]),
    **{
        f"activation-{name}": _flat(
            lambda make=make: [dense(7, "identity"), activation_layer(make()), output(3, "identity", "MSE")]
        )
        for name, make in ACTIVATION_OBJECTS.items()
    },
    "activation-in-dense": _flat(lambda: [dense(7, "mish"), dense(5, "rationaltanh"), output(3)]),
    "softmax-on-nchw-map": _image(lambda: [conv(3, 3, act="identity"), activation_layer("softmax")], 5, 6, 2),
    "softmax-on-nhwc-map": _image(
        lambda: [conv(3, 3, act="identity", nhwc=True), activation_layer("softmax")], 5, 6, 2, nhwc=True
    ),
    # DL4J applies a conv layer's activation to the map it returns, so an NHWC layer's softmax spans channels.
    "softmax-in-nhwc-conv": _image(lambda: [conv(3, 3, act="softmax", nhwc=True)], 5, 6, 2, nhwc=True),
    "softmax-in-nhwc-separable": _image(lambda: [separable_conv(3, 3, act="softmax", nhwc=True)], 5, 6, 2, nhwc=True),
    "softmax-in-nhwc-depthwise": _image(
        lambda: [depthwise_conv(3, multiplier=2, act="softmax", nhwc=True)], 5, 6, 2, nhwc=True
    ),
    "softmax-in-nhwc-deconv": _image(lambda: [deconv(3, 3, act="softmax", nhwc=True)], 5, 6, 2, nhwc=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_head_and_activation_parity(case):
    net, x, input_shape = CASES[case]()
    assert_parity(net, x, input_shape=input_shape)


@pytest.mark.parametrize("case", ["yolo2-nchw", "yolo2-nhwc", "yolo2-graph"])
def test_yolo2_head_computes_in_float32(case):
    """No float64 tensor anywhere (TensorRT has none): initializers, casts and every inferred value."""
    net, _, shape = CASES[case]()
    model = onnx.shape_inference.infer_shapes(bridge.onnx.to_onnx(net, input_shape=shape), strict_mode=True)
    double = onnx.TensorProto.DOUBLE
    assert not [t.name for t in model.graph.initializer if t.data_type == double]
    assert not [n.name for n in model.graph.node for a in n.attribute if a.name == "to" and a.i == double]
    values = [*model.graph.value_info, *model.graph.output]
    assert values and not [v.name for v in values if v.type.tensor_type.elem_type == double]
    assert "Exp" in {n.op_type for n in model.graph.node}


def test_yolo2_output_is_what_dl4j_documents():
    """Independently of DL4J's output(): sigmoid x/y/confidence, prior * exp(w/h), class softmax per box."""
    net, x, shape = CASES["yolo2-nchw"]()
    model = bridge.onnx.to_onnx(net, input_shape=shape)
    import onnxruntime as ort

    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    features = bridge.to_numpy(net.feedForwardToLayer(0, bridge.to_indarray(x), False)[1])
    raw = features.reshape(ROWS, 2, 8, 4, 5).astype(np.float64)
    priors = np.array([[1.0, 2.0], [3.0, 1.5]]).reshape(1, 2, 2, 1, 1)
    scores = np.exp(raw[:, :, 5:] - raw[:, :, 5:].max(2, keepdims=True))
    want = np.concatenate(
        [
            1 / (1 + np.exp(-raw[:, :, :2])),
            priors * np.exp(raw[:, :, 2:4]),
            1 / (1 + np.exp(-raw[:, :, 4:5])),
            scores / scores.sum(2, keepdims=True),
        ],
        axis=2,
    )
    np.testing.assert_allclose(got, want.reshape(got.shape), atol=1e-5)
