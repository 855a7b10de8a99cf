"""The Java service as a hostile client meets it: slow and half-sent requests, abandoned connections,
framing lies, oversized parts, injected methods, binary sent as JSON, models that must not load, and a
short soak of mixed traffic. Every test runs the real jar on 127.0.0.1 with bounded loops and timeouts."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from concurrency import run_in_threads
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families

from bridge.jvm import java_home
from bridge.serve.service import JavaService, ServiceClient, ServiceError, service_jar

pytestmark = pytest.mark.serial  # service load: a soak, 20,000 abandoned connections, open-file and RSS counts

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
LENET = VECTORS / "lenet" / "model.onnx"
MLP = VECTORS / "mlp" / "model.onnx"
TOLERANCE = 1e-5
BINARY = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}
REQUEST_TIMEOUT = 2  # --request-timeout for these tests (seconds)
JSON_TYPE = {"Content-Type": "application/json"}
KNOWN_METHODS = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "other"}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    raw = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 784)
    return raw.astype(np.float32) / np.float32(255)


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    return np.fromfile(VECTORS / "lenet" / "outputs.f32", "<f4").reshape(1000, 10)


@pytest.fixture(scope="module")
def service():
    extra = [
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--idle-timeout",
        "5",
        "--max-body",
        str(1 << 20),
        "--max-headers",
        "32",
        "--max-uri",
        "2048",
        "--max-header-size",
        "4096",
    ]
    # A fixed, pre-touched heap: the soak's RSS check then sees leaks, not the heap growing into its default.
    with JavaService(
        LENET, port=0, threads=2, extra=extra, jvm_options=["-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch"]
    ) as svc:
        yield svc


def _address(svc) -> tuple[str, int]:
    client = ServiceClient(svc.url)
    return client.host, client.port


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _raw(svc, payload: bytes, timeout: float = 10.0) -> bytes:
    """Sends `payload` on a fresh connection and reads until the server closes or a whole answer is in."""
    with socket.create_connection(_address(svc), timeout=timeout) as sock:
        sock.sendall(payload)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                break
    return data


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


def _good(svc, digits, expected, rows=(0, 1, 2)) -> None:
    client = ServiceClient(svc.url, timeout=5)
    probs, _ = client.predict(digits[list(rows)])
    assert np.abs(probs - expected[list(rows)]).max() <= TOLERANCE


def _still_waiting(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed this connection (nothing to read yet)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:  # reset: answered, in its way
        return False
    finally:
        sock.settimeout(10)
    return False


def test_slow_and_half_sent_requests_do_not_block_good_clients(service, digits, expected):
    """100 connections stuck mid-request (half the headers, or half the body): good requests and /health are
    answered while every stuck one is still waiting; each stuck one gets 408 when --request-timeout passes, and is
    closed. Told by order, not by a stopwatch: a server whose workers the stuck clients held would answer a good
    request only after a stuck one had timed out and been answered, however fast or busy the machine."""
    row = digits[0].astype("<f4").tobytes()
    stuck = []
    try:
        for i in range(100):
            sock = socket.create_connection(_address(service), timeout=10)
            if i % 2:
                sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n")
            else:
                sock.sendall(
                    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(row) + row[:1000]
                )
            stuck.append(sock)
        assert ServiceClient(service.url, timeout=5).request("GET", "/health")[0] == 200
        _good(service, digits, expected)
        waiting = sum(_still_waiting(sock) for sock in stuck)
        assert waiting == len(stuck), f"good clients were answered only after {len(stuck) - waiting} stuck ones"
        for _ in range(20):  # and keep being answered
            _good(service, digits, expected)
            assert ServiceClient(service.url, timeout=5).request("GET", "/health")[0] == 200
        statuses = {_status(_read_response(sock)) for sock in stuck}
        assert statuses == {408}, statuses
    finally:
        for sock in stuck:
            sock.close()
    _good(service, digits, expected)


def test_abandoned_connections_leave_no_file_handles(service, digits, expected):
    """20,000 connections that send part of a request (or a whole one) and close without reading: the
    service's open-file count comes back to its baseline and it still answers."""
    pid = service.process.pid
    _good(service, digits, expected)
    baseline = _open_fds(pid)
    big = digits[:200].astype("<f4").tobytes()
    partial = (
        b'POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"in'
    )
    whole = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(big)
    ) + big
    address = _address(service)

    refused = []  # connections the kernel reset (listen backlog full under the burst): counted, not fatal

    def abandon(count: int, offset: int) -> None:
        for i in range(count):
            try:
                with socket.create_connection(address, timeout=10) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.sendall(whole if (i + offset) % 100 == 0 else partial[: 10 + (i % (len(partial) - 10))])
            except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
                refused.append(i)

    threads = run_in_threads(abandon, [(5000, k) for k in range(4)], 300)
    assert not any(t.is_alive() for t in threads)
    assert len(refused) < 1000, f"{len(refused)} of 20,000 connections were refused"  # nearly all were abandoned
    deadline = time.monotonic() + 20
    while _open_fds(pid) > baseline + 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_fds(pid) <= baseline + 5, f"open files {_open_fds(pid)} vs baseline {baseline}"
    _good(service, digits, expected)


