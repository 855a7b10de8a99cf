"""ONNX files and inputs that OnnxModel cannot run answer with a bridge.errors exception naming the problem."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bridge.errors import ModelFileError, ShapeError
from bridge.serve.runtime import OnnxModel


def _model(inputs, metadata=None, weights_width=None):
    """A one-node ONNX model: Identity of the first input, or MatMul by a (weights_width, 3) constant."""
    first, elem_type, shape = inputs[0]
    if weights_width is None:
        nodes, out_shape, initializers = [helper.make_node("Identity", [first], ["out"])], list(shape), []
    else:
        weights = helper.make_tensor("w", TensorProto.FLOAT, [weights_width, 3], np.ones(weights_width * 3).tolist())
        nodes, out_shape, initializers = [helper.make_node("MatMul", [first, "w"], ["out"])], ["N", 3], [weights]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs],
        [helper.make_tensor_value_info("out", elem_type, out_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


FLOAT_10 = [("input", TensorProto.FLOAT, ("N", 10))]


@pytest.mark.parametrize(
    "model, message",
    [
        (_model(FLOAT_10, {"labels": "zero,one"}), r'"labels" is not JSON'),
        (_model(FLOAT_10, {"labels": '{"a": 1}'}), r'"labels" must be a JSON list of strings'),
        (_model(FLOAT_10, {"labels": "[1, 2]"}), r'"labels" must be a JSON list of strings'),
        (_model([("input", TensorProto.INT64, ("N", 10))]), r"tensor\(int64\); OnnxModel feeds float32"),
        (_model([("a", TensorProto.FLOAT, ("N", 10)), ("b", TensorProto.FLOAT, ("N", 10))]), r"inputs \['a', 'b'\]"),
        (_model([("input", TensorProto.FLOAT, ("N",))]), "needs a batch axis and at least one feature axis"),
    ],
    ids=["labels-not-json", "labels-a-dict", "labels-not-strings", "int64-input", "two-inputs", "no-feature-axis"],
)
def test_odd_onnx_models_raise_model_file_error(tmp_path, model, message):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelFileError, match=message):
        OnnxModel(path)


def test_a_dynamic_feature_size_takes_what_the_graph_takes_and_refuses_the_rest(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model([("input", TensorProto.FLOAT, ("N", "F"))], weights_width=5), path)
    model = OnnxModel(path)
    assert model.input_shape == (None,)
    np.testing.assert_array_equal(model.predict(np.ones((2, 5), np.float32)), np.full((2, 3), 5, np.float32))
    with pytest.raises(ShapeError, match=r"ONNX Runtime refused input of shape \(2, 7\)"):
        model.predict(np.ones((2, 7), np.float32))


def test_a_file_that_is_not_onnx_raises_model_file_error(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        OnnxModel(path)
