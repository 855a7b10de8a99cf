"""ComputationGraphs and image inputs through the exporter, built with DL4J's own builders (JPype)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from dl4j_builders import (
    GraphSpec,
    add,
    batch_norm,
    concat,
    conv,
    conv_input,
    dense,
    element_wise,
    feed_forward_input,
    flat_image_input,
    global_avg_pool,
    max_pool,
    output,
    sequential,
)
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.errors import DataError, ShapeError

VECTORS = __import__("pathlib").Path(__file__).resolve().parent.parent / "models" / "vectors"


def _images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype(np.float32)


def residual_graph(nhwc: bool = False):
    spec = GraphSpec(seed=3).input("image", conv_input(12, 12, 3, nhwc=nhwc))
    spec.layer("stem", conv(6, 3, conv_mode="Same", nhwc=nhwc), "image")
    spec.layer("bn", batch_norm(), "stem")
    spec.layer("branch", conv(6, 3, conv_mode="Same", act="identity", nhwc=nhwc), "bn")
    spec.vertex("sum", add(), "bn", "branch")
    spec.layer("pool", max_pool(), "sum")
    spec.layer("out", output(5), "pool")
    return spec.build("out")


def inception_graph():
    spec = GraphSpec(seed=4).input("image", conv_input(10, 10, 2))
    spec.layer("a", conv(3, 1), "image").layer("b", conv(4, 3, conv_mode="Same"), "image")
    spec.layer("c", max_pool(3, 1, conv_mode="Same"), "image")
    spec.vertex("cat", concat(), "a", "b", "c")
    spec.layer("gap", global_avg_pool(), "cat").layer("out", output(4), "gap")
    return spec.build("out")


def two_in_two_out_graph():
    spec = GraphSpec(seed=5).input("left", feed_forward_input(6)).input("right", feed_forward_input(6))
    spec.layer("l", dense(8), "left").layer("r", dense(8), "right")
    spec.vertex("prod", element_wise("Product"), "l", "r").vertex("cat", concat(), "l", "r")
    spec.layer("class", output(3), "prod").layer("value", output(2, "identity", "MSE"), "cat")
    return spec.build("class", "value")


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
def test_residual_graph_parity(nhwc):
    net = residual_graph(nhwc)
    randomize(net, 1)
    shape = (12, 12, 3) if nhwc else (3, 12, 12)
    assert_parity(net, _images(6, shape), input_shape=shape)


def test_inception_style_concat_parity():
    net = inception_graph()
    randomize(net, 2)
    assert_parity(net, _images(5, (2, 10, 10)), input_shape=(2, 10, 10))


def test_several_inputs_and_outputs_keep_dl4j_names():
    net = two_in_two_out_graph()
    randomize(net, 3)
    model = bridge.onnx.to_onnx(net)
    assert [i.name for i in model.graph.input] == ["left", "right"]
    assert [o.name for o in model.graph.output] == ["class", "value"]
    assert_parity(net, {"left": _images(4, (6,), 1), "right": _images(4, (6,), 2)})


def test_mlp_graph_needs_no_input_shape(tmp_path):
    spec = GraphSpec(seed=6).input("in", feed_forward_input(7))
    net = spec.layer("h", dense(5), "in").layer("out", output(3), "h").build("out")
    report = bridge.export_onnx(net, tmp_path / "g.onnx")
    assert report.max_abs_diff <= 1e-5


def test_convolutional_input_multilayer_network(tmp_path):
    """The issue's first report: DL4J builders, InputType.convolutional(48, 48, 3), export dies in onnx.helper."""
    net = sequential([conv(8, 3, stride=2), max_pool(), dense(16), output(4)], conv_input(48, 48, 3))
    report = bridge.export_onnx(net, tmp_path / "m.onnx", input_shape=(3, 48, 48))
    assert report.max_abs_diff <= 1e-5
    model = onnx.load(tmp_path / "m.onnx")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [3, 48, 48]
    assert {p.key: p.value for p in model.metadata_props}["input_layout"] == "NCHW [N,3,48,48]"


def test_image_input_without_a_shape_says_how_to_give_it():
    net = sequential([conv(4, 3), global_avg_pool(), output(3)], conv_input(16, 16, 3))
    with pytest.raises(DataError, match=r"input_shape=\(channels, height, width\)"):
        bridge.onnx.to_onnx(net)
    with pytest.raises(ShapeError, match="3 channels"):
        bridge.onnx.to_onnx(net, input_shape=(16, 16, 3))


def test_flat_image_input_exports_an_image_input_and_declares_the_flat_rows():
    """InputType.convolutionalFlat: the ONNX input is the image (a channels-last array then has the wrong shape, not
    just as many values); the metadata declares the C-order reshape that flat rows still get."""
    net = sequential([conv(4, 3), max_pool(), output(3)], flat_image_input(10, 10, 1))
    randomize(net, 4)
    model = bridge.onnx.to_onnx(net)
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == ["N", 1, 10, 10]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["input_layout"] == "NCHW [N,1,10,10]"
    assert meta["input_flat_rows"] == "[N,100] reshaped in C order to NCHW [N,1,10,10]"
    assert_parity(net, _images(3, (100,)))
    assert_parity(net, _images(3, (1, 10, 10)))


def test_multilayer_exports_are_numerically_unchanged():
    """The graph walk gives the shared vectors' models the outputs that the previous exporter's files give."""
    for name in ("mlp", "lenet"):
        folder = VECTORS / name
        old = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        new_model = bridge.onnx.to_onnx(bridge.load(folder / "model.zip"))
        new = ort.InferenceSession(new_model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8)[: 64 * 784].reshape(64, 784).astype(np.float32) / 255
        image = x.reshape(len(x), *new.get_inputs()[0].shape[1:])  # lenet's input is now [N, 1, 28, 28]
        old_x = x.reshape(len(x), *old.get_inputs()[0].shape[1:])  # the committed lenet file takes the image too
        np.testing.assert_array_equal(new.run(None, {"input": image})[0], old.run(None, {"input": old_x})[0])