def _metrics(svc) -> list:
    status, _, body = ServiceClient(svc.url).request("GET", "/metrics")
    assert status == 200
    return list(text_string_to_metric_families(body.decode()))


def test_injected_methods_never_become_label_values(service):
    """Methods with quotes, braces and 3,000 distinct long names: /metrics stays parseable by
    prometheus_client, the method label stays within a fixed set, and the series count stays bounded."""
    for i in range(3000):
        method = (f'X"{i}' + "{}\\" + "A" * 1500) if i % 3 else f'G"E{i}T'
        response = _raw(service, method.encode() + b" /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n")
        assert 400 <= _status(response) < 500, response[:200]
    families = _metrics(service)
    methods = {s.labels["method"] for f in families if f.name == "dl4jbridge_requests" for s in f.samples}
    assert methods <= KNOWN_METHODS, methods
    series = sum(len(f.samples) for f in families)
    assert series < 2000, f"{series} samples in /metrics"


def test_framing_lies_and_broken_chunks_get_4xx(service, digits, expected):
    row = digits[0].astype("<f4").tobytes()
    head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
    cases = {
        "broken chunk size": head + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        "chunk longer than declared": head + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
        "invalid Content-Length": head + b"Content-Length: abc\r\n\r\n" + row,
        "negative Content-Length": head + b"Content-Length: -5\r\n\r\n" + row,
        "both Transfer-Encoding and Content-Length": head
        + b"Content-Length: 3136\r\nTransfer-Encoding: chunked\r\n\r\n"
        + row,
        "Content-Length shorter than the body": head + b"Content-Length: 10\r\n\r\n" + row,
        "Content-Length longer than the body": head + b"Content-Length: %d\r\n\r\n" % (len(row) + 100) + row,
        "unsupported Transfer-Encoding": head + b"Transfer-Encoding: gzip\r\n\r\n" + row,
    }
    for what, payload in cases.items():
        response = _raw(service, payload, timeout=REQUEST_TIMEOUT + 8)
        assert 400 <= _status(response) < 500, f"{what}: {response[:300]!r}"
        assert b"Exception" not in response and b".java:" not in response, what
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(row) + row + b"\r\n0\r\n\r\n"
    assert _status(_raw(service, chunked)) == 200, "a well-formed chunked request must work"
    _good(service, digits, expected)


def test_binary_body_sent_as_json_is_400(service):
    rng = np.random.default_rng(0)
    for body in (rng.bytes(3136), b"\x00\x00\x00{\x00\x00\x00}", b"\xff\xfe\x00\x00" + rng.bytes(64), b"\xc3\x28"):
        status, _, payload = ServiceClient(service.url).request(
            "POST", "/v1/predict", body, {"Content-Type": "application/json"}
        )
        assert status == 400, (status, payload[:200])
        assert json.loads(payload)["error"]


