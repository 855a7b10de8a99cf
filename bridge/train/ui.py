"""DL4J's training UI for a run: `bridge.fit(net, x, y, ui=True)`, `dl4j-bridge train --ui`, `dl4j-bridge ui FILE`.

    with bridge.ui.training_ui(net, port=9000) as ui:      # DL4J's UIServer, its StatsListener on `net`
        print(ui.url)                                     # http://localhost:9000/train/overview
        bridge.fit(net, x, y, epochs=5)
    bridge.ui.replay(ui.stats_file)                        # the same charts later, from the file

DL4J's UI server (Vert.x) runs in a JVM of its own (java/ui): beside Spark's Netty in the training JVM its
pages fail (a NullPointerException inside Vert.x's HTTP decoding, seen with DL4J 1.0.0-M2.1 and Spark 3.5). The training JVM adds DL4J's StatsListener to the network for the run, posting through
RemoteUIStatsStorageRouter; the UI server stores what it receives in a FileStatsStorage (stats_file) and
shows it: score, update/parameter ratios, activations, per-layer charts. On Spark, each worker's StatsListener
posts through the same router (DL4J's SparkListenable.setListeners; SparkOptions.ui_url).

Cost (BENCHMARKS.md, "ui"): a StatsListener report reduces every parameter, gradient and update array (means,
standard deviations, mean magnitudes) and, with histograms, bins them all; DL4J's defaults (a report every
iteration, histograms on) made a LeNet epoch about 4x slower. The defaults here, chosen by measurement, are a
report every DEFAULT_FREQUENCY iterations without histograms or activation statistics; `histograms=True`
restores them. The UI's JVM starts
on a thread of its own: training starts at once, its first reports wait in a buffer until the server serves.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

from jpype import JImplements, JOverride

from ..errors import DataError, SetupError, java_boundary
from ..jvm import JavaProcess, free_port, java_command, jclass, ui_classpath
from ..model.kinds import as_java
from ..spark.session import SparkOptions

__all__ = ["training_ui", "replay", "TrainingUI", "ui_classpath", "DEFAULT_PORT"]

DEFAULT_PORT = 9000
DEFAULT_FREQUENCY = 20  # a report every 20 iterations: LeNet 1.01x (every 10: 1.06-1.11x; DL4J's 1: ~3x)
DEFAULT_HISTOGRAMS = False  # True: histograms and activation statistics too (DL4J's full statistics, ~3x slower)
START_TIMEOUT = 180.0
FLUSH_TIMEOUT = 30.0


def _free_port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise DataError(f"Received an invalid value for `port`, expected a TCP port 0..65535. Received: port={port!r}")
    return port or free_port()


class UIServer:
    """The UI server process (a bridge.jvm.JavaProcess): started with start(), stopped with stop(). Its stdin is a
    pipe that UiServerMain watches: the server also ends when the Python process that started it does."""

    def __init__(self, stats_file, port: int = DEFAULT_PORT, replay: bool = False):
        self.stats_file = Path(stats_file).resolve()
        self.port = _free_port(port)
        if replay and not self.stats_file.is_file():
            raise DataError(f"No stats file at {self.stats_file}: `dl4j-bridge train --ui` writes OUT/ui-stats.bin.")
        if not replay:
            self.stats_file.parent.mkdir(parents=True, exist_ok=True)
        self.command = java_command(
            "ai.dl4jbridge.ui.UiServerMain",
            classpath=ui_classpath(),
            jvm_flags=["-Xmx1g"],
            args=["--port", str(self.port), "--stats", str(self.stats_file), *(["--replay"] if replay else [])],
        )
        self.url: str | None = None
        self.java: JavaProcess | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    @property
    def address(self) -> str:
        """The URL the server will serve (its port is chosen before it starts)."""
        return f"http://localhost:{self.port}/train/overview"

    @property
    def process(self) -> subprocess.Popen | None:
        return None if self.java is None else self.java.process

    @property
    def log(self) -> list[str]:
        """The server's last lines of output."""
        return [] if self.java is None else [line.rstrip() for line in self.java.output]

    def start(self) -> UIServer:
        self.java = JavaProcess(
            self.command,
            name=f"DL4J's training UI (port {self.port})",
            ready_line=r"^listening on (\S+)",
            start_timeout=START_TIMEOUT,
            stdin=True,  # UiServerMain exits when its stdin closes
            error=SetupError,
        ).start()
        self.url = self.java.match.group(1)
        return self

    def start_in_background(self, on_ready=None) -> UIServer:
        """start() on a thread of its own, then on_ready(): the JVM boots (seconds) while the caller goes on;
        ready() waits for it."""

        def start():
            try:
                self.start()
                if on_ready is not None:
                    on_ready()
            except BaseException as exc:  # raised by ready(), on the caller's thread
                self._start_error = exc

        self._starting = threading.Thread(target=start, name=f"ui-server-start-{self.port}", daemon=True)
        self._starting.start()
        return self

    def ready(self) -> str:
        """Wait until the server serves (started in the background or not); its URL. SetupError if it failed."""
        if self._starting is not None:
            self._starting.join()
        if self._start_error is not None:
            raise self._start_error
        if self.url is None:
            raise SetupError(f"DL4J's training UI (port {self.port}) was not started")
        return self.url

    def stop(self, timeout: float = 20.0) -> None:
        if self._starting is not None:
            self._starting.join()  # a JVM still booting is stopped once it is up, not left behind
        if self.java is not None:
            self.java.stop(grace=timeout)


