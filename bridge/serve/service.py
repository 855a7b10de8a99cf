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

__all__ = ["JavaService", "ServiceClient", "ServiceError", "service_jar", "service_command", "check_model_repository"]

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
    for repository in _repositories(extra or []):
        check_model_repository(repository)
    args = ["--model", str(model), "--port", str(port), "--host", host]
    if threads:
        args += ["--threads", str(threads)]
    return java_command(jar=service_jar(), jvm_flags=jvm_options, args=[*args, *(extra or [])])


_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def _repositories(extra: list[str]) -> list[str]:
    """The folders that `--model-repository DIR` / `--model-repository=DIR` name among the service's options."""
    found = []
    for i, option in enumerate(extra):
        if option == "--model-repository" and i + 1 < len(extra):
            found.append(extra[i + 1])
        elif option.startswith("--model-repository="):
            found.append(option.split("=", 1)[1])
    return found


def check_model_repository(root: str | Path) -> list[tuple[str, str, Path]]:
    """(name, version, model file) for each model of a --model-repository folder, by the Java service's rules
    (ModelRepository.java), so that `dl4j-bridge serve` refuses a bad repository in one line before starting Java:
    a model folder, version folder, model.onnx, config.json or config.pbtxt that resolves through a symbolic link outside the
    repository is refused by name, and so is a version folder not named by a positive integer."""
    root = Path(root)
    if not root.is_dir():
        raise ServiceError(f"--model-repository {root} is not a folder")
    home = root.resolve()
    models = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        _confined(folder, home, "model folder")
        versions, misnamed = [], []
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not _VERSION.fullmatch(child.name):
                misnamed.append(child.name)
                continue
            _confined(child, home, "version folder")
            if (child / "model.onnx").is_file():
                versions.append(int(child.name))
        if misnamed:
            raise ServiceError(
                f"model folder {folder} has version folders that are not positive integers: {', '.join(misnamed)} "
                "(versions are named 1, 2, 3, ..., at most 18 digits)"
            )
        version = str(max(versions, default=1))
        file = folder / version / "model.onnx"
        file = file if file.is_file() else folder / "model.onnx"
        if not file.is_file():
            raise ServiceError(f"model folder {folder} has no VERSION/model.onnx nor model.onnx")
        _confined(file, home, "model file")
        config = folder / "config.json"
        config = config if config.is_file() else folder / "config.pbtxt"  # Triton's, read without a config.json
        if config.is_file():
            _confined(config, home, "config file")
        models.append((folder.name, version, file))
    if not models:
        raise ServiceError(f"--model-repository {root} has no model folders (expected NAME/1/model.onnx)")
    return models


def _confined(path: Path, home: Path, what: str) -> None:
    real = path.resolve()
    if not real.is_relative_to(home):
        raise ServiceError(
            f"{what} {path} is a symbolic link to {real}, outside the --model-repository {home}: refused "
            "(copy it into the repository)"
        )


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
