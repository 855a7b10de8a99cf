"""DL4J's oneDNN layer helpers in dl4j-bridge's JVM (ai.dl4jbridge.train.OneDnnHelpers): DL4J's own switch for them
stays off, so DL4J's own output() and fit() run DL4J's own code, right for every network; dl4j-bridge's calls put
them on the channels-first layers DL4J would give one (they are wrong for channels-last layers). Checked on networks
built with DL4J's builders, against DL4J in float64 (the exact answer) and DL4J's own training, to 1e-5."""

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    batch_norm_in,
    conv,
    conv_input,
    cropping,
    depthwise_conv,
    global_avg_pool,
    output,
    pooling,
    separable_conv,
)
from onnx_helpers import randomize

import bridge
from bridge.jvm import jclass, nd4j_build
from bridge.onnx.export import _default_float64

DL4J_SWITCH = "org.eclipse.deeplearning4j.helpers.disable"
SIZE, CHANNELS = 14, 4


def _regression_head():
    return output(5, act="identity", loss="MSE")  # no softmax to hide an error


# Chains where DL4J's helpers, given to channels-last layers, put DL4J's own output() off (1e18, NaN) or training.
CHAINS = {
    "separable-conv": lambda f: [separable_conv(8, 3, nhwc=f), conv(6, 3, nhwc=f)],
    "separable-batchnorm": lambda f: [separable_conv(8, 3, nhwc=f), batch_norm_in(f)],
    "depthwise-conv-pool": lambda f: [depthwise_conv(3, 2, nhwc=f), conv(6, 3, nhwc=f), pooling("MAX", nhwc=f)],
    "crop-conv-batchnorm": lambda f: [
        conv(6, 3, nhwc=f),
        cropping(1, 1, 1, 1, nhwc=f),
        conv(6, 3, nhwc=f),
        batch_norm_in(f),
    ],
    "conv-batchnorm-pool": lambda f: [conv(6, 3, nhwc=f), batch_norm_in(f), pooling("AVG", nhwc=f), conv(4, 2, nhwc=f)],
}


def _sequential(chain, nhwc: bool, updater=None, seed: int = 3):
    layers = [*CHAINS[chain](nhwc), global_avg_pool(), _regression_head()]
    builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed)
    if updater is not None:
        builder = builder.updater(updater)
    conf = builder.list(jpype.JArray(jclass(L + "Layer"))(layers)).setInputType(conv_input(SIZE, SIZE, CHANNELS, nhwc))
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf.build())
    net.init()
    randomize(net, seed)
    return net


def _graph(nhwc: bool, seed: int = 4):
    """Two branches read the input (separable -> conv, depthwise -> batch norm), merged by a convolution."""
    g = GraphSpec(seed=seed).input("in", conv_input(SIZE, SIZE, CHANNELS, nhwc))
    g.layer("sep", separable_conv(6, 3, nhwc=nhwc), "in").layer("c1", conv(6, 3, nhwc=nhwc), "sep")
    g.layer("dw", depthwise_conv(3, nhwc=nhwc), "in").layer("bn", batch_norm_in(nhwc), "dw")
    g.layer("crop", cropping(1, 1, 1, 1, nhwc=nhwc), "bn")  # 12x12 -> 10x10, as c1's
    g.vertex("merge", jclass("org.deeplearning4j.nn.conf.graph.MergeVertex")(), "c1", "crop")
    g.layer("mix", conv(6, 3, nhwc=nhwc), "merge").layer("gap", global_avg_pool(), "mix")
    g.layer("out", _regression_head(), "gap")
    net = g.build("out")
    randomize(net, seed)
    return net


def _images(nhwc: bool, n: int = 8, seed: int = 0) -> np.ndarray:
    shape = (n, SIZE, SIZE, CHANNELS) if nhwc else (n, CHANNELS, SIZE, SIZE)
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _plain_output(net, x) -> np.ndarray:
    """DL4J's own output(), called as a user calls it (no dl4j-bridge code in between)."""
    features = bridge.to_indarray(np.ascontiguousarray(x))
    if "ComputationGraph" in str(net.getClass().getName()):
        return bridge.to_numpy(net.outputSingle(False, features))
    return bridge.to_numpy(net.output(features, False))


def _exact(net, x) -> np.ndarray:
    """DL4J's own output() of a float64 copy of the network: the exact answer."""
    with _default_float64():
        double = net.convertDataType(jclass("org.nd4j.linalg.api.buffer.DataType").DOUBLE)
        return _plain_output(double, x.astype(np.float64))


def _bridge_output(net, x) -> np.ndarray:
    arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([bridge.to_indarray(x)])
    return bridge.to_numpy(jclass("ai.dl4jbridge.train.Networks").output(net, arrays)[0])


def _helpers(net) -> list[str | None]:
    """Each layer's helper class (simple name), None where it has none."""
    return [
        None if layer.getHelper() is None else str(layer.getHelper().getClass().getSimpleName())
        for layer in net.getLayers()
    ]


