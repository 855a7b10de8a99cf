"""Learning-rate schedules over ND4J's ISchedule: the rate DL4J actually applies, measured from an SGD step."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bridge
from bridge import callbacks, nets, schedules
from bridge.errors import DataError


def _applied_learning_rate(net, x, y) -> float:
    """One plain-SGD step on a minibatch, outside bridge.fit: (params before - after) / gradient. DL4J's gradient()
    is summed over the minibatch; its updater divides it by the minibatch size before the step."""
    import jpype

    java = net.java
    DataSet = jpype.JClass("org.nd4j.linalg.dataset.DataSet")
    Trainer = jpype.JClass("ai.dl4jbridge.train.Trainer")
    labels = Trainer.oneHot(bridge.to_indarray(y.astype(np.int32)), 10)
    java.setInput(bridge.to_indarray(x))
    java.setLabels(labels)
    java.computeGradientAndScore()
    gradient = bridge.to_numpy(java.gradient().gradient()).astype(np.float64).ravel()
    before = bridge.to_numpy(java.params()).astype(np.float64).ravel()
    java.fit(DataSet(bridge.to_indarray(x), labels))
    after = bridge.to_numpy(java.params()).astype(np.float64).ravel()
    big = np.abs(gradient) > 1e-3
    return float(np.median((before - after)[big] / gradient[big])) * len(x)


def _net(updater):
    return nets.sequential([nets.Dense(16), nets.Output(10)], 784, updater=updater, seed=2)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        (schedules.Step(0.1, decay_rate=0.5, step=1), lambda it, ep: 0.1 * 0.5**ep),
        (schedules.Exponential(0.2, gamma=0.9, unit="iteration"), lambda it, ep: 0.2 * 0.9**it),
        (
            schedules.Cosine(0.1, total=4, minimum=0.01),
            lambda it, ep: 0.01 + 0.045 * (1 + math.cos(math.pi * min(ep, 4) / 4)),
        ),
        (schedules.WarmUp(0.1, iterations=10), lambda it, ep: 0.1 * min(1.0, (it + 1) / 10)),
        (schedules.Piecewise({0: 0.1, 2: 0.01}), lambda it, ep: 0.1 if ep < 2 else 0.01),
    ],
    ids=["step-epoch", "exponential-iteration", "cosine", "warmup", "piecewise"],
)
def test_dl4j_applies_the_scheduled_rate_as_epochs_pass_and_across_resume(mnist, tmp_path, schedule, expected):
    x, y = mnist[0][:128], mnist[1][:128]
    net = _net(nets.Sgd(learning_rate=schedule))
    for epoch in range(3):
        if epoch:
            bridge.fit(net, x, y, epochs=1, batch_size=64, verbose=0)  # 2 iterations and 1 epoch per call
        probe = bridge.load(bridge.save(net, tmp_path / f"e{epoch}.zip"))  # measure on a copy, across save/load
        it, ep = probe.java.getIterationCount(), probe.java.getEpochCount()
        assert ep == epoch
        assert _applied_learning_rate(probe, x[:32], y[:32]) == pytest.approx(expected(it, ep), rel=2e-3)
        assert schedule.value_at(it, ep) == pytest.approx(expected(it, ep), rel=1e-12)


def test_every_updater_with_a_rate_takes_a_schedule_and_history_reports_it(mnist):
    """AdaGrad is refused (see the misuse test): DL4J drops its schedule."""
    for factory in (nets.Adam, nets.Sgd, nets.Nesterovs, nets.RmsProp, nets.AdaMax, nets.Nadam, nets.AMSGrad):
        net = _net(factory(learning_rate=schedules.Step(0.01, decay_rate=0.1, step=1)))
        history = bridge.fit(net, mnist[0][:64], mnist[1][:64], epochs=2, verbose=0)
        assert history.history["lr"] == pytest.approx([0.001, 0.0001]), factory.__name__


def test_keras_learning_rate_scheduler_sets_the_applied_rate(mnist):
    x, y = mnist[0][:128], mnist[1][:128]
    net = _net(nets.Sgd(0.1))
    seen = []
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: seen.append(lr) or 0.1 / (epoch + 1))
    history = bridge.fit(net, x, y, epochs=3, verbose=0, callbacks=[scheduler])
    assert seen == pytest.approx([0.1, 0.1, 0.05]) and history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert _applied_learning_rate(net, x[:32], y[:32]) == pytest.approx(0.1 / 3, rel=2e-3)


def test_schedules_on_updaters_that_cannot_take_them_are_clear_errors(mnist):
    with pytest.raises(DataError, match="AdaDelta has no learning rate"):
        _net(nets.AdaDelta(learning_rate=schedules.Step(0.1)))
    with pytest.raises(DataError, match="AdaGrad takes a number as learning_rate.*loses an AdaGrad schedule"):
        _net(nets.AdaGrad(learning_rate=schedules.Step(0.1)))
    with pytest.raises(DataError, match="invalid value for `learning_rate` of Adam"):
        _net(nets.Adam(learning_rate="fast"))
    with pytest.raises(DataError, match="invalid value for `unit`"):
        _net(nets.Adam(learning_rate=schedules.Step(0.1, unit="batch")))
    net = _net(nets.AdaDelta())
    with pytest.raises(DataError, match="LearningRateScheduler: this network's updater has no learning rate"):
        bridge.fit(
            net,
            mnist[0][:64],
            mnist[1][:64],
            verbose=0,
            callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: lr)],
        )
