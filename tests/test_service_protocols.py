"""The Java service speaks the ecosystem's protocols: the official Open Inference Protocol v2 client
(tritonclient, HTTP and gRPC) and curl, TensorFlow Serving's REST predict, several models and a
Triton-style model repository, and dynamic batching that answers exactly what unbatched runs answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from concurrency import run_in_threads

import bridge
from bridge.serve.service import JavaService, ServiceClient

pytestmark = pytest.mark.serial  # service load: dynamic batching under concurrent clients

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
LENET = VECTORS / "lenet" / "model.onnx"
MLP = VECTORS / "mlp" / "model.onnx"
TOLERANCE = 1e-5
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    _, _, x_test, _ = bridge.data.load("mnist")
    assert len(x_test) >= 1000
    return np.ascontiguousarray(x_test[:1000], dtype=np.float32)


@pytest.fixture(scope="module")
def reference(mnist) -> dict[str, np.ndarray]:
    """Python ONNX Runtime's outputs on the 1,000 digits, per model."""
    return {
        name: bridge.OnnxModel(str(path), providers="cpu").predict(mnist)
        for name, path in (("lenet", LENET), ("mlp", MLP))
    }


@pytest.fixture(scope="module")
def two_models():
    """lenet and mlp in one service, HTTP and gRPC."""
    with JavaService(f"lenet={LENET}", port=0, threads=2, extra=["--model", f"mlp={MLP}", "--grpc-port", "0"]) as svc:
        yield svc


def _grpc_address(svc) -> str:
    line = next(line for line in svc.output if "listening on" in line)
    return line.split(" grpc=")[1].split()[0]


def _http(svc) -> triton_http.InferenceServerClient:
    return triton_http.InferenceServerClient(svc.url.removeprefix("http://"))