def test_oversized_parts_are_refused_with_their_status(service):
    huge = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    response = _raw(service, huge % (2 << 20) + b" " * 8192)
    assert _status(response) == 413 and b"connection: close" in response.lower(), response[:300]
    growing = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    with socket.create_connection(_address(service), timeout=10) as sock:
        sock.sendall(growing)
        try:
            for _ in range(20):  # 1.25 MiB > --max-body 1 MiB
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = _read_response(sock)
    assert _status(response) == 413, response[:300]
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) + b"\r\n"
    assert _status(_raw(service, many)) == 431
    big_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000 + b"\r\n\r\n"
    assert _status(_raw(service, big_header)) == 431
    long_uri = b"GET /health?" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status(_raw(service, long_uri)) == 414


def test_client_abort_is_counted_once(service, digits):
    """A client that sends a whole request and leaves at once: one request counted (its status, or 499),
    never a 200 and a 500 for the same request."""

    def counts():
        out = {}
        for f in _metrics(service):
            if f.name == "dl4jbridge_requests":
                for s in f.samples:
                    if s.name.endswith("_total") and s.labels["route"] == "/v1/predict":
                        out[s.labels["code"]] = out.get(s.labels["code"], 0) + s.value
        return out

    before = counts()
    body = digits[:250].astype("<f4").tobytes()  # under --max-body
    with socket.create_connection(_address(service), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )

    def counted() -> dict:
        after = counts()
        delta = {code: after.get(code, 0) - before.get(code, 0) for code in set(after) | set(before)}
        return {code: n for code, n in delta.items() if n}

    deadline = time.monotonic() + 30  # the prediction's own time: a busy machine stretches it
    while not counted() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # then room for a second count of the same request, which must not come
    delta = counted()
    assert sum(delta.values()) == 1 and set(delta) <= {"200", "499"}, delta


def _metric_total(svc, name: str) -> float:
    return sum(s.value for f in _metrics(svc) if f.name == name for s in f.samples if s.name.endswith("_total"))


def test_connections_closed_mid_body_are_counted_not_logged_each(digits, expected):
    """100 clients send headers and part of a body, then close: each is counted in /metrics, and the log gets
    at most one line a minute about them (Netty's default was a 27-line warning per connection)."""
    with JavaService(LENET, port=0, threads=2) as svc:
        start_lines = len(svc.output)
        partial = (
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"\0" * 4096
        )
        for _ in range(100):
            with socket.create_connection(_address(svc), timeout=10) as sock:
                sock.sendall(partial)
        deadline = time.monotonic() + 30
        while _metric_total(svc, "dl4jbridge_connections_closed_mid_request") < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _metric_total(svc, "dl4jbridge_connections_closed_mid_request") == 100
        new_lines = svc.output[start_lines:]
        assert len(new_lines) <= 4, "".join(new_lines[:40])
        assert not any("Exception" in line for line in new_lines), "".join(new_lines[:40])
        _good(svc, digits, expected)


def _pipelined_answers(svc, payload: bytes) -> list[tuple[int, bytes]]:
    """Sends `payload` in one go and reads answers until the service closes the connection (or 10 s of silence)."""
    with socket.create_connection(_address(svc), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    answers = []
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        answers.append((_status(head), rest[:length]))
        data = rest[length:]
    return answers


CLOSE = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_pipelined_requests_are_answered_in_order(service, digits, expected):
    """Three requests in one packet (HTTP/1.1 pipelining): three answers, in the order asked."""
    row = digits[5].astype("<f4").tobytes()
    predict = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Accept: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(row)
    ) + row
    answers = _pipelined_answers(service, predict + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + CLOSE)
    assert [status for status, _ in answers] == [200, 404, 200], answers
    assert np.abs(np.frombuffer(answers[0][1], "<f4", 10) - expected[5]).max() <= TOLERANCE
    assert b'"status":"ok"' in answers[2][1]


# ---- models that must not load, and start-up errors -------------------------------------------------------


