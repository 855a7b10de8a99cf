"""The Java reference service, over real HTTP: same answers as DL4J on the shared vectors, 4xx for bad
requests, and a mixed good/bad load with zero 5xx and zero wrong answers. The service runs as a
subprocess on an ephemeral port and is always stopped."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from concurrency import run_in_threads

from bridge.serve.service import JavaService, ServiceClient, service_command

pytestmark = pytest.mark.serial  # service load: concurrent clients

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
TOLERANCE = 1e-5  # DL4J vs ONNX Runtime, float32 both sides (models/vectors/*/meta.json)
JSON = {"Content-Type": "application/json"}


def _vector(name: str) -> Path:
    path = VECTORS / name
    if not path.is_file():
        pytest.fail(
            f"shared test vector {path} is missing: these files are committed; regenerate them with "
            "`.venv/bin/python models/make_vectors.py` (models/README.md)"
        )
    return path


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    raw = np.fromfile(_vector("mnist_test_1000.u8"), np.uint8).reshape(1000, 784)
    return raw.astype(np.float32) / np.float32(255)


@pytest.fixture(scope="module", params=["mlp", "lenet"])
def served(request):
    """(model name, service, DL4J's outputs [1000, 10])."""
    expected = np.fromfile(_vector(f"{request.param}/outputs.f32"), "<f4").reshape(1000, 10)
    with JavaService(_vector(f"{request.param}/model.onnx"), port=0, threads=4) as service:
        yield request.param, service, expected
    assert service.process.poll() is not None, "the service did not stop"


def _check(model: str, probs: np.ndarray, classes: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert probs.shape == expected.shape, f"{model} {what}: shape {probs.shape} != {expected.shape}"
    diff = np.abs(probs.astype(np.float64) - expected)
    worst = np.unravel_index(diff.argmax(), diff.shape)
    assert diff.max() <= TOLERANCE, (
        f"{model} {what}: max abs diff {diff.max():.3g} > {TOLERANCE} at {worst} "
        f"(DL4J {expected[worst]}, service {probs[worst]})"
    )
    agree = (classes == expected.argmax(1)).mean()
    assert agree == 1.0, f"{model} {what}: arg-max agreement with DL4J {agree:.3%}"


def test_binary_matches_dl4j(served, digits):
    model, service, expected = served
    client = ServiceClient(service.url)
    probs, classes = client.predict(digits, binary=True)
    _check(model, probs, classes, expected, "binary, one batch of 1000")


def test_json_matches_dl4j(served, digits):
    model, service, expected = served
    client = ServiceClient(service.url)
    parts = [client.predict(digits[i : i + 100], binary=False) for i in range(0, 1000, 100)]
    probs = np.concatenate([p for p, _ in parts])
    classes = np.concatenate([c for _, c in parts])
    _check(model, probs, classes, expected, "JSON, batches of 100")
    # batch size 1 on a sample, through the JSON single-row form {"inputs": [784 floats]}
    for i in range(0, 1000, 97):
        status, _, body = client.request(
            "POST", "/v1/predict", json.dumps({"inputs": digits[i].tolist()}).encode(), JSON
        )
        assert status == 200, body
        _check(
            model,
            np.asarray(json.loads(body)["probabilities"], np.float32),
            np.asarray(json.loads(body)["classes"]),
            expected[i : i + 1],
            f"JSON batch 1, row {i}",
        )


def _bad_requests(digits):
    row = digits[0].tolist()
    nan_row = list(row)
    nan_row[5] = float("nan")
    return [  # (what, method, path, body, headers, expected status)
        ("malformed JSON", "POST", "/v1/predict", b'{"inputs": [[0.1, 0.2', JSON, 400),
        ("wrong row length", "POST", "/v1/predict", json.dumps({"inputs": [row[:700]]}).encode(), JSON, 400),
        ("NaN", "POST", "/v1/predict", json.dumps({"inputs": [nan_row]}).encode(), JSON, 400),
        ("missing inputs", "POST", "/v1/predict", b'{"x": 1}', JSON, 400),
        ("string value", "POST", "/v1/predict", json.dumps({"inputs": [["a"] * 784]}).encode(), JSON, 400),
        (
            "wrong content type",
            "POST",
            "/v1/predict",
            json.dumps({"inputs": [row]}).encode(),
            {"Content-Type": "text/plain"},
            415,
        ),
        ("binary of 3 bytes", "POST", "/v1/predict", b"abc", {"Content-Type": "application/octet-stream"}, 400),
        ("wrong method", "GET", "/v1/predict", None, {}, 405),
        ("unknown path", "GET", "/v2/nothing", None, {}, 404),
    ]


def test_bad_requests_get_json_4xx(served, digits):
    _, service, _ = served
    client = ServiceClient(service.url)
    for what, method, path, body, headers, status in _bad_requests(digits):
        got, response_headers, payload = client.request(method, path, body, headers)
        assert got == status, f"{what}: HTTP {got}, expected {status}: {payload[:200]!r}"
        assert response_headers["content-type"].startswith("application/json"), what
        message = json.loads(payload)["error"]
        assert message and "Exception" not in message and ".java:" not in message, f"{what}: {message}"
    assert client.request("GET", "/health")[0] == 200, "the service must stay up"


def test_oversized_body_gets_413_before_upload(served):
    """The service answers 413 from Content-Length alone and closes; a raw socket reads that answer
    (http.client would still be uploading the 17 MB when the server closes, and see a reset)."""
    _, service, _ = served
    client = ServiceClient(service.url)
    with socket.create_connection((client.host, client.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (17 << 20) + b" " * 4096
        )
        response = b""
        while b"}" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'{"error":"request body is larger than' in response, response
    assert client.request("GET", "/health")[0] == 200


def test_mixed_bad_and_good_load(served, digits):
    """8 client threads, 1 request in 3 bad: zero 5xx, every bad one a 4xx, every good one correct."""
    model, service, expected = served
    bad = _bad_requests(digits)
    failures: list[str] = []
    counts = {"good": 0, "bad": 0}
    lock = threading.Lock()

    def worker(seed: int) -> None:
        client = ServiceClient(service.url)
        rng = np.random.default_rng(seed)
        for k in range(60):
            if k % 3 == 2:
                what, method, path, body, headers, status = bad[rng.integers(len(bad))]
                got, _, payload = client.request(method, path, body, headers)
                ok = got == status
                kind = "bad"
            else:
                rows = rng.integers(0, 1000, size=int(rng.integers(1, 9)))
                got, headers, payload = client.request(
                    "POST",
                    "/v1/predict",
                    digits[rows].astype("<f4").tobytes(),
                    {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"},
                )
                what, kind = f"good rows {rows.tolist()}", "good"
                ok = (
                    got == 200
                    and np.abs(np.frombuffer(payload, "<f4", len(rows) * 10).reshape(-1, 10) - expected[rows]).max()
                    <= TOLERANCE
                )
            with lock:
                counts[kind] += 1
                if not ok or got >= 500:
                    failures.append(f"{what}: HTTP {got} {payload[:120]!r}")

    run_in_threads(worker, [(seed,) for seed in range(8)], 120)
    assert not failures, f"{model}: {len(failures)} wrong answers or 5xx, e.g. {failures[:3]}"
    assert counts == {"good": 320, "bad": 160}
    status, _, metrics = ServiceClient(service.url).request("GET", "/metrics")
    assert status == 200 and b'code="500"' not in metrics


def test_model_health_metrics(served, digits):
    model, service, _ = served
    client = ServiceClient(service.url)
    status, _, body = client.request("GET", "/v1/model")
    info = json.loads(body)
    shape = {"mlp": [-1, 784], "lenet": [-1, 1, 28, 28]}[model]  # lenet: a convolutionalFlat image, which takes rows
    assert status == 200 and info["input"]["shape"] == shape and info["input"]["size"] == 784, info
    assert info["output"]["classes"] == 10, info
    assert info["provider"] == "cpu"
    assert client.request("GET", "/health")[0] == 200
    client.predict(digits[:2], binary=True)  # the latency histogram has a bucket line once a prediction ran
    status, headers, metrics = client.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for name in (
        b"dl4jbridge_requests_total",
        b"dl4jbridge_predict_duration_seconds_bucket",
        b"dl4jbridge_request_errors_total",
    ):
        assert name in metrics, name
    # started by JavaService, the JVM runs the parallel collector (bridge.serve.service.DEFAULT_SERVICE_JVM_OPTIONS)
    assert b'jvm_gc_collection_seconds_count{gc="PS Scavenge"}' in metrics, _gc_lines(metrics)


def _gc_lines(metrics: bytes) -> list[str]:
    return [line for line in metrics.decode().splitlines() if line.startswith("jvm_gc_collection_seconds_count")]


def test_jvm_options_choosing_a_collector_replace_the_default():
    lenet = _vector("lenet/model.onnx")
    assert "-XX:+UseParallelGC" in service_command(lenet, jvm_options=["-Xmx512m"])
    command = service_command(lenet, jvm_options=["-XX:+UseSerialGC"])
    assert "-XX:+UseParallelGC" not in command and command.index("-XX:+UseSerialGC") < command.index("-jar")
    with JavaService(lenet, port=0, jvm_options=["-XX:+UseSerialGC"]) as service:
        metrics = ServiceClient(service.url).request("GET", "/metrics")[2]
    assert b'gc="Copy"' in metrics and b"PS Scavenge" not in metrics, _gc_lines(metrics)


def test_cli_serve_starts_and_stops_the_service():
    """`dl4j-bridge serve MODEL --port 0 --service-option=...` runs the jar in the foreground with those options;
    SIGTERM stops it cleanly (exit 0)."""
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge",
            "serve",
            str(_vector("lenet/model.onnx")),
            "--port",
            "0",
            "--service-option=--batch-max-size=8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"unexpected first line: {line!r}"
        assert "batching=lenet:batch<=8/" in line, line
        client = ServiceClient(match.group(1))
        assert client.request("GET", "/health")[0] == 200
        assert b'gc="PS Scavenge"' in client.request("GET", "/metrics")[2]  # the launcher's collector
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
