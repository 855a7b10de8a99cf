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
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

from ..errors import DataError, SetupError, java_boundary
from ..jvm import JavaProcess, free_port, java_command, jclass, ui_classpath
from ..model.kinds import as_java
from ..spark.session import SparkOptions

__all__ = ["training_ui", "replay", "TrainingUI", "ui_classpath", "DEFAULT_PORT"]

DEFAULT_PORT = 9000
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

    def stop(self, timeout: float = 20.0) -> None:
        if self.java is not None:
            self.java.stop(grace=timeout)


class TrainingUI:
    """Context manager: a UI server for the run, and DL4J's StatsListener on the network while it lasts."""

    def __init__(self, net, port: int = DEFAULT_PORT, stats_file=None, frequency: int = 1):
        self.java = as_java(net)
        self.frequency = _frequency(frequency)
        self.server = UIServer(stats_file or Path.cwd() / "ui-stats.bin", port)
        self.router = self.listener = None
        self._before = []

    @property
    def url(self) -> str | None:
        return self.server.url

    @property
    def stats_file(self) -> Path:
        return self.server.stats_file

    def __enter__(self) -> TrainingUI:
        self.server.start()
        base = self.server.url.split("/train")[0]
        self.router = jclass("org.deeplearning4j.core.storage.impl.RemoteUIStatsStorageRouter")(base)
        self.listener = jclass("org.deeplearning4j.ui.model.stats.StatsListener")(self.router, self.frequency)
        self._before = list(self.java.getListeners() or [])
        self.java.addListeners(self.listener)
        return self

    def __exit__(self, *exc) -> bool:
        try:
            self.java.setListeners(jclass("java.util.ArrayList")(self._before))
            self.flush()
        finally:
            with contextlib.suppress(Exception):
                self.router.shutdown()
            self.server.stop()
        return False

    def flush(self) -> None:
        """Wait until the router has posted what training queued (it posts from its own thread)."""
        field = self.router.getClass().getDeclaredField("queue")
        field.setAccessible(True)
        queue = field.get(self.router)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while queue is not None and queue.size() > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the last POST in flight


def _frequency(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(
            f"Received an invalid value for `frequency`, expected a positive int (a stats report every that many "
            f"iterations). Received: frequency={value!r}"
        )
    return value


@java_boundary("training_ui")
def training_ui(net, port: int = DEFAULT_PORT, stats_file=None, frequency: int = 1) -> TrainingUI:
    """DL4J's training UI for the block's training of `net` (see the module docstring).

    port: the UI's TCP port (default 9000; 0 picks a free one; the URL is `.url`). stats_file: where the UI server
    keeps what it receives (default ./ui-stats.bin; `replay(file)` or `dl4j-bridge ui FILE` shows it again).
    frequency: DL4J's StatsListener reports every `frequency` iterations (default 1: every minibatch; each report
    copies the parameters, gradients and updates for the histograms, so raise it for long runs of small batches).
    """
    return TrainingUI(net, port, stats_file, frequency)


def fit_with_ui(fit, ui, spark, net, x, y, **kwargs):
    """bridge.fit(..., ui=True | {options}): the same fit inside training_ui(net, **options); on Spark, every
    worker's StatsListener posts to the UI server through DL4J's remote stats router (SparkOptions.ui_url)."""
    options = {} if ui is True else dict(ui) if isinstance(ui, dict) else None
    if options is None or not set(options) <= {"port", "stats_file", "frequency"}:
        raise DataError(
            f"Received an invalid value for `ui`, expected True or a dict with port, stats_file, "
            f"frequency. Received: ui={ui!r}"
        )
    if spark is not None:
        return _fit_spark_with_ui(fit, options, spark, net, x, y, kwargs)
    with training_ui(net, **options) as session:
        print(f"DL4J training UI: {session.url} (stats: {session.stats_file})", file=sys.stderr, flush=True)
        return fit(net, x, y, **kwargs)


def _fit_spark_with_ui(fit, options: dict, spark, net, x, y, kwargs: dict):
    import dataclasses

    server = UIServer(options.get("stats_file") or Path.cwd() / "ui-stats.bin", options.get("port", DEFAULT_PORT))
    server.start()
    try:
        print(f"DL4J training UI: {server.url} (stats: {server.stats_file})", file=sys.stderr, flush=True)
        ui_settings = {"ui_url": server.url.split("/train")[0], "ui_frequency": _frequency(options.get("frequency", 1))}
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
