"""Graph vertices and frozen layers against DL4J: each converter on seeded random weights, two batch sizes,
the exporter's parity rule, and the settings the exporter refuses, refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from dl4j_builders import (
    GraphSpec,
    V,
    batch_norm,
    cnn_to_ff,
    concat,
    conv,
    conv_input,
    dense,
    element_wise,
    feed_forward_input,
    ff_to_cnn,
    frozen,
    frozen_vertex,
    global_avg_pool,
    input_type,
    l2_distance,
    l2_normalize,
    max_pool,
    output,
    pool_helper,
    preprocessor_vertex,
    reshape,
    scale,
    sequential,
    shift,
    stack,
    subset,
    unstack,
)
from onnx_helpers import assert_parity, randomize

import bridge
from bridge.errors import UnsupportedLayerError
from bridge.jvm import jclass

IMAGE = (2, 7, 7)


def images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype(np.float32)


def _seeded(net, seed: int):
    randomize(net, seed)
    return net


def _map_graph(vertex_conf, seed: int, n_out: int = 4):
    """image -> conv (identity) -> vertex -> softmax output: one vertex on an NCHW map."""
    spec = GraphSpec(seed=seed).input("image", conv_input(7, 7, 2))
    spec.layer("c", conv(6, 3, conv_mode="Same", act="identity"), "image")
    spec.vertex("v", vertex_conf, "c").layer("out", output(n_out), "v")
    return _seeded(spec.build("out"), seed), images(7, IMAGE, seed), IMAGE


def _flat_graph(vertex_conf, seed: int, width: int = 8, n_out: int = 4):
    """in (6 features) -> dense (tanh) -> vertex -> softmax output."""
    spec = GraphSpec(seed=seed).input("in", feed_forward_input(6))
    spec.layer("d", dense(width, "tanh"), "in").vertex("v", vertex_conf, "d").layer("out", output(n_out), "v")
    return _seeded(spec.build("out"), seed), images(9, (6,), seed), None


def element_wise_on_maps(op: str):
    spec = GraphSpec(seed=1).input("image", conv_input(7, 7, 2))
    spec.layer("a", conv(4, 3, conv_mode="Same", act="identity"), "image")
    spec.layer("b", conv(4, 1, act="tanh"), "image")
    spec.vertex("v", element_wise(op), "a", "b").layer("gap", global_avg_pool(), "v").layer("out", output(3), "gap")
    return _seeded(spec.build("out"), 11), images(6, IMAGE, 1), IMAGE


def element_wise_of_three(op: str):
    spec = GraphSpec(seed=2).input("in", feed_forward_input(6))
    for name in "abc":
        spec.layer(name, dense(5, "tanh"), "in")
    spec.vertex("v", element_wise(op), "a", "b", "c").layer("out", output(3, "identity", "MSE"), "v")
    return _seeded(spec.build("out"), 12), images(8, (6,), 2), None


def merge_nhwc():
    """NHWC maps concatenate along axis 3 (DL4J sets mergeAxis=3 for them)."""
    spec = GraphSpec(seed=3).input("image", conv_input(5, 5, 3, nhwc=True))
    spec.layer("a", conv(2, 3, conv_mode="Same", nhwc=True), "image")
    spec.layer("b", conv(3, 1, nhwc=True), "image")
    spec.vertex("cat", concat(), "a", "b").layer("out", output(4), "cat")
    return _seeded(spec.build("out"), 13), images(5, (5, 5, 3), 3), (5, 5, 3)


def merge_last_axis(nhwc: bool):
    """mergeAxis=-1, the last axis, as DL4J's Keras importer writes every Concatenate(): the channels of NHWC
    maps, the features of flat rows."""
    if nhwc:
        spec = GraphSpec(seed=3).input("image", conv_input(5, 5, 3, nhwc=True))
        spec.layer("a", conv(2, 3, conv_mode="Same", nhwc=True), "image").layer("b", conv(3, 1, nhwc=True), "image")
        x, shape = images(5, (5, 5, 3), 3), (5, 5, 3)
    else:
        spec = GraphSpec(seed=3).input("in", feed_forward_input(6))
        spec.layer("a", dense(4, "tanh"), "in").layer("b", dense(3), "in")
        x, shape = images(7, (6,), 3), None
    spec.vertex("cat", _merge_along(-1), "a", "b").layer("out", output(4), "cat")
    return _seeded(spec.build("out"), 14), x, shape


def _merge_along(axis: int):
    merge = jclass(V + "MergeVertex")()
    merge.setMergeAxis(axis)
    return merge


def l2_normalize_zero_rows():
    """Rows of zeros take the eps branch: max(||x||, eps) keeps DL4J's 0 / eps = 0."""
    spec = GraphSpec(seed=4).input("in", feed_forward_input(6))
    spec.vertex("v", l2_normalize(None, 0.5), "in").layer("out", output(3), "v")
    x = images(6, (6,), 4)
    x[1] = 0.0
    x[3] *= 0.01  # a norm below eps
    return _seeded(spec.build("out"), 14), x, None


