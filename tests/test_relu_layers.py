"""ReLU activation layers trained without DL4J's copies (ai.dl4jbridge.train.ReluLayers) against DL4J's own
ActivationLayer (the switch set to "dl4j"): the same outputs and gradients on edge values, the same parameters
after training networks built with DL4J's builders, DL4J's classes in what is saved, and Spark workers alike."""

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    activation,
    batch_norm,
    conv,
    conv_input,
    dense,
    global_avg_pool,
    minibatches,
    output,
    train_with_and_without,
)

import bridge
from bridge.jvm import jclass

PROPERTY = "dl4jbridge.reluLayers"


@pytest.fixture
def switch(java_property):
    return lambda value: java_property(PROPERTY, value)


def _relu_layers():
    return jclass("ai.dl4jbridge.train.ReluLayers")


def _activation_layer(name: str):
    return jclass(L + "ActivationLayer$Builder")().activation(activation(name)).build()


def _graph(seed: int = 9):
    """conv -> batch norm -> ReLU layer twice with a residual add, a tanh layer left to DL4J, pooled."""
    adam = jclass("org.nd4j.linalg.learning.config.Adam")(1e-2)
    g = GraphSpec(seed=seed, updater=adam).input("in", conv_input(10, 10, 3))
    g.layer("c1", conv(6, 3, padding=1, act="identity", bias=False), "in")
    g.layer("bn1", batch_norm(), "c1")
    g.layer("relu1", _activation_layer("relu"), "bn1")
    g.layer("c2", conv(6, 3, padding=1, act="identity", bias=False), "relu1")
    g.layer("bn2", batch_norm(), "c2")
    g.vertex("sum", jclass(C + "graph.ElementWiseVertex")(jclass(C + "graph.ElementWiseVertex$Op").Add), "bn2", "relu1")
    g.layer("relu2", _activation_layer("relu"), "sum")
    g.layer("tanh", _activation_layer("tanh"), "relu2")
    g.layer("pool", global_avg_pool(), "tanh")
    g.layer("out", output(4), "pool")
    return g.build("out")


def _sequential(seed: int = 3):
    layers = [dense(16, act="identity"), _activation_layer("relu"), dense(8), output(3)]
    conf = (
        jclass(C + "NeuralNetConfiguration$Builder")()
        .seed(seed)
        .updater(jclass("org.nd4j.linalg.learning.config.Adam")(1e-2))
        .list(jpype.JArray(jclass(L + "Layer"))(layers))
        .setInputType(jclass(C + "inputs.InputType").feedForward(12))
        .build()
    )
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
    net.init()
    return net


def test_one_layer_gives_dl4js_output_and_gradient_on_edge_values(switch):
    net = _sequential()
    assert _relu_layers().install(net) == 1
    layer = net.getLayer(1)
    assert "ReluLayers$Relu" in str(layer.getClass().getName())
    assert net.getLayer(str(layer.conf().getLayer().getLayerName())) == layer  # by name too
    mgr = jclass("org.deeplearning4j.nn.workspace.LayerWorkspaceMgr").noWorkspaces()
    x = np.array(
        [[-1.0, 0.0, -0.0, 1e-40, -1e-40, 2.0, np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 0.5] + [1.0] * 4],
        dtype=np.float32,
    )
    dy = np.array(
        [[0.5, -2.0, 3.0, 1.5, -1.5, -0.25, 7.0, 1.0, 2.0, -3.4e38, 4.0, 1e-40] + [2.0] * 4], dtype=np.float32
    )

    def run():
        layer.setInput(bridge.to_indarray(x.copy()), mgr)
        out = bridge.to_numpy(layer.activate(True, mgr)).copy()
        dx = bridge.to_numpy(layer.backpropGradient(bridge.to_indarray(dy), mgr).getSecond()).copy()
        return out, dx

    before = _relu_layers().backprops()
    ours = run()
    assert _relu_layers().backprops() == before + 1
    switch("dl4j")
    theirs = run()
    assert _relu_layers().backprops() == before + 1
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[0][0, 5] == 2.0 and ours[0][0, 0] == 0.0 and ours[1][0, 5] == -0.25 and ours[1][0, 0] == 0.0


@pytest.mark.parametrize(
    "build, shape, classes, relu_layers", [(_graph, (7, 3, 10, 10), 4, 2), (_sequential, (9, 12), 3, 1)]
)
def test_training_ends_at_dl4js_parameters(switch, build, shape, classes, relu_layers):
    difference, ran, ran_turned_back = train_with_and_without(
        build, lambda: minibatches(shape, classes, 3, seed=2), switch, _relu_layers().backprops
    )
    assert (ran, ran_turned_back) == (3 * relu_layers, 0)
    assert difference <= 1e-6


def test_a_trained_graph_saves_as_dl4js_and_predicts_the_same(tmp_path):
    net = _graph()
    for features, labels in minibatches((5, 3, 10, 10), 4, 2, seed=3):
        jclass("ai.dl4jbridge.train.Networks").fitBatch(net, features, labels)
    assert "ReluLayers$Relu" in str(net.getLayer("relu1").getClass().getName())
    assert "ReluLayers" not in str(net.getConfiguration().toJson())
    path = str(tmp_path / "graph.zip")
    serializer = jclass("org.deeplearning4j.util.ModelSerializer")
    serializer.writeModel(net, jclass("java.io.File")(path), True)
    restored = serializer.restoreComputationGraph(path, True)
    assert str(restored.getLayer("relu1").getClass().getName()) == "org.deeplearning4j.nn.layers.ActivationLayer"
    x = bridge.to_indarray(np.random.default_rng(1).normal(size=(4, 3, 10, 10)).astype(np.float32))
    inputs = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([x])
    predict = jclass("ai.dl4jbridge.train.Networks").output  # the same oneDNN helpers on both
    np.testing.assert_array_equal(
        bridge.to_numpy(predict(net, inputs)[0]), bridge.to_numpy(predict(restored, inputs)[0])
    )


def test_a_spark_workers_steps_match_local_steps():
    """TrainingStep.hook(), which Spark workers run around each minibatch, replaces the layers as local steps do."""
    local, worker = _graph(), _graph()
    hook = jclass("ai.dl4jbridge.train.TrainingStep").hook()
    before = _relu_layers().backprops()
    for features, labels in minibatches((6, 3, 10, 10), 4, 2, seed=4):
        jclass("ai.dl4jbridge.train.Networks").fitBatch(local, features, labels)
    assert _relu_layers().backprops() - before == 2 * 2
    for features, labels in minibatches((6, 3, 10, 10), 4, 2, seed=4):
        minibatch = jclass("org.nd4j.linalg.dataset.DataSet")(features[0], labels[0])
        hook.preUpdate(minibatch, worker)
        worker.fit(minibatch)
        hook.postUpdate(minibatch, worker)
    assert _relu_layers().backprops() - before == 4 * 2
    assert np.abs(bridge.to_numpy(local.params()) - bridge.to_numpy(worker.params())).max() == 0.0


def test_other_activation_layers_keep_dl4js_class():
    net = _graph()
    assert _relu_layers().install(net) == 2
    assert str(net.getLayer("tanh").getClass().getName()) == "org.deeplearning4j.nn.layers.ActivationLayer"
    assert net.getLayer("relu2") in list(net.getLayers())  # the graph's layer array holds the replacement too
