"""Training steps with denormals flushed to zero (ai.dl4jbridge.train.FlushDenormals; its JUnit test checks the
register on the training thread and its OpenMP team): bridge.fit's steps run that way, the switch turns it off,
and training with Adam moments decayed into denormals ends at DL4J's own parameters and outputs within 1e-5.
(What flushing does change: a network whose activations themselves live below 1.2e-38 would see them as zeros.)"""

import numpy as np
import pytest

import bridge
from bridge import data, nets
from bridge.jvm import jclass

PROPERTY = "dl4jbridge.flushDenormals"
ROWS, BATCH = 256, 64


@pytest.fixture(scope="module")
def fashion():
    x, y, _, _ = data.load("fashion-mnist")
    return x[:ROWS], y[:ROWS]


@pytest.fixture
def switch(java_property):
    return lambda value: java_property(PROPERTY, value)


def _flush():
    return jclass("ai.dl4jbridge.train.FlushDenormals")


def _params(net):
    return bridge.to_numpy(net.java.params()).copy()


def _trained(x, y, setting, switch, prepare=None):
    """LeNet (seed 1) after one epoch on (x, y) with flushing on ("true") or off ("false")."""
    net = nets.lenet(seed=1)
    if prepare:
        prepare(net)
    switch(setting)
    bridge.fit(net, x, y, epochs=1, batch_size=BATCH, seed=3, progress=False)
    return net


def test_every_step_of_fit_flushes_denormals_unless_switched_off(fashion, switch):
    x, y = fashion
    assert _flush().available(), "x86-64 Linux: glibc and ND4J's libgomp must be found"
    before = _flush().flushedSteps()
    flushed = _trained(x, y, "true", switch)
    assert _flush().flushedSteps() - before == ROWS // BATCH

    before = _flush().flushedSteps()
    dl4j = _trained(x, y, "false", switch)
    assert _flush().flushedSteps() == before
    np.testing.assert_allclose(_params(flushed), _params(dl4j), rtol=0, atol=1e-5)


def test_adam_moments_decayed_to_denormals_train_as_in_dl4j(fashion, switch):
    """The case flushing is for: Adam's moments of weights whose gradient stays zero decay into denormals. Here a
    few steps of training, then every moment scaled into the denormal range, then an epoch with and without."""
    x, y = fashion
    tiny = np.finfo(np.float32).tiny

    def moments_into_denormals(net):
        switch("false")
        bridge.fit(net, x, y, epochs=1, batch_size=BATCH, seed=2, progress=False)
        state = net.java.getUpdater().getStateViewArray()
        state.muli(1e-36)
        values = bridge.to_numpy(state)
        assert ((values != 0) & (np.abs(values) < tiny)).sum() > 100_000, "the moments must be denormals"

    flushed = _trained(x, y, "true", switch, prepare=moments_into_denormals)
    dl4j = _trained(x, y, "false", switch, prepare=moments_into_denormals)
    np.testing.assert_allclose(_params(flushed), _params(dl4j), rtol=0, atol=1e-5)
    np.testing.assert_allclose(bridge.predict(flushed, x), bridge.predict(dl4j, x), rtol=0, atol=1e-5)

    def denormals(net):
        state = bridge.to_numpy(net.java.getUpdater().getStateViewArray())
        return int(((state != 0) & (np.abs(state) < tiny)).sum())

    assert denormals(flushed) == 0 < denormals(dl4j)