def l2_distance_two_inputs():
    spec = GraphSpec(seed=5).input("left", feed_forward_input(6)).input("right", feed_forward_input(6))
    spec.layer("l", dense(5, "tanh"), "left").layer("r", dense(5, "tanh"), "right")
    spec.vertex("dist", l2_distance(), "l", "r").layer("out", output(1, "identity", "MSE"), "dist")
    return _seeded(spec.build("out"), 15), {"left": images(7, (6,), 5), "right": images(7, (6,), 6)}, None


def l2_distance_maps():
    spec = GraphSpec(seed=6).input("image", conv_input(7, 7, 2))
    spec.layer("a", conv(3, 3, act="identity"), "image").layer("b", conv(3, 3, act="sigmoid"), "image")
    spec.vertex("dist", l2_distance(), "a", "b").layer("out", output(2, "identity", "MSE"), "dist")
    return _seeded(spec.build("out"), 16), images(5, IMAGE, 7), IMAGE


def pool_helper_graph():
    spec = GraphSpec(seed=7).input("image", conv_input(7, 7, 2))
    spec.layer("c", conv(3, 3, conv_mode="Same"), "image").vertex("ph", pool_helper(), "c")
    spec.layer("pool", max_pool(2, 2), "ph").layer("out", output(4), "pool")
    return _seeded(spec.build("out"), 17), images(6, IMAGE, 8), IMAGE


def ff_to_map(vertex_conf):
    """48 features -> a vertex that makes them a [3, 4, 4] map -> conv -> output."""
    spec = GraphSpec(seed=8).input("in", feed_forward_input(48)).vertex("v", vertex_conf, "in")
    spec.layer("c", conv(2, 3), "v").layer("out", output(3), "c")
    return _seeded(spec.build("out"), 18), images(6, (48,), 9), None


def stack_unstack(combine):
    """Siamese: two inputs through one shared dense layer (stacked on the batch axis), then split and combined."""
    spec = GraphSpec(seed=9).input("a", feed_forward_input(6)).input("b", feed_forward_input(6))
    spec.vertex("stacked", stack(), "a", "b").layer("shared", dense(5, "tanh"), "stacked")
    spec.vertex("ua", unstack(0, 2), "shared").vertex("ub", unstack(1, 2), "shared")
    spec.vertex("v", combine, "ua", "ub").layer("out", output(1, "identity", "MSE"), "v")
    return _seeded(spec.build("out"), 19), {"a": images(5, (6,), 10), "b": images(5, (6,), 11)}, None


def frozen_in_sequence(layer_conf, kind, shape, seed: int):
    net = sequential([layer_conf, output(4)], kind, seed=seed)
    return _seeded(net, seed), images(6, shape, seed), None if len(shape) == 1 else shape


def frozen_batch_norm_graph():
    """A frozen BatchNormalization: its statistics as the randomised ones (a frozen layer does not update them)."""
    spec = GraphSpec(seed=10).input("image", conv_input(7, 7, 2))
    spec.layer("c", conv(3, 3, act="identity"), "image").layer("bn", frozen(batch_norm()), "c")
    spec.layer("out", output(4), "bn")
    return _seeded(spec.build("out"), 20), images(6, IMAGE, 12), IMAGE


