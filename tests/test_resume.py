"""Exact resume: 1 epoch + checkpoint + load + 1 epoch == 2 epochs, bit for bit (parameters and updater state)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import bridge
from bridge import callbacks, nets


def _state(net):
    return (
        bridge.to_numpy(net.java.params()).copy(),
        bridge.to_numpy(net.java.getUpdater().getStateViewArray()).copy(),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "make", [lambda: nets.mlp(seed=3, dropout=0.3), lambda: nets.lenet(seed=3)], ids=["mlp-dropout", "lenet"]
)
def test_one_epoch_checkpoint_resume_equals_two_epochs(mnist, tmp_path, make):
    x, y = mnist[0][:640], mnist[1][:640]
    straight = make()
    bridge.fit(straight, x, y, epochs=2, seed=5, verbose=0)
    first = make()
    bridge.fit(
        first, x, y, epochs=1, seed=5, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / "ckpt-{epoch}.zip")]
    )
    resumed = bridge.load(tmp_path / "ckpt-1.zip")
    assert resumed.java.getEpochCount() == 1 and resumed.java.getIterationCount() == 10
    bridge.fit(resumed, x, y, epochs=2, initial_epoch=1, seed=5, verbose=0)
    for a, b, what in zip(_state(straight), _state(resumed), ("parameters", "updater state")):
        np.testing.assert_array_equal(a, b, err_msg=what)
    assert resumed.java.getEpochCount() == straight.java.getEpochCount() == 2
    # a different seed or no resume would differ: the test can fail
    other = make()
    bridge.fit(other, x, y, epochs=2, seed=6, verbose=0)
    assert not np.array_equal(_state(other)[0], _state(straight)[0])


def test_dl4j_counters_advance_across_fit_calls_and_the_state_entry_is_plain_json(mnist, tmp_path):
    net = nets.mlp(hidden=(16,), seed=1)
    bridge.fit(net, mnist[0][:200], mnist[1][:200], epochs=2, batch_size=50, verbose=0)
    bridge.fit(net, mnist[0][:200], mnist[1][:200], epochs=1, batch_size=50, verbose=0)
    assert (net.java.getEpochCount(), net.java.getIterationCount()) == (3, 12)
    path = bridge.save(net, tmp_path / "m.zip", training_state={"seed": 42})
    with zipfile.ZipFile(path) as archive:
        state = json.loads(archive.read("dl4j-bridge-training.json").decode("utf-8"))
        conf = json.loads(archive.read("configuration.json"))
    assert state == {"format": 1, "epoch_count": 3, "iteration_count": 12, "seed": 42}
    assert (conf["epochCount"], conf["iterationCount"]) == (3, 12)  # DL4J's own record, which resume relies on
