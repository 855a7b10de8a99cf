"""DL4J's training UI, watched from a real headless Chromium while a network trains; replayed from its file.

The screenshot is kept as a test artifact: tests/artifacts/ui-training.png (git-ignored)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import bridge
import bridge.ui
from bridge import nets
from bridge.errors import DataError

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = [pytest.mark.slow, pytest.mark.serial]  # a UI JVM, Spark workers, Chromium


def _overview(url: str) -> dict:
    base = url.split("/train")[0]
    return json.loads(urllib.request.urlopen(base + "/train/overview/data", timeout=30).read())


def _screenshot(url: str, path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed: `make system` installs Debian's chromium"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--virtual-time-budget=6000",
            f"--screenshot={path}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert path.is_file(), result.stderr[-2000:]


def _score_line_pixels(path: Path) -> int:
    """Pixels of the score series' red-orange line in the score chart (the overview's top-left panel)."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    height, width, _ = rgb.shape
    panel = rgb[int(0.08 * height) : int(0.40 * height), int(0.14 * width) : int(0.70 * width)]
    r, g, b = panel[..., 0], panel[..., 1], panel[..., 2]
    return int(((r > 200) & (g < 130) & (b < 110)).sum())


def test_the_training_ui_shows_the_score_chart_during_training_and_replays_it(mnist, tmp_path):
    x, y = mnist[0], mnist[1]
    net = nets.mlp(seed=7)
    stats = tmp_path / "ui-stats.bin"
    errors, state = [], {}
    with bridge.ui.training_ui(net, port=0, stats_file=stats) as ui:
        assert [str(c.getClass().getSimpleName()) for c in net.java.getListeners()] == ["StatsListener"]

        shot_taken = threading.Event()

        class UntilShot(bridge.callbacks.Callback):
            """Train until the screenshot is taken, then two more epochs (more iterations than the UI's report
            interval of 20, so the chart gains a point after the shot), however fast the machine is."""

            epochs_after_shot = 0

            def on_epoch_end(self, epoch, logs=None):
                if shot_taken.is_set():
                    self.epochs_after_shot += 1
                    if self.epochs_after_shot >= 2:
                        self.model.stop_training = True

        def train():
            try:
                bridge.fit(net, x, y, epochs=200, batch_size=64, progress=False, callbacks=[UntilShot()])
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)

        worker = threading.Thread(target=train)
        worker.start()
        deadline = time.monotonic() + 300
        while worker.is_alive() and len(_overview(ui.url).get("scores", [])) < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
        shot = ARTIFACTS / "ui-training.png"
        _screenshot(ui.url, shot)
        state["training while shot"] = worker.is_alive()
        state["scores at shot"] = len(_overview(ui.url)["scores"])
        shot_taken.set()
        print(f"training UI screenshot: {shot}")
        worker.join(600)
        assert not worker.is_alive(), "training did not stop after the screenshot"
        ui.flush()  # what training queued has reached the UI server
        final = len(_overview(ui.url)["scores"])
    assert errors == []
    assert state["training while shot"], "training ended before the screenshot: make the run longer"
    assert state["scores at shot"] >= 20 and final > state["scores at shot"]
    assert _score_line_pixels(shot) > 300, f"no score line drawn in {shot}"
    assert list(net.java.getListeners() or []) == []  # the listener was for the run only

    server = bridge.ui.replay(stats, port=0, block=False)
    try:
        assert len(_overview(server.url)["scores"]) == final
    finally:
        server.stop()


def test_replaying_a_missing_stats_file_says_so(tmp_path):
    with pytest.raises(DataError, match="No stats file"):
        bridge.ui.replay(tmp_path / "nope.bin", block=False)


def test_ui_options_are_checked(mnist):
    net = nets.sequential([nets.Dense(4), nets.Output(10)], 784)
    with pytest.raises(DataError, match="`ui`"):
        bridge.fit(net, mnist[0][:10], mnist[1][:10], ui={"colour": "red"}, progress=False)
    with pytest.raises(DataError, match="port"):
        bridge.fit(net, mnist[0][:10], mnist[1][:10], ui={"port": 70000}, progress=False)
    for frequency in (0, 2.5, "10"):
        with pytest.raises(DataError, match="`frequency`"):
            bridge.fit(net, mnist[0][:10], mnist[1][:10], ui={"frequency": frequency}, progress=False)
    with pytest.raises(DataError, match="ui_frequency"):
        bridge.fit(net, mnist[0][:10], mnist[1][:10], spark="local[1]", ui_frequency=0, progress=False)


