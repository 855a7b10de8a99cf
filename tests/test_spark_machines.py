"""Several machines: a standalone master, two workers and the driver, each in its own Linux network namespace with
its own address (10.213.0.x on a private bridge), its own folders and no shared /tmp (bridge.spark.namespaces);
the driver is bridge in a process of its own (tests/spark_machine_driver.py, started with `ip netns exec`).
Training starts on both workers (the driver ships the project's jars to them); then, in the middle of an averaging
round, a worker is killed with its executor, or its cable is cut. Training then completes on the other worker or
fails with SparkError within a stated bound; the last checkpoint is intact. And a Spark DataFrame built in the
driver trains on both workers to within 2 accuracy points of local training on the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge import nets
from bridge.spark.namespaces import PORTS, MachineCluster, Network, namespaces_missing

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # namespaces with fixed ports, a standalone cluster per test

DRIVER = Path(__file__).parent / "spark_machine_driver.py"
MACHINES = ["master", "worker-0", "worker-1", "driver"]
NETWORK_TIMEOUT_S = 20  # spark.network.timeout of the driver: how long a silent executor keeps its tasks
# A fault must be resolved (training done, or SparkError) within this long after it happens: Spark's detection
# (at once for a dead process, NETWORK_TIMEOUT_S for a cut cable) plus the rest of the training on one worker.
BOUND_S = {"kill": 150, "cut": 150 + NETWORK_TIMEOUT_S}
EPOCHS = 3


@pytest.fixture(scope="module")
def network():
    reason = namespaces_missing()
    if reason:
        pytest.skip(f"several machines need network namespaces: {reason}")
    with Network(MACHINES) as net:
        yield net
    assert net.existing() == [], "network namespaces left behind"


@pytest.fixture
def cluster(network):
    with MachineCluster(network, workers=2) as running:
        yield running
    for machine in MACHINES:
        network.restore(machine)
        assert network.pids(machine) == [], f"processes left in {machine}'s namespace"


def _driver(network, cluster, out: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, str(DRIVER), cluster.master_url, str(out), "--network-timeout", f"{NETWORK_TIMEOUT_S}s"]
    log = open(out.with_suffix(".log"), "w")
    env = cluster.machine_environment("driver")
    return subprocess.Popen(network.command("driver", [*command, *args]), env=env, stdout=log, stderr=log)


def _finish(process: subprocess.Popen, timeout: float, out: Path) -> dict:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the driver hung for {timeout:.0f} s:\n{out.with_suffix('.log').read_text()[-3000:]}")
    assert out.exists(), f"the driver wrote no result:\n{out.with_suffix('.log').read_text()[-3000:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("fault", ["kill", "cut"])
def test_a_worker_lost_mid_round(network, cluster, fault):
    """Epoch 2 is under way (25 averaging rounds an epoch) when worker-1 dies (its process and executor, SIGKILL)
    or its cable is cut (eth0 down in its namespace). Spark re-runs the lost tasks on worker-0 and training ends,
    or the run fails with SparkError; either way within BOUND_S, and the checkpoints on the driver's disk hold the
    last finished epoch, loadable."""
    home = cluster.home("driver")
    out, progress, checkpoints = home / f"{fault}.json", home / f"{fault}.progress", home / f"ckpt-{fault}"
    checkpoints.mkdir()
    driver = _driver(
        network, cluster, out, "--epochs", str(EPOCHS), "--checkpoints", str(checkpoints), "--progress", str(progress)
    )
    deadline = time.monotonic() + 300
    while not (progress.exists() and progress.read_text().strip()) and time.monotonic() < deadline:
        assert driver.poll() is None, out.with_suffix(".log").read_text()[-3000:]
        time.sleep(0.2)
    assert progress.exists(), "epoch 1 did not finish within 300 s"
    _check_machines(network, cluster, progress.read_text().split()[2].split(","))
    time.sleep(1.0)  # well into epoch 2's rounds (each ~0.5 s)
    struck = time.monotonic()
    cluster.kill_worker(1) if fault == "kill" else network.cut("worker-1")
    result = _finish(driver, BOUND_S[fault], out)
    resolved = time.monotonic() - struck
    print(
        f"{fault}: resolved {resolved:.0f} s after the fault:",
        {k: v for k, v in result.items() if k not in ("timings", "confusion")},
    )

    saved = sorted(checkpoints.iterdir())
    assert all(p.suffix == ".zip" for p in saved), saved  # no partial files
    if "error" in result:
        assert result["error"].startswith("SparkError"), result["error"]
        assert len(saved) >= 1
    else:
        assert [e["epoch"] for e in result["epochs"]] == list(range(1, EPOCHS + 1))
        assert len(saved) == EPOCHS and result["accuracy"] > 0.8
    last = max(saved, key=lambda p: int(p.stem.split("-")[1]))
    restored = bridge.load(last)
    x, y = bridge.data.load("mnist")[2:]
    assert bridge.evaluate(restored, x, y).accuracy > 0.7


def _check_machines(network, cluster, block_managers: list[str]) -> None:
    """One executor on each worker machine at the fixed block-manager port, the driver at its own address, and the
    project's jars on each worker sent by the driver (spark.jars), not found in the worker's Spark installation."""
    workers = {network.address(f"worker-{i}") for i in range(2)}
    assert {a.rsplit(":", 1)[0] for a in block_managers} == workers | {network.address("driver")}, block_managers
    assert all(a.endswith(f":{PORTS['block_manager']}") for a in block_managers), block_managers
    for index in range(2):
        machine = cluster.home(f"worker-{index}")
        assert list(machine.glob("work/app-*/*/dl4j-bridge-train-*.jar")), f"worker-{index} got no jars from Spark"
        assert not list((machine / "spark" / "jars").glob("*dl4j-bridge*"))


def test_dataframe_training_on_the_machines_lands_within_2_points_of_local_fit(network, cluster, mnist):
    """The 4,000 MNIST training digits as a Spark DataFrame built in the driver's namespace (bridge.spark.dataframe:
    no file system is shared, so the rows travel in the tasks to the workers, which shuffle them between themselves
    into round-sized partitions), trained on both workers; evaluated on them from a test DataFrame. Local bridge.fit
    in this process trains the same network on the same arrays with the same seed, epochs and batch size."""
    home = cluster.home("driver")
    out = home / "frame.json"
    epochs, batch_size = 2, 16
    driver = _driver(network, cluster, out, "--dataframe", "--epochs", str(epochs), "--batch-size", str(batch_size))
    result = _finish(driver, 600, out)
    assert "error" not in result, result["error"]
    x, y, xt, yt = mnist
    local = nets.mlp(seed=5)
    bridge.fit(local, x, y, epochs=epochs, batch_size=batch_size, seed=5, verbose=0)
    local_accuracy = bridge.evaluate(local, xt, yt).accuracy
    accuracy = result["accuracy"]
    print(f"DataFrame on the namespaced cluster: {accuracy:.4f}, local fit: {local_accuracy:.4f}")
    assert local_accuracy > 0.85 and accuracy >= local_accuracy - 0.02
    assert [e["epoch"] for e in result["epochs"]] == list(range(1, epochs + 1))
    assert result["epochs"][1]["loss"] < result["epochs"][0]["loss"]
    # Executors on both worker machines took part, and their evaluation of the test DataFrame counts exactly what
    # the driver's local evaluation of the trained network counts.
    workers = {network.address(f"worker-{i}") for i in range(2)}
    assert workers <= {a.rsplit(":", 1)[0] for a in result["block_managers"]}, result["block_managers"]
    np.testing.assert_array_equal(result["executor_confusion"], result["confusion"])
    assert result["executor_accuracy"] == pytest.approx(accuracy, abs=1e-9)