def _onednn() -> bool:
    return nd4j_build() == "onednn-avx2"


@pytest.mark.parametrize("chain", list(CHAINS))
def test_dl4j_output_is_right_on_channels_last_networks(chain):
    """A user's own output() in dl4j-bridge's JVM: DL4J's own code, within 1e-5 of the exact answer."""
    net, x = _sequential(chain, nhwc=True), _images(True)
    plain = _plain_output(net, x)
    assert set(_helpers(net)) == {None}  # DL4J's switch is off: no layer has a helper
    exact = _exact(net, x)
    assert np.abs(exact).max() > 0.1
    assert float(np.max(np.abs(plain - exact))) <= 1e-5
    assert float(np.max(np.abs(_bridge_output(net, x) - exact))) <= 1e-5
    assert float(np.max(np.abs(_plain_output(net, x) - exact))) <= 1e-5  # after dl4j-bridge's call too


@pytest.mark.parametrize("nhwc", [True, False], ids=["nhwc", "nchw"])
def test_dl4j_output_of_a_graph_is_right_before_and_after_bridge_calls(nhwc):
    net, x = _graph(nhwc), _images(nhwc)
    exact = _exact(net, x)
    assert float(np.max(np.abs(_plain_output(net, x) - exact))) <= 1e-5
    assert float(np.max(np.abs(_bridge_output(net, x) - exact))) <= 1e-5
    assert float(np.max(np.abs(_plain_output(net, x) - exact))) <= 1e-5


def test_bridge_calls_put_helpers_on_channels_first_layers_only():
    """As DL4J with its switch on gives them, but never to a channels-last layer; separable and depthwise
    convolutions get none from DL4J either."""
    first, last = _sequential("conv-batchnorm-pool", nhwc=False), _sequential("conv-batchnorm-pool", nhwc=True)
    assert set(_helpers(first)) == set(_helpers(last)) == {None}
    _bridge_output(first, _images(False)), _bridge_output(last, _images(True))
    expected = ["MKLDNNConvHelper", "MKLDNNBatchNormHelper", "MKLDNNSubsamplingHelper", "MKLDNNConvHelper", None, None]
    assert _helpers(first) == (expected if _onednn() else [None] * len(expected))
    assert set(_helpers(last)) == {None}
    graph = _graph(nhwc=False)
    _bridge_output(graph, _images(False))
    by_name = {str(v.getVertexName()): v.getLayer() for v in graph.getVertices() if v.hasLayer()}
    with_helper = {name for name, layer in by_name.items() if layer.getHelper() is not None}
    assert with_helper == ({"c1", "bn", "mix"} if _onednn() else set())


@pytest.mark.parametrize("chain", ["conv-batchnorm-pool", "crop-conv-batchnorm", "separable-batchnorm"])
@pytest.mark.parametrize("nhwc", [True, False], ids=["nhwc", "nchw"])
def test_bridge_training_steps_match_dl4js_own_fit(chain, nhwc):
    """Three steps of dl4j-bridge's training step (oneDNN helpers on channels-first layers) against DL4J's own
    fit() of the same network (DL4J's code throughout): the same parameters to 1e-5."""
    sgd = jclass("org.nd4j.linalg.learning.config.Sgd")(0.05)
    ours, theirs = _sequential(chain, nhwc, updater=sgd), _sequential(chain, nhwc, updater=sgd)
    rng = np.random.default_rng(5)
    arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))
    for step in range(3):
        x = _images(nhwc, n=16, seed=step)
        y = rng.normal(0, 1, (16, 5)).astype(np.float32)
        features, labels = bridge.to_indarray(x), bridge.to_indarray(y)
        jclass("ai.dl4jbridge.train.Networks").fitBatch(ours, arrays([features]), arrays([labels]))
        theirs.fit(jclass("org.nd4j.linalg.dataset.DataSet")(features, labels))
    assert set(_helpers(theirs)) == {None}
    if _onednn() and not nhwc:
        assert any(h is not None for h in _helpers(ours))  # the helpers really ran
    a, b = bridge.to_numpy(ours.params()), bridge.to_numpy(theirs.params())
    assert np.isfinite(a).all() and float(np.max(np.abs(a - b))) <= 1e-5


def test_helpers_dl4j_gave_channels_last_layers_are_dropped(java_property):
    """In a JVM with DL4J's own switch on (a user's flag), dl4j-bridge's calls still drop the helpers of
    channels-last layers, and their output is the exact answer."""
    x = _images(True)
    exact = _exact(_sequential("separable-conv", nhwc=True), x)  # built before the switch: no helpers
    java_property(DL4J_SWITCH, "false")
    net = _sequential("separable-conv", nhwc=True)  # the same seed: the same weights
    if _onednn():
        assert _helpers(net)[1] == "MKLDNNConvHelper"  # DL4J's own, on an NHWC convolution
    assert float(np.max(np.abs(_bridge_output(net, x) - exact))) <= 1e-5
    assert set(_helpers(net)) == {None}