def test_spark_workers_post_their_stats_to_the_ui(mnist, tmp_path):
    """On Spark every worker's StatsListener posts through DL4J's remote router: the stats file that the UI
    server kept holds the workers' scores, as the replay shows."""
    net = nets.sequential([nets.Dense(16), nets.Output(10)], 784, seed=3)
    stats = tmp_path / "spark-stats.bin"
    history = bridge.fit(
        net,
        mnist[0][:640],
        mnist[1][:640],
        epochs=1,
        spark="local[2]",
        batch_size_per_worker=32,
        averaging_frequency=2,
        ui={"port": 0, "stats_file": str(stats)},
        progress=False,
    )
    assert len(history) == 1 and stats.is_file() and stats.stat().st_size > 0
    server = bridge.ui.replay(stats, port=0, block=False)
    try:
        scores = _overview(server.url).get("scores", [])
        assert len(scores) >= 5, scores  # 640 rows / 32 per minibatch = 20 minibatches over the workers
        assert all(np.isfinite(float(v)) for v in scores)
    finally:
        server.stop()


def _config_of(listener) -> dict:
    config = listener.getUpdateConfig()
    types = bridge.jvm.jclass("org.deeplearning4j.ui.model.stats.api.StatsType")
    kinds = ("Parameters", "Gradients", "Updates", "Activations")
    return {
        "frequency": int(config.reportingFrequency()),
        "histograms": {k: bool(config.collectHistograms(getattr(types, k))) for k in kinds},
        "means": {k: bool(config.collectMean(getattr(types, k))) for k in kinds},
        "magnitudes": {k: bool(config.collectMeanMagnitudes(getattr(types, k))) for k in kinds},
    }


def test_the_ui_listener_uses_the_measured_defaults_and_training_does_not_wait_for_the_server(mnist, tmp_path):
    """fit(ui=True)'s StatsListener reports every DEFAULT_FREQUENCY iterations without histograms or activation
    statistics (BENCHMARKS.md, "ui"), keeping the means and mean magnitudes behind the UI's overview charts; the listener is on the network before
    the UI's JVM serves, and what it routed meanwhile reaches the server (the replay shows every report)."""
    from bridge.train.ui import DEFAULT_FREQUENCY, DEFAULT_HISTOGRAMS

    assert (DEFAULT_FREQUENCY, DEFAULT_HISTOGRAMS) == (20, False)
    net = nets.sequential([nets.Dense(8), nets.Output(10)], 784, seed=5)
    stats = tmp_path / "ui-stats.bin"
    with bridge.ui.training_ui(net, port=0, stats_file=stats) as ui:
        assert ui.server.url is None  # not serving yet: entering the block did not wait for the JVM
        (listener,) = list(net.java.getListeners())
        config = _config_of(listener)
        bridge.fit(net, mnist[0][:640], mnist[1][:640], epochs=2, batch_size=32, progress=False)  # 40 iterations
        ui.flush()
        live = len(_overview(ui.url)["scores"])
    everything = dict.fromkeys(("Parameters", "Gradients", "Updates", "Activations"), True)
    assert config == {
        "frequency": 20,
        "histograms": dict.fromkeys(everything, False),
        "means": {**everything, "Activations": False},
        "magnitudes": {**everything, "Activations": False},
    }
    server = bridge.ui.replay(stats, port=0, block=False)
    try:
        assert live > 0 and len(_overview(server.url)["scores"]) == live
    finally:
        server.stop()

    with bridge.ui.training_ui(
        nets.sequential([nets.Dense(4), nets.Output(10)], 784),
        port=0,
        stats_file=tmp_path / "options.bin",  # not ./ui-stats.bin in the checkout
        frequency=3,
        histograms=True,
    ) as ui:
        options = _config_of(ui.listener)
    assert options["frequency"] == 3 and all(options["histograms"].values())
    with pytest.raises(DataError, match="`histograms`"):
        bridge.fit(net, mnist[0][:10], mnist[1][:10], ui={"histograms": "yes"}, progress=False)