class TrainingUI:
    """Context manager: a UI server for the run, and DL4J's StatsListener on the network while it lasts. The
    server starts in the background; the listener's reports wait in a DeferredRouter until it serves."""

    def __init__(
        self,
        net,
        port: int = DEFAULT_PORT,
        stats_file=None,
        frequency: int = DEFAULT_FREQUENCY,
        histograms: bool = DEFAULT_HISTOGRAMS,
    ):
        self.java = as_java(net)
        self.frequency = _frequency(frequency)
        self.histograms = _histograms(histograms)
        self.server = UIServer(stats_file or Path.cwd() / "ui-stats.bin", port)
        self.router = self.deferred = self.listener = None
        self._before = []
        self._connecting = threading.Lock()

    @property
    def address(self) -> str:
        """The UI's URL, known before the server serves (for printing at the start)."""
        return self.server.address

    @property
    def url(self) -> str:
        """The UI's URL once the server serves: waits for its start (SetupError if it failed)."""
        return self.server.ready()

    @property
    def stats_file(self) -> Path:
        return self.server.stats_file

    def __enter__(self) -> TrainingUI:
        self.deferred = DeferredRouter()
        self.server.start_in_background(on_ready=self._connect)
        self.listener = stats_listener(self.deferred, self.frequency, self.histograms)
        self._before = list(self.java.getListeners() or [])
        self.java.addListeners(self.listener)
        return self

    def __exit__(self, *exc) -> bool:
        try:
            self.java.setListeners(jclass("java.util.ArrayList")(self._before))
            self._connect()  # SetupError here if the server never started
            self.flush()
        finally:
            with contextlib.suppress(Exception):
                self.router.shutdown()
            self.server.stop()
        return False

    def _connect(self) -> None:
        """Once the server serves: DL4J's remote router behind the deferred one (what waited is posted first)."""
        base = self.server.url or self.server.ready()  # outside the lock: the start thread connects on its way out
        with self._connecting:  # from the start thread once the server serves, or from flush/exit
            if self.router is None:
                router = jclass("org.deeplearning4j.core.storage.impl.RemoteUIStatsStorageRouter")(
                    base.split("/train")[0]
                )
                self.deferred.connect(router)
                self.router = router

    def flush(self) -> None:
        """Wait until the router has posted what training queued (it posts from its own thread)."""
        self._connect()
        field = self.router.getClass().getDeclaredField("queue")
        field.setAccessible(True)
        queue = field.get(self.router)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while queue is not None and queue.size() > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        _wait_until_stable(self.stats_file, quiet=1.0)  # the last POST in flight (slow on a server just started)


def stats_update_configuration(frequency: int = DEFAULT_FREQUENCY, histograms: bool = DEFAULT_HISTOGRAMS):
    """DL4J's DefaultStatsUpdateConfiguration: a report every `frequency` iterations with the score, learning
    rates, memory, performance and the per-layer means, standard deviations and mean magnitudes (the UI's
    update:parameter ratio chart) of parameters, gradients and updates. With `histograms`, DL4J's full statistics:
    histograms of parameters, gradients, updates and activations, and the activations' statistics and the
    gradients' standard deviations (see below), left out by default: they were the UI's cost per epoch."""
    builder = jclass("org.deeplearning4j.ui.model.stats.impl.DefaultStatsUpdateConfiguration$Builder")()
    builder.reportingFrequency(_frequency(frequency))
    for kind in ("Parameters", "Gradients", "Updates", "Activations"):
        getattr(builder, f"collectHistograms{kind}")(_histograms(histograms))
    # DL4J 1.0.0-M2.1's collectHistograms(Gradients) answers collectStdevGradients: without histograms the
    # gradients' standard deviations go too, or their histograms stay on
    builder.collectStdevGradients(histograms)
    for kind in ("Mean", "Stdev", "MeanMagnitudes"):  # measured: ~10% of LeNet's epoch (layer outputs kept)
        getattr(builder, f"collect{kind}Activations")(histograms)
    return builder.build()


def stats_listener(router, frequency: int = DEFAULT_FREQUENCY, histograms: bool = DEFAULT_HISTOGRAMS):
    """DL4J's StatsListener posting to `router`, configured by stats_update_configuration."""
    init = jclass("org.deeplearning4j.ui.model.stats.impl.DefaultStatsInitializationConfiguration")(True, True, True)
    config = stats_update_configuration(frequency, histograms)
    return jclass("org.deeplearning4j.ui.model.stats.StatsListener")(router, init, config, None, None)


