"""Run the Java reference service (java/runtime's shaded jar) as a subprocess.

The service itself is Java (ai.dl4jbridge.runtime.service.PredictionServer); this module builds its command
line, and starts, waits for and stops it as a bridge.jvm.JavaProcess. `dl4j-bridge serve MODEL.onnx --port P` uses it, and so
do tests/test_service.py and benchmarks/bench_service.py.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..errors import BridgeError
from ..jvm.javaproc import JavaProcess, java_command
from ..jvm.locate import service_jar

__all__ = ["JavaService", "ServiceClient", "ServiceError", "service_jar", "service_command"]

_LISTENING = re.compile(r"listening on (http://\S+)")

# The JDK's default collector (G1) stopped the service for 4-7 ms every 1.6 s under wrk -c32 with batching on;
# the parallel collector's young pauses take about 1 ms (the requests leave almost nothing alive): docs/java.md.
# Added unless the caller's jvm_options pick a collector themselves.
DEFAULT_SERVICE_JVM_OPTIONS = ("-XX:+UseParallelGC",)
_CHOOSES_COLLECTOR = re.compile(r"-XX:\+Use\w+GC$")


class ServiceError(BridgeError, RuntimeError):
    """The Java service failed to start, or exited with an error."""


def service_command(
    model: str | Path,
    port: int = 8080,
    host: str = "127.0.0.1",
    threads: int | None = None,
    extra: list[str] | None = None,
    jvm_options: list[str] | None = None,
) -> list[str]:
    """The `java -jar ... --model ... --port ...` command line (port 0 picks a free port).

    `model` is an ONNX file, or NAME=PATH; more models, `--model-repository DIR` and every other option of the
    service (`java -jar SERVICE_JAR --help`) go in `extra`. `jvm_options` (e.g. ["-Xmx512m"]) go before -jar,
    after DEFAULT_SERVICE_JVM_OPTIONS (dropped when `jvm_options` name a collector, e.g. "-XX:+UseG1GC").
    """
    jvm_options = list(jvm_options or [])
    if not any(_CHOOSES_COLLECTOR.match(option) for option in jvm_options):
        jvm_options = [*DEFAULT_SERVICE_JVM_OPTIONS, *jvm_options]
    name, sep, path = str(model).rpartition("=")
    if not Path(path).is_file():
        raise ServiceError(f"model file {path} does not exist")
    args = ["--model", str(model), "--port", str(port), "--host", host]
    if threads:
        args += ["--threads", str(threads)]
    return java_command(jar=service_jar(), jvm_flags=jvm_options, args=[*args, *(extra or [])])


class JavaService:
    """The Java service in a subprocess (a bridge.jvm.JavaProcess); a context manager that always stops it.

    >>> with JavaService("models/vectors/lenet/model.onnx", port=0) as svc:
    ...     requests.post(svc.url + "/v1/predict", ...)
    """

    def __init__(
        self,
        model: str | Path,
        port: int = 0,
        host: str = "127.0.0.1",
        threads: int | None = None,
        extra: list[str] | None = None,
        startup_timeout: float = 60.0,
        jvm_options: list[str] | None = None,
    ):
        self.command = service_command(model, port, host, threads, extra, jvm_options)
        self.startup_timeout = startup_timeout
        self.url: str | None = None
        self.java: JavaProcess | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        return None if self.java is None else self.java.process

    @property
    def output(self) -> list[str]:
        """The service's last lines of output (stdout and stderr), each with its newline."""
        return [] if self.java is None else self.java.output

    def start(self) -> JavaService:
        self.java = JavaProcess(
            self.command,
            name="the Java service",
            ready_line=_LISTENING,
            start_timeout=self.startup_timeout,
            error=ServiceError,
        ).start()
        self.url = self.java.match.group(1)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the service drains requests in flight), then SIGKILL after `timeout` seconds."""
        return None if self.java is None else self.java.stop(grace=timeout)

    def __enter__(self) -> JavaService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServiceClient:
    """A keep-alive HTTP client for the service (standard library only). Not thread-safe: one per thread."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); reconnects once if the server closed the kept-alive connection."""
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers or {})
                response = self._conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def predict(self, x: np.ndarray, binary: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, classes) float32 and classes (n,) for x (n, features) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)
        if binary:
            status, headers, payload = self.request(
                "POST",
                "/v1/predict",
                x.astype("<f4").tobytes(),
                {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"},
            )
            if status != 200:
                raise ServiceError(f"HTTP {status}: {payload.decode(errors='replace')}")
            rows, classes = int(headers["x-rows"]), int(headers["x-classes"])
            probs = np.frombuffer(payload, "<f4", rows * classes).reshape(rows, classes)
            return probs, np.frombuffer(payload, "<i4", rows, offset=rows * classes * 4)
        body = json.dumps({"inputs": x.tolist()}).encode()
        status, _, payload = self.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
        if status != 200:
            raise ServiceError(f"HTTP {status}: {payload.decode(errors='replace')}")
        out = json.loads(payload)
        return np.asarray(out["probabilities"], np.float32), np.asarray(out["classes"])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
