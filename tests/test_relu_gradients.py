"""ReLU's derivative as two vectorised ND4J ops during dl4j-bridge's training steps (ai.dl4jbridge.train.
ReluGradients) against DL4J's relu_bp: the same gradients on edge values, the same parameters after training
networks built with DL4J's builders, and DL4J's own activation class in the configuration outside the step."""

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    activation,
    conv,
    conv_input,
    dense,
    max_pool,
    minibatches,
    output,
    train_with_and_without,
)

import bridge
from bridge.jvm import jclass

PROPERTY = "dl4jbridge.reluGradients"


@pytest.fixture
def switch(java_property):
    # ReLU activation layers are replaced as a whole in training steps (tests/test_relu_layers.py): off here, so the
    # graph's ReLU layer runs DL4J's ActivationLayer and with it the activation's backprop under test.
    java_property("dl4jbridge.reluLayers", "dl4j")
    return lambda value: java_property(PROPERTY, value)


def _relu_gradients():
    return jclass("ai.dl4jbridge.train.ReluGradients")


def _adam():
    return jclass("org.nd4j.linalg.learning.config.Adam")(1e-2)


def _relu6():
    """DL4J's ReLU with a max: not a plain ReLU, left to DL4J."""
    relu = jclass("org.nd4j.linalg.activations.impl.ActivationReLU")
    return relu(jclass("java.lang.Double")(6.0), None, None)


def _sequential():
    relu6_dense = jclass(L + "DenseLayer$Builder")().nOut(16).activation(_relu6()).build()
    layers = [conv(6, 5), max_pool(), conv(8, 3), dense(32), relu6_dense, output(10)]
    conf = (
        jclass(C + "NeuralNetConfiguration$Builder")()
        .seed(7)
        .updater(_adam())
        .list(jpype.JArray(jclass(L + "Layer"))(layers))
        .setInputType(conv_input(20, 20, 1))
        .build()
    )
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
    net.init()
    return net


def _graph():
    g = GraphSpec(seed=9, updater=_adam()).input("in", conv_input(12, 12, 3))
    g.layer("a", conv(8, 3, padding=1), "in")
    g.layer("b", conv(8, 3, act="identity"), "a")
    g.layer("relu", jclass(L + "ActivationLayer$Builder")().activation(activation("relu")).build(), "b")
    g.layer("pool", max_pool(), "relu")
    g.layer("d", dense(12), "pool")
    g.layer("out", output(4), "d")
    return g.build("out")


def test_the_derivative_matches_relu_bp_on_edge_values():
    z = np.array([[-1.0, 0.0, -0.0, 1e-40, -1e-40, 2.0, np.nan, np.inf, -np.inf, 3.4e38]], dtype=np.float32)
    epsilon = np.array([[0.5, -2.0, 3.0, 1.5, -1.5, -0.25, 7.0, 1.0, 2.0, -3.4e38]], dtype=np.float32)
    dl4j = jclass("org.nd4j.linalg.activations.impl.ActivationReLU")()
    ours = jclass("ai.dl4jbridge.train.ReluGradients$VectorisedReLU")()
    expected = bridge.to_numpy(dl4j.backprop(bridge.to_indarray(z), bridge.to_indarray(epsilon)).getFirst())
    got = bridge.to_numpy(ours.backprop(bridge.to_indarray(z), bridge.to_indarray(epsilon)).getFirst())
    np.testing.assert_array_equal(got, expected)
    assert got[0, 5] == -0.25 and got[0, 0] == 0.0  # through where positive, stopped elsewhere


@pytest.mark.parametrize(
    "build, shape, classes, plain_relus", [(_sequential, (16, 1, 20, 20), 10, 3), (_graph, (8, 3, 12, 12), 4, 3)]
)
def test_training_ends_at_dl4js_parameters(switch, build, shape, classes, plain_relus):
    difference, ran, ran_turned_back = train_with_and_without(
        build, lambda: minibatches(shape, classes, 3, seed=2), switch, _relu_gradients().vectorisedBackprops
    )
    assert (ran, ran_turned_back) == (3 * plain_relus, 0)
    assert difference <= 1e-5


def test_the_configuration_names_dl4js_relu_outside_the_step():
    net = _sequential()
    for features, labels in minibatches((8, 1, 20, 20), 10, 1, seed=4):
        jclass("ai.dl4jbridge.train.Networks").fitBatch(net, features, labels)
    json = str(net.getLayerWiseConfigurations().toJson())
    assert "VectorisedReLU" not in json and "ActivationReLU" in json
    restored = jclass("org.deeplearning4j.nn.conf.MultiLayerConfiguration").fromJson(json)
    assert str(restored.getConf(0).getLayer().getActivationFn().getClass().getName()).endswith(".ActivationReLU")