def _start_failure(args: list[str], cwd: Path | None = None) -> tuple[int, str]:
    cmd = [str(java_home() / "bin" / "java"), "-jar", str(service_jar()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=cwd)
    return done.returncode, done.stderr.strip()


def _assert_one_line(code: int, stderr: str, *needles: str) -> None:
    assert code != 0, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    assert "Exception in thread" not in stderr and "\tat " not in stderr, stderr
    for needle in needles:
        assert needle in stderr, stderr


def _with_metadata(tmp_path: Path, key: str, value: str) -> Path:
    model = onnx.load(str(MLP))
    del model.metadata_props[:]
    model.metadata_props.add(key=key, value=value)
    path = tmp_path / f"{key}.onnx"
    onnx.save(model, str(path))
    return path


def _absurd_input(tmp_path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 100000, 100000, 100000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 100000, 100000, 100000])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "absurd", [x], [y])
    path = tmp_path / "absurd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _fixed_batch(tmp_path: Path, batch) -> Path:
    """A model whose input's batch dimension is fixed (`batch` rows) or symbolic (a name)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "fixed", [x], [y])
    path = tmp_path / f"fixed-{batch}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_a_model_with_a_fixed_batch_dimension_is_refused_at_start_by_name(tmp_path):
    """Served as [-1, 4] it failed inside ONNX Runtime on every batch of 2 (500s under dynamic batching)."""
    for batching in ([], ["--batch-max-size", "8"]):
        code, stderr = _start_failure(["--model", str(_fixed_batch(tmp_path, 1)), *batching])
        _assert_one_line(code, stderr, "batch dimension is fixed at 1", "dynamic batch dimension")
    with JavaService(_fixed_batch(tmp_path, "N"), port=0, threads=1) as svc:  # the same graph, batch symbolic
        status, _, body = ServiceClient(svc.url).request(
            "POST", "/v1/predict", json.dumps({"inputs": [[-1, 2, -3, 4], [5, -6, 7, -8]]}).encode(), JSON_TYPE
        )
        assert status == 200 and json.loads(body)["probabilities"][1] == [5, 0, 7, 0], body


def test_start_up_errors_are_one_line_with_a_non_zero_exit(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    cases = [
        (["--model", str(MLP), "--port", str(taken.getsockname()[1])], "cannot listen"),
        (["--model", str(tmp_path / "missing.onnx")], "does not exist"),
        (["--model", str(_with_metadata(tmp_path, "labels", '["zero", "one"'))], "labels"),
        (["--model", str(_absurd_input(tmp_path))], "floats"),
        (["--model", str(MLP), "--port=notaport"], "--port"),
        (["--model", str(MLP), "--no-such-option"], "no-such-option"),
        ([], "no model"),
        (["--model", "bad name=" + str(MLP)], "model name"),
        (["--model-repository", str(tmp_path / "nothing")], "not a folder"),
        (["--model", str(MLP), "--provider", "cuda"], "CUDA"),  # the CPU artifact: refused by name, no fallback
        (["--model", str(MLP), "--batch-max-size", "8", "--batch-runners", "0"], "--batch-runners"),
    ]
    with taken:
        for args, needle in cases:
            code, stderr = _start_failure(args)
            _assert_one_line(code, stderr, needle)


def test_help_and_version():
    cmd = [str(java_home() / "bin" / "java"), "-jar", str(service_jar())]
    shown = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    for option in (
        "--model",
        "--model-repository",
        "--port",
        "--grpc-port",
        "--threads",
        "--max-body",
        "--max-connections",
        "--request-timeout",
        "--idle-timeout",
        "--batch-max-size",
        "--batch-max-delay-us",
        "--batch-runners",
        "--model-batch",
        "--max-headers",
        "--max-header-size",
        "--max-uri",
        "--provider",
        "--nan",
        "--grace",
        "--version",
    ):
        assert option in shown.stdout, option
    version = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "0.1.0" in version.stdout and "ONNX Runtime" in version.stdout


def _external(tmp_path: Path, location: str | None) -> Path:
    """The MLP with its weights in weights.bin beside it; `location` rewrites where the file says they are."""
    folder = tmp_path / ("ok" if location is None else "evil")
    folder.mkdir(exist_ok=True)
    model = onnx.load(str(MLP))
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    if location is not None:
        model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


def test_external_data_resolves_only_inside_the_models_folder(tmp_path, digits):
    import bridge

    good = _external(tmp_path, None)
    assert (good.parent / "weights.bin").stat().st_size > 100_000
    reference = bridge.OnnxModel(str(good)).predict(digits[:50])
    with JavaService(good, port=0, threads=2) as svc:  # started from another working directory on purpose
        probs, _ = ServiceClient(svc.url).predict(digits[:50])
    assert np.abs(probs - reference).max() <= TOLERANCE
    for location in ("../../etc/passwd", "/etc/passwd", "../ok/weights.bin"):
        code, stderr = _start_failure(["--model", str(_external(tmp_path, location))], cwd=Path("/"))
        _assert_one_line(code, stderr, location, "outside")


# ---- soak -------------------------------------------------------------------------------------------------


HALF_SENT_16MB = (
    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: %d\r\n\r\n" % ((16 << 20) - 10)
) + b"\0" * (1 << 20)


def soak(svc, digits, expected, seconds: float, big_half_sent: bool = False) -> dict:
    """Mixed good and bad traffic from 6 threads for `seconds`: counts of good, bad, 5xx and wrong answers.
    With `big_half_sent`, 2 in 10 requests declare a 16 MB body, send 1 MB of it and leave (503s, the memory
    budget's answer to a good request while those are held, are counted apart)."""
    bad = [
        ("POST", "/v1/predict", b'{"inputs": [[1, 2', {"Content-Type": "application/json"}, 400),
        ("POST", "/v1/predict", b"\x00\xff" * 100, {"Content-Type": "application/json"}, 400),
        ("POST", "/v1/predict", digits[0].astype("<f4").tobytes()[:-4], BINARY, 400),
        ("GET", "/v1/predict", None, {}, 405),
        ("GET", "/nope", None, {}, 404),
        ("POST", "/v2/models/lenet/infer", b'{"inputs": []}', {"Content-Type": "application/json"}, 400),
        ("POST", "/v2/models/nope/infer", b"{}", {"Content-Type": "application/json"}, 404),
    ]
    lock = threading.Lock()
    outcome = {"good": 0, "bad": 0, "5xx": 0, "503": 0, "wrong": 0, "raw": 0, "big": 0}
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        client = ServiceClient(svc.url, timeout=10)
        rng = np.random.default_rng(seed)
        while time.monotonic() < stop:
            k = int(rng.integers(10))
            if big_half_sent and k >= 8:  # a fifth: a 16 MB body, 1 MB of it sent, abandoned
                try:
                    with socket.create_connection(_address(svc), timeout=5) as sock:
                        sock.sendall(HALF_SENT_16MB)
                except OSError:  # refused mid-send (503, then the service closed): the budget at work
                    pass
                status, right, kind = 0, True, "big"
            elif k < 6:
                rows = rng.integers(0, 1000, size=int(rng.integers(1, 5)))
                status, _, payload = client.request("POST", "/v1/predict", digits[rows].astype("<f4").tobytes(), BINARY)
                right = (
                    status == 200
                    and np.abs(np.frombuffer(payload, "<f4", len(rows) * 10).reshape(-1, 10) - expected[rows]).max()
                    <= TOLERANCE
                )
                kind = "good"
            elif k < 9:
                method, path, body, headers, want = bad[int(rng.integers(len(bad)))]
                status, _, payload = client.request(method, path, body, headers)
                right, kind = status == want, "bad"
            else:  # a half-sent request, abandoned
                with socket.create_connection(_address(svc), timeout=5) as sock:
                    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
                status, right, kind = 0, True, "raw"
            if status == 503 and kind == "good" and big_half_sent:
                status, right, kind = 0, True, "503"  # the budget was full; Retry-After says when to come back
            with lock:
                outcome[kind] += 1
                outcome["5xx"] += status >= 500
                outcome["wrong"] += not right

    run_in_threads(worker, [(seed,) for seed in range(6)], seconds + 60)
    return outcome


SOAK_SECONDS = int(os.environ.get("DL4JBRIDGE_SOAK_SECONDS", "20"))  # 60 for the recorded run (BENCHMARKS.md)


@pytest.mark.parametrize("seconds", [SOAK_SECONDS])
def test_soak_mixed_traffic(service, digits, expected, seconds):
    pid = service.process.pid
    soak(service, digits, expected, 3)  # warm-up: JIT, pools
    fds, rss = _open_fds(pid), _rss_mb(pid)
    outcome = soak(service, digits, expected, seconds)
    deadline = time.monotonic() + 20  # the service closes the last connections when a busy machine lets it
    while _open_fds(pid) > fds + 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    print(f"soak {seconds} s: {outcome}; open files {fds} -> {_open_fds(pid)}; RSS {rss:.0f} -> {_rss_mb(pid):.0f} MB")
    assert outcome["5xx"] == 0 and outcome["wrong"] == 0, outcome
    assert outcome["good"] > 100 and outcome["bad"] > 50, outcome
    assert _open_fds(pid) <= fds + 10, (fds, _open_fds(pid))
    assert _rss_mb(pid) <= rss + 100, f"RSS {rss:.0f} -> {_rss_mb(pid):.0f} MB"


def test_pipelining_beyond_the_queue_is_answered_in_order_then_closed(service, digits):
    """30 requests in one packet: the first 17 (one handled, 16 queued) answered in order, then one 429 in the
    18th request's place, then the connection closes; nothing pipelined after it is read."""
    row = digits[5].astype("<f4").tobytes()
    predict = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Accept: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(row)
    ) + row
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = _pipelined_answers(service, predict + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + health * 28)
    statuses = [status for status, _ in answers]
    assert statuses == [200, 404] + [200] * 15 + [429], statuses
    assert b"pipelined" in answers[-1][1]


