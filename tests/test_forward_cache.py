"""DL4J's forward cache during dl4j-bridge's training steps (ai.dl4jbridge.train.ForwardCache): convolutions keep
their forward output for backprop instead of computing it again. Checked on networks built with DL4J's builders:
the cache is really read, training ends at DL4J's parameters (1e-5), nothing stale is left for a later backprop,
and the configuration a network is saved with keeps its own cache mode."""

import jpype
import numpy as np
import pytest
from dl4j_builders import C, GraphSpec, L, add, conv, conv_input, dense, max_pool, minibatches, output, pooling

import bridge
from bridge.jvm import jclass

PROPERTY = "dl4jbridge.forwardCache"


@pytest.fixture
def switch(java_property):
    return lambda value: java_property(PROPERTY, value)


def _adam():
    return jclass("org.nd4j.linalg.learning.config.Adam")(1e-2)


def _sequential(cache_mode=None):
    builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(7).updater(_adam())
    if cache_mode:
        builder = builder.cacheMode(getattr(jclass(C + "CacheMode"), cache_mode))
    layers = [conv(6, 5), max_pool(), conv(8, 3), max_pool(), dense(32), output(10)]
    conf = builder.list(jpype.JArray(jclass(L + "Layer"))(layers)).setInputType(conv_input(20, 20, 1)).build()
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
    net.init()
    return net


def _channels_last():
    """NHWC convolutions (dl4j-bridge gives them no oneDNN helper: DL4J's own im2col path caches here)."""
    builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(5).updater(_adam())
    layers = [conv(6, 3, nhwc=True), pooling("MAX", nhwc=True), conv(8, 3, nhwc=True), dense(16), output(10)]
    conf = builder.list(jpype.JArray(jclass(L + "Layer"))(layers)).setInputType(conv_input(12, 12, 3, nhwc=True))
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf.build())
    net.init()
    return net


def _residual_graph():
    """A residual block: two convolutions whose sum goes on, beside a 1x1 shortcut convolution."""
    g = GraphSpec(seed=9, updater=_adam()).input("in", conv_input(12, 12, 3))
    g.layer("stem", conv(8, 3, padding=1), "in")
    g.layer("a", conv(8, 3, padding=1), "stem")
    g.layer("b", conv(8, 3, padding=1, act="identity"), "a")
    g.layer("short", conv(8, 1, act="identity"), "stem")
    g.vertex("sum", add(), "b", "short")
    g.layer("pool", max_pool(), "sum")
    g.layer("out", output(4), "pool")
    return g.build("out")


def _cached_outputs(net):
    """How many convolution layers hold a cached forward output (DL4J's AbstractLayer.preOutput)."""
    field = jclass("org.deeplearning4j.nn.layers.AbstractLayer").class_.getDeclaredField("preOutput")
    field.setAccessible(True)
    convs = [layer for layer in net.getLayers() if "ConvolutionLayer" in str(layer.getClass().getSimpleName())]
    return sum(field.get(layer) is not None for layer in convs)


@jpype.JImplements("org.deeplearning4j.optimize.api.TrainingListener", deferred=True)
class _CacheWatcher:
    """Counts, after each backprop inside a step, the convolutions whose forward output DL4J cached."""

    def __init__(self, net):
        self.net, self.seen = net, []

    @jpype.JOverride
    def onBackwardPass(self, model):
        self.seen.append(_cached_outputs(self.net))

    @jpype.JOverride
    def iterationDone(self, model, iteration, epoch):
        pass

    @jpype.JOverride
    def onEpochStart(self, model):
        pass

    @jpype.JOverride
    def onEpochEnd(self, model):
        pass

    @jpype.JOverride
    def onForwardPass(self, model, activations):
        pass

    @jpype.JOverride
    def onGradientCalculation(self, model):
        pass


@pytest.mark.parametrize(
    "build, shape, classes, convs",
    [
        (_sequential, (16, 1, 20, 20), 10, 2),
        (_residual_graph, (8, 3, 12, 12), 4, 4),
        (_channels_last, (8, 12, 12, 3), 10, 2),
    ],
)
def test_cached_steps_train_to_dl4js_parameters(switch, build, shape, classes, convs):
    fit_batch = jclass("ai.dl4jbridge.train.Networks").fitBatch
    cached, plain = build(), build()
    watcher = _CacheWatcher(cached)
    cached.addListeners(watcher)
    for features, labels in minibatches(shape, classes, 4, seed=1):
        fit_batch(cached, features, labels)
    assert watcher.seen == [convs] * 4  # every convolution's backprop found its forward output cached
    assert _cached_outputs(cached) == 0  # and none is left once the step is over

    switch("false")
    plain_watcher = _CacheWatcher(plain)
    plain.addListeners(plain_watcher)
    for features, labels in minibatches(shape, classes, 4, seed=1):
        fit_batch(plain, features, labels)
    assert plain_watcher.seen == [0] * 4
    difference = np.abs(bridge.to_numpy(cached.params()) - bridge.to_numpy(plain.params())).max()
    assert difference <= 1e-5


def test_a_backprop_after_a_cached_step_sees_its_own_input():
    """A user's calculateGradients after training: DL4J's convolutions read a cached forward output whenever one is
    there, so one left from the last step would give the gradients of that step's minibatch."""
    net = _sequential()
    (features, labels), (other_features, other_labels) = minibatches((16, 1, 20, 20), 10, 2, seed=3)
    jclass("ai.dl4jbridge.train.Networks").fitBatch(net, features, labels)
    fresh = net.clone()  # the same parameters, no cache
    jclass("ai.dl4jbridge.train.OneDnnHelpers").install(fresh)  # and the same oneDNN helpers as net's
    ours = net.calculateGradients(other_features[0], other_labels[0], None, None).getFirst().gradient()
    theirs = fresh.calculateGradients(other_features[0], other_labels[0], None, None).getFirst().gradient()
    assert np.abs(bridge.to_numpy(theirs)).max() > 1e-3
    assert np.abs(bridge.to_numpy(ours) - bridge.to_numpy(theirs)).max() <= 1e-6


def test_the_saved_configuration_keeps_its_cache_mode(tmp_path):
    cache_mode = jclass(C + "CacheMode")
    fit_batch = jclass("ai.dl4jbridge.train.Networks").fitBatch
    default, own = _sequential(), _sequential(cache_mode="HOST")
    for net in (default, own):
        for features, labels in minibatches((8, 1, 20, 20), 10, 2, seed=5):
            fit_batch(net, features, labels)
    assert default.getLayerWiseConfigurations().getCacheMode() == cache_mode.NONE
    assert '"cacheMode" : "NONE"' in str(default.getLayerWiseConfigurations().toJson())
    assert own.getLayerWiseConfigurations().getCacheMode() == cache_mode.HOST
