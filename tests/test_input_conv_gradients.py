"""The weights-only backprop of convolutions fed by the network input (ai.dl4jbridge.train.InputConvGradients)
against DL4J's own oneDNN helper: the same gradients to 1e-5, on networks built with DL4J's builders."""

import jpype
import numpy as np
import pytest
from dl4j_builders import C, GraphSpec, L, concat, conv, conv_input, dense, ints, max_pool, mode, output

import bridge
from bridge.jvm import jclass

PROPERTY = "dl4jbridge.inputConvGradients"


@pytest.fixture
def switch(java_property):
    return lambda value: java_property(PROPERTY, value)


def _helpers():
    return jclass("ai.dl4jbridge.train.InputConvGradients")


def _sgd():
    return jclass("org.nd4j.linalg.learning.config.Sgd")(1.0)  # the update is the gradient itself


def _lenet_like(seed=3):
    layers = [conv(6, 5), max_pool(), conv(8, 3), max_pool(), dense(32), output(10)]
    conf = (
        jclass(C + "NeuralNetConfiguration$Builder")()
        .seed(seed)
        .updater(_sgd())
        .list(jpype.JArray(jclass(L + "Layer"))(layers))
        .setInputType(conv_input(20, 20, 1))
        .build()
    )
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
    net.init()
    return net


def _dilated(n_out, k, stride, dilation, bias=True):
    return (
        jclass(L + "ConvolutionLayer$Builder")(ints(k, k), ints(stride, stride), ints(0, 0))
        .dilation(ints(dilation, dilation))
        .nOut(n_out)
        .convolutionMode(mode("Truncate"))
        .activation(jclass("org.nd4j.linalg.activations.Activation").TANH)
        .hasBias(bias)
        .build()
    )


def _branching_graph(seed=5):
    """RGB input read by four convolutions: strided, bias-free, padded, and Same mode with an even kernel."""
    g = GraphSpec(seed=seed, updater=_sgd()).input("in", conv_input(17, 17, 3))
    g.layer("a", _dilated(4, 3, 2, 1), "in")  # 17 -> 8 (oneDNN in M2.1 refuses dilated convolutions)
    g.layer("b", _dilated(4, 3, 2, 1, bias=False), "in")  # 17 -> 8
    g.layer("c", conv(4, 3, stride=3, padding=1), "in")  # 17 -> 6
    g.layer("d", conv(3, 4, conv_mode="Same"), "in")  # 17 -> 17, padded 1 before and 2 after
    g.layer("dp", max_pool(2, 3), "d")  # 17 -> 6
    g.vertex("ab", concat(), "a", "b")
    g.layer("mix", conv(6, 3), "ab")  # 8 -> 6, not fed by the input: DL4J's helper
    g.vertex("all", concat(), "mix", "c", "dp")
    g.layer("out", output(5), "all")
    return g.build("out")


def _batch(shape, classes, seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, shape).astype(np.float32)
    labels = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, shape[0])]
    arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))
    return arrays([bridge.to_indarray(features)]), arrays([bridge.to_indarray(labels)])


def _step_gradients(net, features, labels):
    """One bridge training step; with Sgd(1.0) the updater leaves the gradient itself in the gradient view."""
    jclass("ai.dl4jbridge.train.Networks").fitBatch(net, features, labels)
    return bridge.to_numpy(net.getGradientsViewArray()).copy(), bridge.to_numpy(net.params()).copy()


@pytest.mark.parametrize(
    "build, shape, classes", [(_lenet_like, (16, 1, 20, 20), 10), (_branching_graph, (8, 3, 17, 17), 5)]
)
def test_weights_only_backprop_matches_dl4j(switch, build, shape, classes):
    features, labels = _batch(shape, classes, seed=11)
    ours, theirs = build(), build()
    assert np.array_equal(bridge.to_numpy(ours.params()), bridge.to_numpy(theirs.params()))
    before = _helpers().weightsOnlyBackprops()
    grad_ours, params_ours = _step_gradients(ours, features, labels)
    ran = _helpers().weightsOnlyBackprops() - before
    switch("dl4j")
    grad_theirs, params_theirs = _step_gradients(theirs, features, labels)
    assert _helpers().weightsOnlyBackprops() - before == ran  # DL4J's helper ran the second step
    assert ran == (1 if shape[1] == 1 else 4)  # LeNet's first convolution; the graph's four fed by its input
    assert np.abs(grad_theirs).max() > 1e-3  # a real gradient to compare
    assert float(np.max(np.abs(grad_ours - grad_theirs))) <= 1e-5
    assert float(np.max(np.abs(params_ours - params_theirs))) <= 1e-5


def test_gradients_outside_a_training_step_are_dl4js(switch):
    """A user's calculateGradients needs the input gradient: the helper leaves it to DL4J outside fitBatch."""
    net = _lenet_like()
    features, labels = _batch((8, 1, 20, 20), 10, seed=4)
    jclass("ai.dl4jbridge.train.Networks").fitBatch(net, features, labels)  # installs the helper
    helper = net.getLayer(0).getHelper()
    assert "WeightsOnlyHelper" in str(helper.getClass().getName())
    before = _helpers().weightsOnlyBackprops()
    pair = net.calculateGradients(features[0], labels[0], None, None)
    assert _helpers().weightsOnlyBackprops() == before
    input_gradient = bridge.to_numpy(pair.getSecond())
    assert input_gradient.shape == (8, 1, 20, 20) and np.abs(input_gradient).max() > 0
    switch("dl4j")
    reference = bridge.to_numpy(net.calculateGradients(features[0], labels[0], None, None).getSecond())
    assert float(np.max(np.abs(input_gradient - reference))) <= 1e-6


def test_training_with_the_helper_learns(switch):
    """bridge.fit end to end on real digits: the loss falls, and the switch gives the same parameters."""
    from bridge import data, nets

    x, y, _, _ = data.load("fashion-mnist")
    fast, reference = nets.lenet(seed=1), nets.lenet(seed=1)
    history = bridge.fit(fast, x[:512], y[:512], epochs=2, batch_size=64, seed=1, progress=False)
    assert history[-1].loss < history[0].loss
    switch("dl4j")
    bridge.fit(reference, x[:512], y[:512], epochs=2, batch_size=64, seed=1, progress=False)
    a, b = bridge.to_numpy(fast.java.params()), bridge.to_numpy(reference.java.params())
    assert float(np.max(np.abs(a - b))) <= 1e-4  # 16 Adam steps apart from float rounding
