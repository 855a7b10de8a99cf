"""Ctrl-C during training: KeyboardInterrupt within 2 s at a minibatch boundary, the process and the network
still usable; the CLI exits 130 with its last checkpoint loadable. Real SIGINTs sent to child processes (a
background job of a non-interactive shell ignores SIGINT, so the children are started from Python)."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bridge

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys, time, numpy as np, bridge
from bridge import callbacks, nets
x, y, xt, yt = bridge.data.load("mnist")
net = nets.lenet(seed=1)

class Announce(callbacks.Callback):
    def on_batch_end(self, batch, logs=None):
        print("TRAINING", flush=True)

before = net.java.getIterationCount()
try:
    bridge.fit(net, x, y, epochs=100, verbose=0, callbacks=[Announce()])
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", time.monotonic(), flush=True)
steps = net.java.getIterationCount()
p = bridge.predict(net, xt[:100])
print("PREDICTED", p.shape[0], bool(np.isfinite(p).all()), steps > before, flush=True)
"""


def _read_line(proc, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return proc.stdout.readline()


def _wait_for(proc, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = _read_line(proc, max(0.1, deadline - time.monotonic()))
        if line.startswith(prefix):
            return line
        assert line, f"the child ended before printing {prefix!r}; rc={proc.poll()}"
    raise AssertionError(f"no {prefix!r} line within {timeout} s")


@pytest.mark.slow
def test_ctrl_c_in_fit_raises_keyboard_interrupt_quickly_and_the_network_still_predicts():
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        _wait_for(proc, "TRAINING", 120)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = _wait_for(proc, "INTERRUPTED", 60)
        assert float(line.split()[1]) - sent < 2.0, "KeyboardInterrupt came more than 2 s after SIGINT"
        predicted = _wait_for(proc, "PREDICTED", 60).split()
        assert predicted[1:] == ["100", "True", "True"], predicted
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()


def _interrupt_cli_train(tmp_path, interrupts: int) -> tuple[int, str, float, Path]:
    """`dl4j-bridge train` for 200 epochs, `interrupts` SIGINTs 50 ms apart once its first checkpoint is written:
    (exit code, stderr, seconds from the first SIGINT to the exit, the checkpoint)."""
    out = tmp_path / "run"
    cmd = [
        str(Path(sys.executable).with_name("dl4j-bridge")),
        "train",
        "--model",
        "mlp",
        "--data",
        "mnist",
        "--epochs",
        "200",
        "--out",
        str(out),
        "--no-progress",
    ]
    # Output to files, not pipes: nothing reads a pipe while the run trains, and a full one would block the CLI.
    stdout, stderr = (open(tmp_path / name, "w") for name in ("stdout.txt", "stderr.txt"))
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, cwd=ROOT)
    read_stderr = lambda: (tmp_path / "stderr.txt").read_text()[-3000:]  # noqa: E731
    try:
        checkpoint = out / "checkpoint.zip"
        deadline = time.monotonic() + 300
        while not checkpoint.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (
                "no checkpoint",
                proc.poll(),
                read_stderr(),
            )
            time.sleep(0.2)
        time.sleep(1.0)  # into a later epoch: the interrupt must leave the checkpoint of a completed epoch intact
        start = time.monotonic()
        for i in range(interrupts):
            time.sleep(0.05 if i else 0)
            proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(90)  # generous: the CLI's own watchdogs exit 30-35 s after Ctrl-C at the latest
        except subprocess.TimeoutExpired:
            pytest.fail(f"dl4j-bridge train still running 90 s after Ctrl-C; its stderr ends: {read_stderr()}")
        return rc, (tmp_path / "stderr.txt").read_text(), time.monotonic() - start, checkpoint
    finally:
        proc.kill()
        stdout.close()
        stderr.close()


def _assert_loadable(checkpoint: Path, mnist) -> None:
    net = bridge.load(checkpoint)
    assert net.training_state["epoch"] >= 1 and net.java.getEpochCount() == net.training_state["epoch"]
    accuracy = bridge.evaluate(net, mnist[2], mnist[3]).accuracy
    assert accuracy > 0.8, accuracy


@pytest.mark.slow
def test_ctrl_c_in_cli_train_exits_130_with_the_last_checkpoint_loadable(tmp_path, mnist):
    rc, stderr, _, checkpoint = _interrupt_cli_train(tmp_path, 1)
    assert rc == 130 and "interrupted" in stderr, (rc, stderr[-3000:])
    _assert_loadable(checkpoint, mnist)


@pytest.mark.slow
def test_a_second_ctrl_c_in_cli_train_exits_at_once(tmp_path, mnist):
    """Two Ctrl-Cs: the CLI exits 130 without waiting for a safe point when the second lands before it is done,
    printing every thread's stack (what a user who presses Ctrl-C twice at a stuck run wants to see)."""
    rc, stderr, seconds, checkpoint = _interrupt_cli_train(tmp_path, 2)
    assert rc == 130 and "interrupted" in stderr, (rc, stderr[-3000:])
    assert seconds < 20, seconds
    if "interrupted twice" in stderr:  # the second SIGINT came before the first had ended the run
        assert "Thread" in stderr and "most recent call first" in stderr, stderr[-3000:]
    _assert_loadable(checkpoint, mnist)
