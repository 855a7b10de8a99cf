"""Opsets 13..21 and the names in the exported graph, on networks built with DL4J's own builders (JPype),
loaded and checked in ONNX Runtime."""

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
    global_avg_pool,
    global_pooling,
    l2_normalize,
    max_pool,
    output,
    sequential,
)
from onnx import TensorProto, helper
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.errors import DataError
from bridge.onnx import to_onnx
from bridge.onnx.registry import Graph

OPSETS = list(range(13, 22))
# The IR version of the ONNX release that introduced each opset (onnx.helper.VERSION_TABLE).
IR_VERSIONS = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def _images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype(np.float32)


def lenet_like():
    layers = [conv(6, 5), max_pool(), conv(8, 3, conv_mode="Same"), max_pool(), dense(16), output(10)]
    net = sequential(layers, conv_input(16, 16, 1))
    randomize(net, 3)
    return net, _images(6, (1, 16, 16)), (1, 16, 16)


def small_graph():
    """Merge, element-wise, batch norm, max and global pooling, a sum pool and an L2 normalisation (the
    ReduceSum paths)."""
    spec = GraphSpec(seed=4).input("image", conv_input(8, 8, 2))
    spec.layer("block1_conv1", conv(4, 3, conv_mode="Same"), "image")
    spec.layer("block1_bn", batch_norm(), "block1_conv1")
    spec.layer("block1_conv2", conv(4, 1, act="identity"), "image")
    spec.vertex("block1_add", add(), "block1_bn", "block1_conv2")
    spec.layer("block2_pool", max_pool(), "block1_add")
    spec.layer("branch_a", conv(3, 1), "block2_pool").layer("branch_b", conv(2, 3, conv_mode="Same"), "block2_pool")
    spec.vertex("merge", concat(), "branch_a", "branch_b")
    spec.layer("gap", global_avg_pool(), "merge").layer("sum_pool", global_pooling("SUM"), "merge")
    spec.vertex("features", concat(), "gap", "sum_pool").vertex("unit", l2_normalize(), "features")
    spec.layer("predictions", output(3), "unit")
    net = spec.build("predictions")
    randomize(net, 5)
    return net, _images(5, (2, 8, 8), 1), (2, 8, 8)


@pytest.mark.parametrize("build", [lenet_like, small_graph], ids=["lenet-like", "graph"])
@pytest.mark.parametrize("opset", OPSETS)
def test_every_opset_exports_loads_and_agrees(build, opset):
    net, x, shape = build()
    model = to_onnx(net, opset=opset, input_shape=shape)
    assert model.opset_import[0].version == opset and model.ir_version == IR_VERSIONS[opset]
    onnx.checker.check_model(model, full_check=True)
    for node in model.graph.node:  # each op in the form this opset defines
        assert onnx.defs.get_schema(node.op_type, opset).since_version <= opset, node.op_type
    assert_parity(net, x, opset=opset, input_shape=shape)


def test_export_onnx_writes_the_opset_asked_for(tmp_path):
    net, x, shape = lenet_like()
    report = bridge.export_onnx(net, tmp_path / "m.onnx", opset=13, input_shape=shape, sample=x)
    model = onnx.load(report.path)
    assert report.opset == 13 and model.opset_import[0].version == 13 and model.ir_version == 7
    assert ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"]).run(None, {"input": x})


@pytest.mark.parametrize("opset", [12, 22, 17.0, True])
def test_opsets_outside_13_to_21_are_refused(opset):
    net, _, shape = lenet_like()
    with pytest.raises(DataError, match=r"opset.*Expected 13\.\.21"):
        to_onnx(net, opset=opset, input_shape=shape)


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("op_type", ["ReduceSum", "ReduceMean"])
def test_reductions_take_their_axes_as_the_opset_defines(op_type, opset):
    """ReduceSum's axes became an input at opset 13, the other reductions' at 18."""
    g = Graph(opset=opset, scope="r")
    out = g.reduce(op_type, "x", (1, 2), keepdims=0)
    as_input = opset >= (13 if op_type == "ReduceSum" else 18)
    assert len(g.nodes[0].input) == (2 if as_input else 1)
    graph = helper.make_graph(
        [*g.nodes, helper.make_node("Identity", [out], ["y"])],
        "reduce",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSIONS[opset]
    onnx.checker.check_model(model, full_check=True)
    x = _images(2, (3, 4))
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    want = x.sum(axis=(1, 2)) if op_type == "ReduceSum" else x.mean(axis=(1, 2))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


def test_names_come_from_dl4j_and_nodes_say_what_they_implement():
    net, x, shape = small_graph()
    model = to_onnx(net, input_shape=shape)
    nodes, initializers = model.graph.node, model.graph.initializer
    names = [n.name for n in nodes]
    assert len(set(names)) == len(names)  # unique node names
    tensors = [o for n in nodes for o in n.output] + [i.name for i in initializers]
    assert len(set(tensors)) == len(tensors)  # one writer per tensor
    assert "block1_conv1/Conv" in names and "block1_conv1/Relu" in names and "block2_pool/MaxPool" in names
    assert "block1_bn/BatchNormalization" in names and "block1_add/Sum" in names and "merge/Concat" in names
    assert {"block1_conv1/W", "block1_conv1/b", "block1_bn/factor"} <= {i.name for i in initializers}
    for vertex in ("block1_conv2", "branch_a", "branch_b", "gap", "sum_pool", "features", "unit", "predictions"):
        assert any(name.startswith(f"{vertex}/") for name in names), vertex
    conv_doc = next(n.doc_string for n in nodes if n.name == "block1_conv1/Conv")
    assert conv_doc.startswith("ConvolutionLayer 'block1_conv1':")
    assert "nout=4" in conv_doc and "kernelSize=[3, 3]" in conv_doc and "convolutionMode=Same" in conv_doc
    assert "activationFn=ActivationReLU" in conv_doc and "iupdater" not in conv_doc
    # BatchNormalization never applies the activation its configuration holds: the summary leaves it out.
    bn_doc = next(n.doc_string for n in nodes if n.name == "block1_bn/BatchNormalization")
    assert "useLogStd=True" in bn_doc and "activationFn" not in bn_doc
    assert next(n.doc_string for n in nodes if n.name == "merge/Concat").startswith("MergeVertex 'merge'")
    assert all(n.doc_string for n in nodes)
    # The graph's own input and output names are what the runtime and the service read.
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["dl4j_version"] == "1.0.0-M2.1" and meta["input_layout"].startswith("NCHW")


def test_multilayer_network_names_are_dl4j_layer_names():
    net, x, shape = lenet_like()
    names = [n.name for n in to_onnx(net, input_shape=shape).graph.node]
    # DL4J names a MultiLayerNetwork's unnamed layers layer0, layer1, ...
    assert names[:4] == ["layer0/Conv", "layer0/Relu", "layer1/MaxPool", "layer2/Conv"]
    assert "layer4/pre/Flatten" in names and names[-1] == "probabilities"