def _close(probs: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert probs.shape == expected.shape, (what, probs.shape, expected.shape)
    diff = float(np.abs(probs.astype(np.float64) - expected).max())
    assert diff <= TOLERANCE, f"{what}: max abs diff {diff:.3g}"


# lenet (InputType.convolutionalFlat) declares its image and takes the flat rows these tests send as well.
INPUT_SHAPES = {"lenet": [-1, 1, 28, 28], "mlp": [-1, 784]}


def test_tritonclient_http_ready_metadata_and_infer(two_models, mnist, reference):
    client = _http(two_models)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and client.is_model_ready("mlp") and not client.is_model_ready("nope")
    assert client.get_server_metadata()["name"] == "dl4j-bridge"
    index = client.get_model_repository_index()
    assert {m["name"] for m in index} == {"lenet", "mlp"} and all(m["state"] == "READY" for m in index)
    for name in ("lenet", "mlp"):
        meta = client.get_model_metadata(name)
        assert meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"] == INPUT_SHAPES[name], meta
        assert meta["outputs"][0]["shape"] == [-1, 10], meta
        in_name, out_name = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
        for binary in (True, False):
            tensor = triton_http.InferInput(in_name, list(mnist.shape), "FP32")
            tensor.set_data_from_numpy(mnist, binary_data=binary)
            result = client.infer(
                name,
                [tensor],
                outputs=[triton_http.InferRequestedOutput(out_name, binary_data=binary)],
                request_id="req-7",
            )
            _close(result.as_numpy(out_name), reference[name], f"{name} http binary={binary}")
            assert result.get_response()["id"] == "req-7"
    with pytest.raises(Exception, match="no model 'nope'"):
        client.get_model_metadata("nope")


def test_tritonclient_grpc_ready_metadata_and_infer(two_models, mnist, reference):
    client = triton_grpc.InferenceServerClient(_grpc_address(two_models))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and client.is_model_ready("mlp") and not client.is_model_ready("nope")
    assert client.get_server_metadata().name == "dl4j-bridge"
    assert {m.name for m in client.get_model_repository_index().models} == {"lenet", "mlp"}
    for name in ("lenet", "mlp"):
        meta = client.get_model_metadata(name)
        assert meta.inputs[0].datatype == "FP32" and list(meta.inputs[0].shape) == INPUT_SHAPES[name]
        tensor = triton_grpc.InferInput(meta.inputs[0].name, list(mnist.shape), "FP32")
        tensor.set_data_from_numpy(mnist)
        result = client.infer(name, [tensor], outputs=[triton_grpc.InferRequestedOutput(meta.outputs[0].name)])
        _close(result.as_numpy(meta.outputs[0].name), reference[name], f"{name} grpc")
    bad = triton_grpc.InferInput("wrong", [1, 784], "FP32")
    bad.set_data_from_numpy(mnist[:1])
    with pytest.raises(Exception, match="unknown input 'wrong'"):
        client.infer("lenet", [bad])
    client.close()


def test_curl_v2_infer_json(two_models, mnist, reference):
    curl = shutil.which("curl")
    assert curl, "curl is needed (Debian package curl)"
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [2, 784], "datatype": "FP32", "data": mnist[:2].tolist()}]}
    )
    name = _http(two_models).get_model_metadata("lenet")["inputs"][0]["name"]
    body = body.replace('"name": "input"', f'"name": "{name}"')
    out = subprocess.run(
        [
            curl,
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            f"{two_models.url}/v2/models/lenet/infer",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = json.loads(out.stdout)
    assert answer["model_name"] == "lenet" and answer["outputs"][0]["shape"] == [2, 10], answer
    _close(np.asarray(answer["outputs"][0]["data"], np.float32).reshape(2, 10), reference["lenet"][:2], "curl")
    live = subprocess.run(
        [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{two_models.url}/v2/health/live"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert live.stdout == "200"


def test_tensorflow_serving_rest_predict(two_models, mnist, reference):
    client = ServiceClient(two_models.url)
    status, _, body = client.request(
        "POST", "/v1/models/mlp:predict", json.dumps({"instances": mnist[:5].tolist()}).encode(), JSON
    )
    assert status == 200, body
    _close(np.asarray(json.loads(body)["predictions"], np.float32), reference["mlp"][:5], "TF instances")
    status, _, body = client.request(
        "POST",
        "/v1/models/lenet/versions/1:predict",
        json.dumps({"signature_name": "serving_default", "inputs": mnist[:4].tolist()}).encode(),
        JSON,
    )
    assert status == 200, body
    _close(np.asarray(json.loads(body)["outputs"], np.float32), reference["lenet"][:4], "TF inputs")
    status, _, body = client.request("GET", "/v1/models/lenet")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    for payload, want in ((b'{"instances": [[1, 2]]}', 400), (b'{"instances": [], "inputs": []}', 400), (b"[1]", 400)):
        assert client.request("POST", "/v1/models/lenet:predict", payload, JSON)[0] == want, payload
    assert client.request("POST", "/v1/models/nope:predict", b'{"instances": [[0]]}', JSON)[0] == 404
    assert client.request("POST", "/v1/models/lenet/versions/9:predict", b'{"instances": [[0]]}', JSON)[0] == 404


def test_v2_bad_requests_are_4xx(two_models, mnist):
    client = ServiceClient(two_models.url)
    name = json.loads(client.request("GET", "/v2/models/lenet")[2])["inputs"][0]["name"]
    row = mnist[0].tolist()

    def infer(payload, headers=JSON, model="lenet"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return client.request("POST", f"/v2/models/{model}/infer", body, headers)

    cases = [
        ({"inputs": [{"name": name, "shape": [1, 783], "datatype": "FP32", "data": row[:783]}]}, 400),
        ({"inputs": [{"name": name, "shape": [1, 784], "datatype": "INT64", "data": row}]}, 400),
        ({"inputs": [{"name": name, "shape": [1, 784], "datatype": "FP32", "data": row[:10]}]}, 400),
        ({"inputs": [{"name": "nope", "shape": [1, 784], "datatype": "FP32", "data": row}]}, 400),
        ({"inputs": [{"name": name, "shape": [1, 784], "datatype": "FP32", "data": ["x"] * 784}]}, 400),
        ({"inputs": []}, 400),
        (b'{"inputs": [', 400),
    ]
    for payload, want in cases:
        status, _, body = infer(payload)
        assert status == want, (payload if isinstance(payload, bytes) else str(payload)[:100], status, body[:200])
        assert json.loads(body)["error"]
    header = json.dumps(
        {"inputs": [{"name": name, "shape": [1, 784], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}]}
    ).encode()
    status, _, body = infer(header + b"\x00" * 100, {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and b"binary_data_size" in body
    status, _, _ = infer(header, {"Inference-Header-Content-Length": "99999"})
    assert status == 400
    assert client.request("GET", "/v2/models/lenet/versions/7")[0] == 404
    assert client.request("GET", "/v2/models/lenet/infer")[0] == 405


def test_model_repository_folder(tmp_path, mnist, reference):
    """NAME/VERSION/model.onnx (highest version served), NAME/model.onnx, config.json with batching."""
    repo = tmp_path / "repo"
    for version in ("1", "3"):
        (repo / "digits" / version).mkdir(parents=True)
    shutil.copy(MLP, repo / "digits" / "1" / "model.onnx")
    shutil.copy(LENET, repo / "digits" / "3" / "model.onnx")
    (repo / "digits" / "config.json").write_text(
        json.dumps({"max_batch_size": 16, "max_queue_delay_microseconds": 100})
    )
    (repo / "small").mkdir()
    shutil.copy(MLP, repo / "small" / "model.onnx")
    with JavaService(f"lenet={LENET}", port=0, threads=2, extra=["--model-repository", str(repo)]) as svc:
        client = _http(svc)
        index = {(m["name"], m["version"]) for m in client.get_model_repository_index()}
        assert index == {("lenet", "1"), ("digits", "3"), ("small", "1")}, index
        assert client.get_model_metadata("digits", "3")["versions"] == ["3"]
        assert not client.is_model_ready("digits", "1")
        tensor = triton_http.InferInput("input", [100, 784], "FP32")
        tensor.set_data_from_numpy(mnist[:100])
        name = client.get_model_metadata("digits")["inputs"][0]["name"]
        tensor = triton_http.InferInput(name, [100, 784], "FP32")
        tensor.set_data_from_numpy(mnist[:100])
        out = client.get_model_metadata("digits")["outputs"][0]["name"]
        _close(client.infer("digits", [tensor], model_version="3").as_numpy(out), reference["lenet"][:100], "repo v3")
        _close(client.infer("small", [tensor]).as_numpy(out), reference["mlp"][:100], "repo small")
        assert "digits:batch<=16/100us" in "".join(svc.output)
        metrics = ServiceClient(svc.url).request("GET", "/metrics")[2].decode()
        for model in ("lenet", "digits", "small"):
            assert f'name="{model}"' in metrics


def test_dynamic_batching_answers_like_unbatched_runs(mnist, reference):
    """32 threads of single-row requests against a batching service: every answer equals Python ONNX Runtime's
    for that row, and the batcher did run batches of more than one row."""
    with JavaService(
        f"lenet={LENET}", port=0, threads=2, extra=["--batch-max-size", "32", "--batch-max-delay-us", "2000"]
    ) as svc:
        failures: list[str] = []
        lock = threading.Lock()

        def worker(seed: int) -> None:
            client = ServiceClient(svc.url)
            for i in range(seed, 1000, 32):
                probs, classes = client.predict(mnist[i : i + 1])
                diff = float(np.abs(probs[0] - reference["lenet"][i]).max())
                if diff > TOLERANCE or classes[0] != reference["lenet"][i].argmax():
                    with lock:
                        failures.append(f"row {i}: diff {diff:.3g}")

        run_in_threads(worker, [(k,) for k in range(32)], 120)
        assert not failures, failures[:5]
        metrics = ServiceClient(svc.url).request("GET", "/metrics")[2].decode()
        total = float(
            next(
                line.split()[-1]
                for line in metrics.splitlines()
                if line.startswith('dl4jbridge_batch_rows_sum{model="lenet"}')
            )
        )
        runs = float(
            next(
                line.split()[-1]
                for line in metrics.splitlines()
                if line.startswith('dl4jbridge_batch_rows_count{model="lenet"}')
            )
        )
        assert total == 1000 and runs < 1000, (total, runs)


def test_batched_binary_requests_of_several_rows_and_nan_rows_each_answered_alone(mnist, reference):
    """Binary bodies are read in place by the batcher: requests of 1-3 rows from 16 threads, every fifth with a NaN
    in its last row. Each good request gets exactly its own rows' answers (1e-5 against Python ONNX Runtime); each
    NaN request a 400 naming the row and column, without failing the batch it would have joined."""
    with JavaService(f"lenet={LENET}", port=0, threads=2, extra=["--batch-max-size", "16"]) as svc:
        failures: list[str] = []
        counts = {"good": 0, "refused": 0}
        lock = threading.Lock()

        def worker(seed: int) -> None:
            client = ServiceClient(svc.url)
            for k, start in enumerate(range(seed * 3, 990, 48)):
                n = 1 + (start + k) % 3
                rows = mnist[start : start + n].copy()
                poisoned = (start // 3 + k) % 5 == 0
                if poisoned:
                    rows[-1, 100] = np.nan
                status, _, payload = client.request(
                    "POST", "/v1/predict", rows.astype("<f4").tobytes(), {"Content-Type": "application/octet-stream"}
                )
                with lock:
                    if poisoned:
                        counts["refused"] += status == 400
                        if status != 400 or f"row {n - 1}, column 100" not in payload.decode():
                            failures.append(f"NaN request at {start}: {status} {payload[:200]!r}")
                        continue
                    probs = np.asarray(json.loads(payload)["probabilities"], np.float32) if status == 200 else None
                    if probs is None or probs.shape != (n, 10):
                        failures.append(f"request at {start}: {status} {payload[:200]!r}")
                        continue
                    diff = float(np.abs(probs - reference["lenet"][start : start + n]).max())
                    counts["good"] += diff <= TOLERANCE
                    if diff > TOLERANCE:
                        failures.append(f"request at {start} ({n} rows): diff {diff:.3g}")

        run_in_threads(worker, [(k,) for k in range(16)], 120)
        assert not failures, failures[:5]
        assert counts["good"] > 200 and counts["refused"] > 50, counts


def _raw_infer(svc, input_name: str, build) -> str:
    """Sends a hand-made ModelInfer (tritonclient's own protobuf classes) and returns the error it gets."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest(model_name="lenet")
    tensor = request.inputs.add(name=input_name, datatype="FP32", shape=[1, 784])
    build(request, tensor)
    with grpc.insecure_channel(_grpc_address(svc)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
    return refused.value.details()


def test_each_tensor_has_exactly_one_source_of_values(two_models, mnist):
    """gRPC: two raw_input_contents for one input, or raw bytes and fp32_contents together; HTTP v2: "data" and
    binary_data_size together. Each is refused by name (before, the first source won silently)."""
    input_name = _http(two_models).get_model_metadata("lenet")["inputs"][0]["name"]
    row = mnist[:1].astype("<f4").tobytes()

    def two_raw(request, tensor):
        request.raw_input_contents.extend([row, row])

    def raw_and_typed(request, tensor):
        request.raw_input_contents.append(row)
        tensor.contents.fp32_contents.extend(mnist[0].tolist())

    assert "2 raw_input_contents" in _raw_infer(two_models, input_name, two_raw)
    assert "both raw_input_contents and typed contents" in _raw_infer(two_models, input_name, raw_and_typed)

    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [1, 784],
                    "datatype": "FP32",
                    "data": mnist[0].tolist(),
                    "parameters": {"binary_data_size": len(row)},
                }
            ]
        }
    ).encode()
    status, _, body = ServiceClient(two_models.url).request(
        "POST",
        "/v2/models/lenet/infer",
        header + row,
        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 400 and b'both \\"data\\" and parameters.binary_data_size' in body, body


def test_tf_serving_b64_instances_are_refused_with_the_right_words(two_models):
    for instance in ({"b64": "AAAA"}, {"image": {"b64": "AAAA"}}):
        body = json.dumps({"instances": [instance]}).encode()
        status, _, answer = ServiceClient(two_models.url).request("POST", "/v1/models/lenet:predict", body, JSON)
        assert status == 400 and b"b64" in answer and b"takes numbers (FP32)" in answer, answer
