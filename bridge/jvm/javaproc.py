"""A Java subprocess: the one place that starts, watches and stops the JVMs dl4j-bridge runs beside its own.

The training UI server (bridge.train.ui), the Java service (bridge.serve.service) and the Spark standalone
cluster's master and workers (bridge.train.spark_cluster) are each a JavaProcess:

    with JavaProcess(java_command("ai.example.Main", classpath=jars, args=["--port", "0"]),
                     name="the example server", ready_line=r"listening on (\\S+)") as server:
        url = server.match.group(1)

- Its output (stdout and stderr together) is read by a thread as it comes, so a chatty JVM never blocks on a
  full pipe: the last lines stay in `output` (and every line goes to `log_file`, when given).
- start() returns once it is ready: a line of its output matches `ready_line`, and/or `ready_port` accepts a TCP
  connection. If it exits first, or is not ready within `start_timeout` seconds, it is stopped and `error` (a
  BridgeError subclass) is raised with the command and the last lines of its output.
- It runs in a process group of its own: stop() (SIGTERM, then SIGKILL after `grace` seconds) and kill() reach
  the processes it started too (a Spark worker's executors), and Ctrl-C in a terminal reaches Python only, which
  stops it on the way out.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..errors import BridgeError, SetupError
from .locate import java_executable

__all__ = ["signal_group", "signal_process", "JavaProcess", "free_port", "java_command"]

_POLL = 0.2  # seconds between readiness checks that nothing wakes (a port, a condition)


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` to the process group led by `pid`; nothing if it is gone or not ours."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_process(pid: int, sig: int) -> None:
    """Send `sig` to one process; nothing if it is gone or not ours."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now (the kernel's pick), for a child to listen on."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def java_command(
    main_class: str | None = None,
    *,
    jar: str | os.PathLike | None = None,
    classpath: Iterable[str | os.PathLike] = (),
    jvm_flags: Iterable[str] = (),
    args: Iterable[str] = (),
    java: str | os.PathLike | None = None,
) -> list[str]:
    """`java JVM_FLAGS -cp CLASSPATH MAIN_CLASS ARGS`, or `java JVM_FLAGS -jar JAR ARGS` (one of main_class, jar).

    java: the `java` executable; by default the JDK that bridge.jvm.locate finds ($JAVA_HOME, then PATH)."""
    if (main_class is None) == (jar is None):
        raise ValueError(f"Give exactly one of main_class and jar. Received: main_class={main_class!r}, jar={jar!r}")
    cmd = [str(java or java_executable()), *jvm_flags]
    if jar is not None:
        cmd += ["-jar", str(jar)]
    else:
        entries = [str(entry) for entry in classpath]
        cmd += [*(["-cp", os.pathsep.join(entries)] if entries else []), main_class]
    return cmd + [str(arg) for arg in args]


