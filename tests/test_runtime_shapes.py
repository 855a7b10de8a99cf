"""OnnxModel on image-shaped and graph-shaped models: the declared input shape, flat rows, channel-order
mix-ups refused by name, outputs of any rank, several inputs/outputs refused by name. The models are
written here with onnx.helper; expected values come from numpy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge.errors import ModelFileError, ShapeError
from bridge.serve.runtime import OnnxModel

C, H, W, K = 3, 8, 8, 4
RNG = np.random.default_rng(7)
CONV_W = RNG.normal(0, 0.5, (K, C, 3, 3)).astype(np.float32)
CONV_B = RNG.normal(0, 0.1, K).astype(np.float32)
PIXEL_W = np.array([[[[0.5]], [[-0.25]], [[1.0]]]], np.float32)  # 1x1 conv, 3 channels -> 1
PIXEL_B = np.array([0.1], np.float32)
TOL = 1e-5  # float32 on both sides; numpy accumulates in float64


def _save(path, nodes, inputs, outputs, initializers=(), layout=None):
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if layout:
        helper.set_model_props(model, {"input_layout": layout})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def _value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _classifier_nodes(source="input"):
    """Conv 3x3 (pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Softmax: [N, C, H, W] -> [N, K]."""
    return [
        helper.make_node("Conv", [source, "cw", "cb"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Softmax", ["flat"], ["probabilities"], axis=1),
    ]


def _classifier_weights():
    return [numpy_helper.from_array(CONV_W, "cw"), numpy_helper.from_array(CONV_B, "cb")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("shapes")
    pixel = [numpy_helper.from_array(PIXEL_W, "pw"), numpy_helper.from_array(PIXEL_B, "pb")]
    pixel_nodes = [
        helper.make_node("Conv", ["input", "pw", "pb"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["output"]),
    ]
    return {
        "nchw": _save(
            d / "nchw.onnx",
            _classifier_nodes(),
            [_value("input", ["N", C, H, W])],
            [_value("probabilities", ["N", K])],
            _classifier_weights(),
            layout=f"NCHW [N,{C},{H},{W}]",
        ),
        "nhwc": _save(
            d / "nhwc.onnx",
            [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]), *_classifier_nodes("nchw")],
            [_value("input", ["N", H, W, C])],
            [_value("probabilities", ["N", K])],
            _classifier_weights(),
            layout=f"NHWC [N,{H},{W},{C}]",
        ),
        "pixel": _save(
            d / "pixel.onnx", pixel_nodes, [_value("input", ["N", C, H, W])], [_value("output", ["N", 1, H, W])], pixel
        ),
        "pixel_any_size": _save(
            d / "pixel_any.onnx",
            pixel_nodes,
            [_value("input", ["N", C, "height", "width"])],
            [_value("output", ["N", 1, "height", "width"])],
            pixel,
        ),
        "two_inputs": _save(
            d / "two_inputs.onnx",
            [helper.make_node("Add", ["image", "mask"], ["output"])],
            [_value("image", ["N", 4]), _value("mask", ["N", 4])],
            [_value("output", ["N", 4])],
        ),
        "two_outputs": _save(
            d / "two_outputs.onnx",
            [helper.make_node("Relu", ["input"], ["boxes"]), helper.make_node("Neg", ["input"], ["scores"])],
            [_value("input", ["N", 4])],
            [_value("boxes", ["N", 4]), _value("scores", ["N", 4])],
        ),
    }


def numpy_classifier(x_nchw: np.ndarray) -> np.ndarray:
    x = np.pad(x_nchw.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # n, C, H, W, 3, 3
    conv = np.einsum("nchwij,kcij->nkhw", windows, CONV_W.astype(np.float64)) + CONV_B[None, :, None, None]
    pooled = np.maximum(conv, 0).mean(axis=(2, 3))
    e = np.exp(pooled - pooled.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def numpy_pixel(x_nchw: np.ndarray) -> np.ndarray:
    logit = np.einsum("nchw,c->nhw", x_nchw.astype(np.float64), PIXEL_W[0, :, 0, 0])[:, None] + PIXEL_B[0]
    return 1 / (1 + np.exp(-logit))


def _assert_close(actual, expected, what):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}"
    diff = np.abs(actual - expected).max()
    assert diff <= TOL, f"{what}: max abs diff {diff:.3g} > {TOL}"


def _images(n):
    return RNG.random((n, C, H, W), dtype=np.float32)


@pytest.mark.parametrize("n", [1, 5])
def test_nchw_model_takes_declared_shape_and_flat_rows(models, n):
    model = OnnxModel(models["nchw"], providers="cpu", batch_size=2)
    x = _images(n)
    assert model.input_shape == (C, H, W) and model.output_shape == (K,)
    assert model.input_layout == f"NCHW [N,{C},{H},{W}]"
    expected = numpy_classifier(x)
    _assert_close(model.predict(x), expected, "NCHW input")
    _assert_close(model.predict(x.reshape(n, -1)), expected, "flat rows, C order")
    assert np.array_equal(model.predict_classes(x), expected.argmax(1))


def test_nchw_model_refuses_channels_last_with_the_fix(models):
    model = OnnxModel(models["nchw"], providers="cpu")
    x = _images(2)
    with pytest.raises(ShapeError, match=r"\(n, 3, 8, 8\).*NCHW.*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        model.predict(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    _assert_close(
        model.predict(np.transpose(x.transpose(0, 2, 3, 1), (0, 3, 1, 2))),
        numpy_classifier(x),
        "after the suggested transpose",
    )


@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 3, 64), (2, 3, 8, 7), (2, 1, 3, 8, 8)])
def test_image_model_refuses_other_shapes(models, shape):
    model = OnnxModel(models["nchw"], providers="cpu")
    with pytest.raises(
        ShapeError,
        match=r"\(n, 3, 8, 8\) or flat rows \(n, 192\).*" + str(shape).replace("(", r"\(").replace(")", r"\)"),
    ):
        model.predict(np.zeros(shape, np.float32))


def test_nhwc_model(models):
    model = OnnxModel(models["nhwc"], providers="cpu")
    x = _images(3)
    assert model.input_shape == (H, W, C) and model.input_layout.startswith("NHWC")
    _assert_close(model.predict(x.transpose(0, 2, 3, 1)), numpy_classifier(x), "NHWC input")
    with pytest.raises(ShapeError, match=r"np\.transpose\(x, \(0, 2, 3, 1\)\)"):
        model.predict(x)


def test_per_pixel_output_keeps_its_rank(models):
    model = OnnxModel(models["pixel"], providers="cpu", batch_size=3)
    x = _images(7)
    assert model.output_shape == (1, H, W)
    _assert_close(model.predict(x), numpy_pixel(x), "[N, 1, H, W] output")
    with pytest.raises(ShapeError, match="threshold"):
        model.predict_classes(x)


def test_open_height_and_width(models):
    model = OnnxModel(models["pixel_any_size"], providers="cpu")
    assert model.input_shape == (C, None, None) and model.input_layout == "[N,3,?,?]"
    x = RNG.random((2, C, 5, 11), dtype=np.float32)
    _assert_close(model.predict(x), numpy_pixel(x), "open H, W")
    with pytest.raises(ShapeError, match=r"\(n, 3, \?, \?\).*\(2, 165\)"):
        model.predict(x.reshape(2, -1))


@pytest.mark.parametrize(
    "which, names", [("two_inputs", r"\['image', 'mask'\]"), ("two_outputs", r"\['boxes', 'scores'\]")]
)
def test_several_inputs_or_outputs_are_refused_by_name(models, which, names):
    with pytest.raises(ModelFileError, match=names + ".*exactly one input and one output"):
        OnnxModel(models[which], providers="cpu")


def test_flat_model_still_takes_any_row_shape(tmp_path):
    w = RNG.normal(size=(12, 3)).astype(np.float32)
    path = _save(
        tmp_path / "flat.onnx",
        [helper.make_node("MatMul", ["input", "w"], ["output"])],
        [_value("input", ["N", 12])],
        [_value("output", ["N", 3])],
        [numpy_helper.from_array(w, "w")],
    )
    model = OnnxModel(path, providers="cpu")
    x = RNG.random((4, 12), dtype=np.float32)
    expected = x.astype(np.float64) @ w
    _assert_close(model.predict(x.reshape(4, 1, 3, 4)), expected, "(n, 1, 3, 4) into a flat [N, 12] model")
    assert model.input_layout == "[N,12]"


def test_an_older_flat_export_of_an_image_refuses_its_channels_last_transpose(tmp_path):
    """Files exported before image inputs: a flat [N, C*H*W] input whose metadata names the flattened NCHW image."""
    w = RNG.normal(size=(12, 3)).astype(np.float32)
    path = _save(
        tmp_path / "flattened.onnx",
        [helper.make_node("MatMul", ["input", "w"], ["output"])],
        [_value("input", ["N", 12])],
        [_value("output", ["N", 3])],
        [numpy_helper.from_array(w, "w")],
        layout="NCHW [N,3,2,2] flattened to [N,12]",
    )
    model = OnnxModel(path, providers="cpu")
    x = RNG.random((4, 3, 2, 2), dtype=np.float32)
    expected = x.reshape(4, 12).astype(np.float64) @ w
    _assert_close(model.predict(x), expected, "(n, 3, 2, 2) images")
    _assert_close(model.predict(x.reshape(4, 12)), expected, "flat rows")
    with pytest.raises(ShapeError, match=r"np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        model.predict(x.transpose(0, 2, 3, 1))