@JImplements("org.deeplearning4j.core.storage.StatsStorageRouter", deferred=True)
class DeferredRouter:
    """A StatsStorageRouter that keeps what the listener routes until connect(router), then passes all on: the
    training starts while the UI's JVM boots. Each call only queues (the remote router posts from its own thread)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, object]] = []
        self._target = None

    def _route(self, method: str, value) -> None:
        with self._lock:
            if self._target is None:
                self._waiting.append((method, value))
                return
        getattr(self._target, method)(value)

    def connect(self, router) -> None:
        with self._lock:
            for method, value in self._waiting:
                getattr(router, method)(value)
            self._waiting.clear()
            self._target = router

    @JOverride
    def putStorageMetaData(self, value):
        self._route("putStorageMetaData", value)

    @JOverride
    def putStaticInfo(self, value):
        self._route("putStaticInfo", value)

    @JOverride
    def putUpdate(self, value):
        self._route("putUpdate", value)


def _histograms(value) -> bool:
    if not isinstance(value, bool):
        raise DataError(
            f"Received an invalid value for `histograms`, expected True or False (DL4J's histograms of every "
            f"parameter, gradient, update and activation array in each report). Received: histograms={value!r}"
        )
    return value


def _frequency(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(
            f"Received an invalid value for `frequency`, expected a positive int (a stats report every that many "
            f"iterations). Received: frequency={value!r}"
        )
    return value


@java_boundary("training_ui")
def training_ui(
    net,
    port: int = DEFAULT_PORT,
    stats_file=None,
    frequency: int = DEFAULT_FREQUENCY,
    histograms: bool = DEFAULT_HISTOGRAMS,
) -> TrainingUI:
    """DL4J's training UI for the block's training of `net` (see the module docstring).

    port: the UI's TCP port (default 9000; 0 picks a free one). `.address` is its URL at once, `.url` the same
    once the server serves (it starts in the background: training does not wait for it). stats_file: where the UI
    server keeps what it receives (default ./ui-stats.bin; `replay(file)` or `dl4j-bridge ui FILE` shows it again).
    frequency: DL4J's StatsListener reports every `frequency` iterations (default 20; 1 charts every minibatch at
    a cost per report). histograms: DL4J's full statistics in each report, histograms of parameters, gradients,
    updates and activations and the activations' means and deviations (default False: they were the UI's cost; the
    overview's score, ratio and parameter/update charts stay; the model page's histograms and activations do not).
    """
    return TrainingUI(net, port, stats_file, frequency, histograms)


def fit_with_ui(fit, ui, spark, net, x, y, **kwargs):
    """bridge.fit(..., ui=True | {options}): the same fit inside training_ui(net, **options); on Spark, every
    worker's StatsListener posts to the UI server through DL4J's remote stats router (SparkOptions.ui_url). On Spark
    the workers' listeners (built in Java) keep DL4J's statistics, histograms included, and report every
    iteration unless `frequency` says otherwise (few iterations per worker between averaging rounds)."""
    options = {} if ui is True else dict(ui) if isinstance(ui, dict) else None
    if options is not None and "histograms" in options:
        _histograms(options["histograms"])
    if options is None or not set(options) <= {"port", "stats_file", "frequency", "histograms"}:
        raise DataError(
            f"Received an invalid value for `ui`, expected True or a dict with port, stats_file, "
            f"frequency, histograms. Received: ui={ui!r}"
        )
    if spark is not None:
        return _fit_spark_with_ui(fit, options, spark, net, x, y, kwargs)
    with training_ui(net, **options) as session:
        print(f"DL4J training UI: {session.address} (stats: {session.stats_file})", file=sys.stderr, flush=True)
        return fit(net, x, y, **kwargs)


def _fit_spark_with_ui(fit, options: dict, spark, net, x, y, kwargs: dict):
    import dataclasses

    server = UIServer(options.get("stats_file") or Path.cwd() / "ui-stats.bin", options.get("port", DEFAULT_PORT))
    server.start()
    try:
        print(f"DL4J training UI: {server.url} (stats: {server.stats_file})", file=sys.stderr, flush=True)
        ui_settings = {
            "ui_url": server.url.split("/train")[0],
            "ui_frequency": _frequency(options.get("frequency", 1)),
        }
        if isinstance(kwargs.get("spark_options"), SparkOptions):
            kwargs["spark_options"] = dataclasses.replace(kwargs["spark_options"], **ui_settings)
        else:
            kwargs.update(ui_settings)
        history = fit(net, x, y, spark=spark, **kwargs)
        _wait_until_stable(server.stats_file)  # the workers' routers post from their own threads
        return history
    finally:
        server.stop()


def _wait_until_stable(path: Path, quiet: float = 1.5) -> None:
    """Return once `path` has not grown for `quiet` seconds (at most FLUSH_TIMEOUT)."""
    deadline, size, since = time.monotonic() + FLUSH_TIMEOUT, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.25)


@java_boundary("replay")
def replay(stats_file, port: int = DEFAULT_PORT, block: bool = True) -> UIServer:
    """Serve DL4J's UI over a saved stats file; blocks until Ctrl-C unless block=False (then stop() it)."""
    server = UIServer(stats_file, port, replay=True).start()
    print(f"DL4J training UI: {server.url} (stats: {server.stats_file}); Ctrl-C stops it", file=sys.stderr, flush=True)
    if not block:
        return server
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return server