class JavaProcess:
    """A Java subprocess with a readiness condition, captured output and a stop that always ends it.

    command: the full command line (see java_command). name: how messages call it ("the Java service").
    env: the child's whole environment (default: this process's). log_file: a file that gets every line of its
    output too. stdin: give it a pipe as standard input, closed first by stop() (a child that exits when its
    stdin closes then also exits when Python dies); else /dev/null. error: the BridgeError subclass raised when
    it does not start. keep_lines: how many of the last lines `output` keeps.
    """

    def __init__(
        self,
        command: list[str],
        *,
        name: str = "the Java process",
        ready_line: str | re.Pattern | None = None,
        ready_port: int | None = None,
        ready_host: str = "127.0.0.1",
        start_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        log_file: str | os.PathLike | None = None,
        stdin: bool = False,
        error: type[BridgeError] = SetupError,
        keep_lines: int = 10_000,
    ):
        self.command = command  # a list the caller may still change before start()
        self.name = name
        self.ready_line = re.compile(ready_line) if isinstance(ready_line, str) else ready_line
        self.ready_port, self.ready_host = ready_port, ready_host
        self.start_timeout = start_timeout
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_file = Path(log_file) if log_file is not None else None
        self.stdin = stdin
        self.error = error
        self._output: collections.deque[str] = collections.deque(maxlen=keep_lines)
        self.match: re.Match | None = None  # what ready_line matched
        self.process: subprocess.Popen | None = None
        self._line = threading.Condition()
        self._drained = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> JavaProcess:
        """Start it and wait until it is ready (at most `timeout`, default start_timeout, seconds)."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} was started already (pid {self.process.pid}).")
        try:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group (see kill), out of the terminal's Ctrl-C
            )
        except OSError as exc:
            raise self.error(f"Cannot start {self.name}: {exc}. Command: {' '.join(self.command)}") from exc
        threading.Thread(target=self._drain, name=f"output of {self.name}", daemon=True).start()
        try:
            self.wait_until(self._ready, self.start_timeout if timeout is None else timeout, self._readiness())
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Return once condition() holds; `error` if the process exits first or `timeout` seconds pass, with
        `what` (e.g. "2 workers to register") and the last lines of its output in the message."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self._exited(0):
                self._drained.wait(5.0)  # the lines it wrote before exiting
                if condition():
                    return
                raise self.error(
                    f"{self.name} exited with code {self._exit_code()} while waiting for {what}.\n"
                    f"Command: {' '.join(self.command)}\n{self._tail_block()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.error(
                    f"{self.name} was not ready within {timeout:g} s (waiting for {what}).\n"
                    f"Command: {' '.join(self.command)}\n{self._tail_block()}"
                )
            with self._line:
                self._line.wait(min(remaining, _POLL))

    def stop(self, grace: float = 15.0) -> int | None:
        """Close its stdin (when piped), SIGTERM its process group, SIGKILL the group after `grace` seconds;
        then SIGKILL whatever is left in the group. Returns its exit code (None if it never started)."""
        if self.process is None:
            return None
        if self.process.returncode is None:  # not reaped: its pid, the group's id, is still its own
            if not self._exited(0):
                if self.process.stdin is not None:
                    with contextlib.suppress(OSError):
                        self.process.stdin.close()
                self.kill(signal.SIGTERM)
                if not self._exited(grace):
                    self.kill(signal.SIGKILL)
                    self._exited(None)
            self.kill(signal.SIGKILL)  # what it started and left behind in its group
        code = self.process.wait()
        self._drained.wait(5.0)
        return code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to its whole process group at once (itself and the processes it started)."""
        if self.process is None or self.process.returncode is not None:  # never started, or reaped: not ours
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def __enter__(self) -> JavaProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and not self._exited(0)

    def poll(self) -> int | None:
        """Its exit code once it has exited, else None (as Popen.poll)."""
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit by itself and return its exit code (subprocess.TimeoutExpired after `timeout`)."""
        return self.process.wait(timeout)

    @property
    def output(self) -> list[str]:
        """Its last lines of output (at most keep_lines), each with its newline: a copy, safe to iterate while
        it writes more."""
        with self._line:
            return list(self._output)

    def tail(self, lines: int = 20) -> str:
        """The last `lines` lines of its output."""
        return "".join(self.output[-lines:])

    # -- internals --------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        log = open(self.log_file, "w", encoding="utf-8") if self.log_file is not None else None
        try:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", errors="replace")
                if log is not None:
                    log.write(line)
                    log.flush()
                with self._line:
                    self._output.append(line)
                    if self.match is None and self.ready_line is not None:
                        self.match = self.ready_line.search(line)
                    self._line.notify_all()
        finally:
            if log is not None:
                log.close()
            self._drained.set()
            with self._line:
                self._line.notify_all()

    def _ready(self) -> bool:
        if self.ready_line is not None and self.match is None:
            return False
        if self.ready_port is not None:
            try:
                with socket.create_connection((self.ready_host, self.ready_port), timeout=1.0):
                    pass
            except OSError:
                return False
        return True

    def _readiness(self) -> str:
        parts = []
        if self.ready_line is not None:
            parts.append(f"a line matching {self.ready_line.pattern!r}")
        if self.ready_port is not None:
            parts.append(f"port {self.ready_host}:{self.ready_port} to accept connections")
        return " and ".join(parts) or "it to start"

    def _exited(self, timeout: float | None) -> bool:
        """Whether it exited within `timeout` seconds (None: wait), leaving it unreaped: while it is a zombie its
        pid, and so its process group's id, cannot be reused, and kill() reaches only what it started."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:  # reaped already (by a poll() elsewhere)
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _exit_code(self) -> int | None:
        """Its exit status without reaping it (None when unknown)."""
        if self.process.returncode is not None:
            return self.process.returncode
        with contextlib.suppress(ChildProcessError):
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        return None

    def _tail_block(self, lines: int = 30) -> str:
        tail = self.tail(lines).rstrip()
        where = f" (all of it in {self.log_file})" if self.log_file is not None else ""
        return f"Its last output{where}:\n{tail}" if tail else f"It wrote nothing{where}."