# id -> build() returning (network, inputs, input_shape for to_onnx)
CASES = {
    **{
        f"element-wise-{op.lower()}-maps": (lambda op=op: element_wise_on_maps(op))
        for op in ("Add", "Subtract", "Product", "Average", "Max")
    },
    **{
        f"element-wise-{op.lower()}-3-inputs": (lambda op=op: element_wise_of_three(op))
        for op in ("Add", "Product", "Average", "Max")
    },
    "merge-nhwc-channels": merge_nhwc,
    "merge-last-axis-nhwc": lambda: merge_last_axis(nhwc=True),
    "merge-last-axis-features": lambda: merge_last_axis(nhwc=False),
    "subset-features": lambda: _flat_graph(subset(2, 5), 21),
    # One channel: DL4J 1.0.0-M2.1's SubsetVertex.getOutputType gives a CNN input from - to + 1 channels
    # (negative for a wider range), so only a single-channel subset of a map builds.
    "subset-channels": lambda: _map_graph(subset(2, 2), 22),
    "scale": lambda: _map_graph(scale(-2.5), 23),
    "shift": lambda: _flat_graph(shift(0.75), 24),
    "l2-normalize-features": lambda: _flat_graph(l2_normalize(), 25),
    "l2-normalize-map": lambda: _map_graph(l2_normalize(), 26),
    "l2-normalize-map-explicit-dims": lambda: _map_graph(l2_normalize([1, 2, 3], 1e-6), 27),
    "l2-normalize-eps-zero-rows": l2_normalize_zero_rows,
    "l2-distance-two-inputs": l2_distance_two_inputs,
    "l2-distance-maps": l2_distance_maps,
    "pool-helper": pool_helper_graph,
    "preprocessor-vertex-cnn-to-ff": lambda: _map_graph(preprocessor_vertex(cnn_to_ff(7, 7, 6)), 28),
    "preprocessor-vertex-ff-to-cnn": lambda: ff_to_map(preprocessor_vertex(ff_to_cnn(4, 4, 3))),
    "reshape-c-to-map": lambda: ff_to_map(reshape(-1, 3, 4, 4)),
    "reshape-f-to-map": lambda: ff_to_map(reshape(-1, 3, 4, 4, order="f")),
    "reshape-f-map-to-features": lambda: _map_graph(reshape(-1, 6 * 7 * 7, order="f"), 29),
    "stack-unstack-l2": lambda: stack_unstack(l2_distance()),
    "stack-unstack-subtract": lambda: stack_unstack(element_wise("Subtract")),
    "frozen-vertex-scale": lambda: _map_graph(frozen_vertex(scale(0.5)), 30),
    "frozen-vertex-subset": lambda: _flat_graph(frozen_vertex(subset(0, 3)), 31),
    "frozen-layer-conv": lambda: frozen_in_sequence(frozen(conv(3, 3, act="elu")), conv_input(7, 7, 2), IMAGE, 32),
    "frozen-with-backprop-dense": lambda: frozen_in_sequence(
        frozen(dense(5, "sigmoid"), backprop=True), feed_forward_input(6), (6,), 33
    ),
    "frozen-layer-batch-norm": frozen_batch_norm_graph,
}


@pytest.mark.parametrize("case", list(CASES))
def test_vertex_parity(case):
    net, x, input_shape = CASES[case]()
    assert_parity(net, x, input_shape=input_shape)


def _refusal(net, **kwargs) -> str:
    with pytest.raises(UnsupportedLayerError) as error:
        bridge.onnx.to_onnx(net, **kwargs)
    return str(error.value)


def test_recurrent_vertices_are_refused_by_name():
    spec = GraphSpec(seed=1).input("seq", input_type().recurrent(4))
    spec.vertex("last", jclass(V + "rnn.LastTimeStepVertex")("seq"), "seq").layer("out", output(3), "last")
    message = _refusal(spec.build("out"))
    assert "vertex 'last' (LastTimeStepVertex)" in message and "no vertex converter" in message


def test_reshape_with_a_fixed_batch_size_is_refused():
    message = _refusal(ff_to_map(reshape(6, 3, 4, 4))[0])
    assert "newShape=[6, 3, 4, 4]" in message and "must be -1" in message


def test_l2_normalize_over_some_axes_of_a_map_is_refused():
    net, _, input_shape = _map_graph(l2_normalize([1], 1e-8), 40)
    assert "dimension=[1]" in _refusal(net, input_shape=input_shape)


def test_frozen_layer_refuses_what_it_wraps():
    layer_norm = jclass("org.deeplearning4j.nn.conf.layers.DenseLayer$Builder")().nOut(4).hasLayerNorm(True).build()
    net = sequential([frozen(layer_norm), output(3)], feed_forward_input(5))
    message = _refusal(net)
    assert "layer 0 (FrozenLayer)" in message and "hasLayerNorm=true" in message


def test_merge_along_the_last_axis_is_concat_along_it():
    net, _, shape = merge_last_axis(nhwc=True)
    (concat_node,) = [n for n in bridge.onnx.to_onnx(net, input_shape=shape).graph.node if n.op_type == "Concat"]
    assert concat_node.attribute[0].name == "axis" and concat_node.attribute[0].i == 3


@pytest.mark.parametrize("axis", [0, -2])
def test_merge_along_the_batch_axis_is_refused(axis):
    spec = GraphSpec(seed=3).input("in", feed_forward_input(6))
    spec.layer("a", dense(4, "tanh"), "in").layer("b", dense(4), "in")
    spec.vertex("cat", _merge_along(axis), "a", "b").layer("out", output(2), "cat")
    with pytest.raises(UnsupportedLayerError, match=f"mergeAxis={axis}.*batch axis 0"):
        bridge.onnx.to_onnx(_seeded(spec.build("out"), 15))


def test_inputs_read_only_by_a_merge_need_their_width():
    """Nothing that reads such an input records nIn: the exporter asks for the width, then exports."""
    spec = GraphSpec(seed=41).input("a", feed_forward_input(3)).input("b", feed_forward_input(4))
    spec.vertex("cat", concat(), "a", "b").layer("out", output(2), "cat")
    net = _seeded(spec.build("out"), 41)
    with pytest.raises(bridge.errors.DataError, match="'a' takes flat rows whose width"):
        bridge.onnx.to_onnx(net)
    x = {"a": images(5, (3,), 41), "b": images(5, (4,), 42)}
    assert_parity(net, x, input_shape={"a": (3,), "b": (4,)})