def test_head_answers_what_get_would_without_the_body(service):
    for path in ("/health", "/v1/model", "/v2", "/v2/health/ready", "/metrics"):
        get = _pipelined_answers(service, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        with socket.create_connection(_address(service), timeout=10) as sock:
            sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = b""
            while chunk := sock.recv(65536):
                head += chunk
        status_line, _, rest = head.partition(b"\r\n")
        assert b" 200 " in status_line, (path, head[:300])
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert body == b"", (path, body[:100])
        length = int(next(h.split(b":")[1] for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")))
        assert get[0][0] == 200 and (path == "/metrics" or length == len(get[0][1])), (path, length, len(get[0][1]))
    post_only = _pipelined_answers(service, b"HEAD /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert post_only[0][0] == 405


def test_repeated_query_parameters_are_refused_by_name(service, digits):
    body = json.dumps({"instances": digits[:1].tolist()}).encode()
    request = (
        b"POST /v1/predict?model=lenet&model=other HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    ((status, message),) = _pipelined_answers(service, request)
    assert status == 400 and b"'model' is given more than once" in message, message


def test_utf8_paths_show_as_sent_in_messages(service):
    ((status, message),) = _pipelined_answers(
        service, "GET /v2/models/modèle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 404 and "modèle" in message.decode("utf-8"), message


def _output_line(svc, needle: str) -> str:
    """The service's first line of output containing `needle` (printed at start, just after it listens)."""
    deadline = time.monotonic() + 30
    while not (found := [line for line in svc.output if needle in line]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, svc.output
    return found[0]


def _answers_arriving(waiting: list[socket.socket], seconds: float) -> list[bytes]:
    """What arrives on any of `waiting` within `seconds` (those sockets leave the list)."""
    ready, _, _ = select.select(waiting, [], [], seconds)
    for sock in ready:
        waiting.remove(sock)
    return [sock.recv(65536) for sock in ready]


def test_half_sent_large_bodies_beyond_the_memory_budget_get_503_at_once(digits, expected):
    """-Xmx512m, 16 MB bodies: 40 clients each declare a 16 MB body, send 64 KB of it and wait. Bodies are
    reserved against the budget (a quarter of the JVM's memory: about 113 MiB, 7 bodies) when their headers arrive;
    the rest are answered 503 with Retry-After before their bodies are read. Nothing runs out of memory, /metrics
    keeps answering, and once the clients leave, a 50-row request is answered (before: OutOfMemoryError in
    the workers, an empty /metrics, and no answer to 50 rows within 40 s)."""
    body_limit = 16 << 20
    with JavaService(LENET, port=0, threads=2, extra=["--max-body", str(body_limit)], jvm_options=["-Xmx512m"]) as svc:
        budget_line = _output_line(svc, "request bodies in flight capped at")
        cap_mib = int(budget_line.split("capped at ")[1].split(" MiB")[0])
        assert 100 <= cap_mib <= 128, budget_line  # a quarter of what -Xmx512m gives (the JVM keeps some back)
        fitting = (cap_mib << 20) // (body_limit - 10)
        head = (
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % (body_limit - 10)
        )
        hogs, refused = [], []
        for _ in range(40):
            sock = socket.create_connection(_address(svc), timeout=10)
            sock.sendall(head + b"\0" * 65536)
            hogs.append(sock)
        waiting, deadline = list(hogs), time.monotonic() + 30
        while len(refused) < 40 - fitting and time.monotonic() < deadline:
            refused += _answers_arriving(waiting, 0.5)
        refused += _answers_arriving(waiting, 1.0)  # and no more than that
        assert len(refused) == 40 - fitting, f"{len(refused)} refused, {fitting} bodies fit"
        assert all(_status(a) == 503 and b"Retry-After: 1" in a and b"--body-memory" in a for a in refused)
        status, _, text = ServiceClient(svc.url).request("GET", "/metrics")
        assert status == 200 and b"dl4jbridge_requests_total" in text
        for sock in hogs:
            sock.close()
        deadline = time.monotonic() + 30
        while True:  # the service sees the closes within moments; each returns its reservation
            try:
                _good(svc, digits, expected, rows=range(50))
                break
            except ServiceError as refused:
                assert "HTTP 503" in str(refused), refused
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert not any("OutOfMemoryError" in line for line in svc.output)


@pytest.mark.parametrize("seconds", [SOAK_SECONDS])
def test_soak_with_a_fifth_half_sent_16mb_bodies_at_512m(digits, expected, seconds):
    """The soak again in -Xmx512m with 16 MB bodies allowed and a fifth of the traffic being half-sent 16 MB
    bodies: no 5xx but the budget's 503, no wrong answer, RSS flat after warm-up (BENCHMARKS.md, service-soak)."""
    with JavaService(
        LENET,
        port=0,
        threads=2,
        extra=["--max-body", str(16 << 20)],
        jvm_options=["-Xms512m", "-Xmx512m", "-XX:+AlwaysPreTouch"],
    ) as svc:
        pid = svc.process.pid
        soak(svc, digits, expected, 10, big_half_sent=True)  # warm-up: JIT, Netty's pools
        rss = _rss_mb(pid)
        outcome = soak(svc, digits, expected, seconds, big_half_sent=True)
        print(f"soak {seconds} s with half-sent 16 MB bodies: {outcome}; RSS {rss:.0f} -> {_rss_mb(pid):.0f} MB")
        assert outcome["5xx"] == 0 and outcome["wrong"] == 0, outcome
        assert outcome["good"] > 100 and outcome["big"] > 20, outcome
        assert _rss_mb(pid) <= rss + 100, f"RSS {rss:.0f} -> {_rss_mb(pid):.0f} MB"
        assert not any("OutOfMemoryError" in line for line in svc.output)
        _good(svc, digits, expected, rows=range(50))
