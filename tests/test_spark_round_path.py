"""The bridge's parameter-averaging round (SparkOptions.fast_rounds, ai.dl4jbridge.spark.AveragingRounds) against
DL4J's own (ParameterAveragingTrainingMaster's), on real Spark local[2]: the same parameters and updater state
where DL4J's round is right, and the graph workers' iteration counter where it is not."""

import numpy as np
import pytest

import bridge
from bridge import nets, schedules, spark
from bridge.jvm import jclass

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # Spark fits: seconds each

N = 512  # 16 minibatches of 16 per worker and epoch
SERIALIZED = "fast, serialized"
HANDOFF = "dl4jbridge.spark.localHandoff"
PATHS = {
    "dl4j": {"fast_rounds": False},
    "fast, new network each round": {"fast_rounds": True, "keep_worker_networks": False},
    "fast, kept networks": {"fast_rounds": True, "keep_worker_networks": True},
    SERIALIZED: {"fast_rounds": True},  # broadcast and task results, as on a cluster: no local[N] handoff
}


@pytest.fixture(scope="module")
def session():
    with spark.session("local[2]") as running:
        yield running


def _iterations(net):
    return int(jclass("ai.dl4jbridge.train.Networks").iterationCount(nets.as_java(net)))


def _state(net):
    java = nets.as_java(net)
    return bridge.to_numpy(java.params()).ravel(), bridge.to_numpy(java.getUpdater().getStateViewArray()).ravel()


def _fit(net, x, y, session, epochs=2, frequency=3, **options):
    return bridge.fit(
        net,
        x,
        y,
        epochs=epochs,
        batch_size=16,
        seed=5,
        progress=False,
        spark=session,
        averaging_frequency=frequency,
        **options,
    )


def _graph(updater):
    return nets.graph(
        inputs={"x": 784},
        nodes={"hidden": (nets.Dense(32), "x"), "out": (nets.Output(10), "hidden")},
        outputs="out",
        updater=updater,
        seed=5,
    )


def _trained(make, mnist, session):
    x, y, _, _ = mnist
    results = {}
    system = jclass("java.lang.System")
    for name, options in PATHS.items():
        net = make()
        if name == SERIALIZED:
            system.setProperty(HANDOFF, "false")
        try:
            history = _fit(net, x[:N], y[:N], session, **options)
        finally:
            system.clearProperty(HANDOFF)
        results[name] = (_state(net), [h.loss for h in history], _iterations(net))
    return results


def _assert_same(results):
    (params, updater), losses, iterations = results["dl4j"]
    for name in list(PATHS)[1:]:
        (p, u), loss, its = results[name]
        assert np.abs(p - params).max() <= 1e-5, name
        assert np.abs(u - updater).max() <= 1e-5, name
        assert loss == pytest.approx(losses, abs=1e-5) and its == iterations, name


def test_multilayer_network_trains_as_in_dl4js_round(mnist, session):
    """Adam's step reads the iteration counter, which DL4J's workers get with the configuration: every path must
    give the same parameters, Adam moments, losses and counters (6 rounds an epoch, the last two of 2 minibatches)."""
    results = _trained(lambda: nets.mlp(seed=5), mnist, session)
    _assert_same(results)
    assert np.abs(results["dl4j"][0][1]).sum() > 0  # the moments came back


def test_graph_with_an_iteration_free_updater_trains_as_in_dl4js_round(mnist, session):
    """Nesterov momentum (updater state, no use of the iteration counter): graphs average the same either way."""
    _assert_same(_trained(lambda: _graph(nets.Nesterovs(0.01)), mnist, session))


def test_graph_workers_continue_the_drivers_iteration_counter(mnist, session):
    """DL4J's graph workers clone the configuration with ComputationGraphConfiguration.clone(), which drops the
    iteration and epoch counters: every round then trains at iteration 0 (Adam's bias correction restarts, and
    iteration schedules never advance). The bridge's round gives them the driver's. A learning rate of 0 from
    iteration 16 on (one epoch: 4 rounds of 4 minibatches per worker) must then freeze the second epoch."""
    x, y, _, _ = mnist
    frozen = schedules.Piecewise({0: 1e-3, N // 32: 0.0}, unit="iteration")
    moved = {}
    for name, options in (("dl4j", PATHS["dl4j"]), ("fast", PATHS["fast, kept networks"])):
        net = _graph(nets.Adam(frozen))
        _fit(net, x[:N], y[:N], session, epochs=1, frequency=4, **options)
        after_one = _state(net)[0]
        assert _iterations(net) == N // 32
        _fit(net, x[:N], y[:N], session, epochs=1, frequency=4, **options)
        moved[name] = np.abs(_state(net)[0] - after_one).max()
    # ND4J's Adam takes epsilon (1e-8) for a step size of 0: a parameter moves by an ulp at most
    assert moved["fast"] < 1e-5
    assert moved["dl4j"] > 1e-3  # DL4J's own round trains on at iterations 0-3 (epoch 1 moved them by ~1e-2)


def test_kept_networks_and_handed_off_rounds_are_released_when_the_fit_ends(mnist, session):
    x, y, _, _ = mnist
    net = nets.mlp(seed=5)
    _fit(net, x[:N], y[:N], session, epochs=1)
    trainer = jclass("ai.dl4jbridge.spark.SparkTrainer")
    assert trainer.keptWorkerNetworks() == 0 and trainer.localHandoffEntries() == 0
    timings = session.last_timings  # the workers' side of the bridge's rounds, under DL4J's stat names
    assert timings["ParameterAveragingWorkerFitTimesMs"]["events"] == N // 16
    assert timings["WorkerFlatMapTotalTimeMs"]["events"] == 2 * 6  # 2 workers, 6 rounds of at most 3
