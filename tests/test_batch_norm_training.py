"""Batch normalization's training-mode forward and backprop as dl4j-bridge computes them in its training steps
(ai.dl4jbridge.train.BatchNormTraining) against DL4J's own oneDNN helper (the switch set to "dl4j"): the same
outputs, gradients and running statistics on one layer, the same parameters after training a residual graph built
with DL4J's builders, to 1e-5."""

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    activation,
    add,
    batch_norm,
    conv,
    conv_input,
    global_avg_pool,
    output,
    train_with_and_without,
)

import bridge
from bridge.jvm import jclass, nd4j_build

PROPERTY = "dl4jbridge.batchNormTraining"

pytestmark = pytest.mark.skipif(
    nd4j_build() != "onednn-avx2", reason="needs nd4j's onednn-avx2 build (DL4J's oneDNN batch-norm helper)"
)


@pytest.fixture
def switch(java_property):
    return lambda value: java_property(PROPERTY, value)


def _counter():
    return jclass("ai.dl4jbridge.train.BatchNormTraining").backprops()


def _graph(seed: int = 5, updater=None):
    """conv -> batch norm, plus a strided 1x1 conv -> batch norm, added, tanh (no ReLU: a ReLU's mask flips where a
    batch-norm output sits within rounding of zero, and either implementation's rounding is right), pooled."""
    tanh = jclass(L + "ActivationLayer$Builder")().activation(activation("tanh")).build()
    g = GraphSpec(seed=seed, updater=updater).input("in", conv_input(10, 10, 3))
    g.layer("c1", conv(6, 3, stride=2, padding=1, act="identity", bias=False), "in")
    g.layer("bn1", batch_norm(), "c1")
    g.layer("c2", conv(6, 1, stride=2, act="identity", bias=False), "in")
    g.layer("bn2", batch_norm(), "c2")
    g.vertex("sum", add(), "bn1", "bn2")
    g.layer("act", tanh, "sum")
    g.layer("pool", global_avg_pool(), "act")
    g.layer("out", output(4), "pool")
    return g.build("out")


def _with_helpers(net):
    """The network as dl4j-bridge's training steps see it: DL4J's oneDNN helpers on, then ours on batch norms."""
    jclass("ai.dl4jbridge.train.OneDnnHelpers").install(net)
    return jclass("ai.dl4jbridge.train.BatchNormTraining").install(net)


def _minibatches(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        features = (rng.normal(size=(7, 3, 10, 10)) * 2 + 1).astype(np.float32)  # odd batch, mean far from 0
        labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=7)]
        array = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))
        yield array([bridge.to_indarray(features)]), array([bridge.to_indarray(labels)])


@pytest.mark.parametrize(
    "shape", [(5, 6, 5, 5), (16, 6, 9, 7), (4, 6, 16, 12)]
)  # maps below and above ChannelSums.PIXELS_FIRST_FROM
def test_one_layer_matches_dl4js_helper(switch, shape):
    net = _graph()
    assert _with_helpers(net) == 2
    net.initGradientsView()
    layer, mgr = net.getLayer("bn1"), jclass("org.deeplearning4j.nn.workspace.LayerWorkspaceMgr").noWorkspaces()
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 3 + 2).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)

    def run():
        layer.setInput(bridge.to_indarray(x), mgr)
        y = bridge.to_numpy(layer.activate(True, mgr)).copy()
        result = layer.backpropGradient(bridge.to_indarray(dy), mgr)
        table = result.getFirst().gradientForVariable()
        return [y, bridge.to_numpy(result.getSecond()).copy()] + [
            bridge.to_numpy(table.get(name)).ravel().copy() for name in ("gamma", "beta", "mean", "log10stdev")
        ]

    before = _counter()
    ours = run()
    assert _counter() == before + 1
    switch("dl4j")
    theirs = run()
    assert _counter() == before + 1
    for name, a, b in zip(("output", "dx", "dGamma", "dBeta", "mean", "log10stdev"), ours, theirs):
        scale = max(1.0, float(np.abs(b).max()))
        assert np.abs(a - b).max() <= 1e-5 * scale, name


def test_training_ends_at_dl4js_parameters(switch):
    adam = jclass("org.nd4j.linalg.learning.config.Adam")
    difference, ran, ran_turned_back = train_with_and_without(
        lambda: _graph(updater=adam(1e-2)), lambda: _minibatches(3, seed=2), switch, _counter
    )
    assert (ran, ran_turned_back) == (3 * 2, 0)
    assert difference <= 1e-5


def test_a_spark_workers_steps_match_local_steps():
    """TrainingStep.hook(), which Spark workers run around each minibatch, applies the change as local steps do."""
    adam = jclass("org.nd4j.linalg.learning.config.Adam")
    local, worker = _graph(updater=adam(1e-2)), _graph(updater=adam(1e-2))
    hook = jclass("ai.dl4jbridge.train.TrainingStep").hook()
    before = _counter()
    for features, labels in _minibatches(2, seed=4):
        jclass("ai.dl4jbridge.train.Networks").fitBatch(local, features, labels)
    assert _counter() - before == 2 * 2
    for features, labels in _minibatches(2, seed=4):
        minibatch = jclass("org.nd4j.linalg.dataset.DataSet")(features[0], labels[0])
        hook.preUpdate(minibatch, worker)
        worker.fit(minibatch)
        hook.postUpdate(minibatch, worker)
    assert _counter() - before == 4 * 2
    assert np.abs(bridge.to_numpy(local.params()) - bridge.to_numpy(worker.params())).max() == 0.0


def test_channels_last_batch_norm_keeps_dl4js_code():
    g = GraphSpec(seed=3).input("in", conv_input(8, 8, 3, nhwc=True))
    g.layer("c", conv(4, 3, act="identity", nhwc=True), "in")
    nhwc = jclass(C + "CNN2DFormat").NHWC
    g.layer("bn", jclass(L + "BatchNormalization$Builder")().dataFormat(nhwc).build(), "c")
    g.layer("pool", global_avg_pool(), "bn")
    g.layer("out", output(2), "pool")
    assert _with_helpers(g.build("out")) == 0
