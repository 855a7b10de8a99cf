"""Image-shaped inputs (issue 25): a CNN built from a flat row (InputType.convolutionalFlat) exports with an image
input [N, C, H, W]; flat rows still give the same answers, and channels-last arrays are refused by name, with the
transpose, wherever the model runs: OnnxModel, `dl4j-bridge predict`, and every route of the Java service (whose
predictor is the Java one)."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.grpc import service_pb2, service_pb2_grpc

import bridge
from bridge import nets
from bridge.errors import ShapeError
from bridge.serve.service import JavaService, ServiceClient

C, H, W = 3, 16, 16
JSON = {"Content-Type": "application/json"}
TRANSPOSE = "(0, 3, 1, 2)"


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """(the network, its ONNX file, NCHW images, DL4J's own probabilities on them)."""
    net = nets.sequential(
        [nets.Conv2D(4, 3), nets.Pool2D(2), nets.Dense(8), nets.Output(5)],
        input_shape=(C, H, W),
        labels=["a", "b", "c", "d", "e"],
    )
    path = tmp_path_factory.mktemp("cnn") / "cnn.onnx"
    bridge.export_onnx(net, path)
    x = np.random.default_rng(3).random((6, C, H, W), dtype=np.float32)
    return net, path, x, bridge.predict(net, x)


@pytest.fixture(scope="module")
def service(cnn):
    with JavaService(f"cnn={cnn[1]}", port=0, threads=2, extra=["--grpc-port", "0"]) as svc:
        yield svc


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def test_the_graph_input_is_the_image_and_metadata_declares_the_flat_rows(cnn):
    model = onnx.load(cnn[1])
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", C, H, W]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["input_layout"] == f"NCHW [N,{C},{H},{W}]"
    assert meta["input_flat_rows"] == f"[N,{C * H * W}] reshaped in C order to NCHW [N,{C},{H},{W}]"


def test_onnx_model_gives_dl4j_answers_on_images_and_flat_rows_and_refuses_channels_last(cnn):
    _, path, x, dl4j = cnn
    model = bridge.OnnxModel(path, providers="cpu")
    assert model.input_shape == (C, H, W)
    np.testing.assert_allclose(model.predict(x), dl4j, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x.reshape(len(x), -1)), model.predict(x))
    with pytest.raises(ShapeError, match=r"channels are on the wrong axis.*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        model.predict(_nhwc(x))


def test_cli_predict_refuses_channels_last_in_one_line(cnn, tmp_path):
    _, path, x, dl4j = cnn
    np.save(tmp_path / "nchw.npy", x)
    np.save(tmp_path / "nhwc.npy", _nhwc(x))
    ok = _cli("predict", path, tmp_path / "nchw.npy", "--output", tmp_path / "out.json")
    assert ok.returncode == 0, ok.stderr
    rows = json.loads((tmp_path / "out.json").read_text())["predictions"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], dl4j, atol=1e-5)
    refused = _cli("predict", path, tmp_path / "nhwc.npy")
    assert refused.returncode != 0 and not refused.stdout
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and TRANSPOSE in lines[0] and "Traceback" not in refused.stderr, refused.stderr


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "bridge", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_v1_predict_takes_flat_and_nested_rows_and_refuses_channels_last(cnn, service):
    _, _, x, dl4j = cnn
    client = ServiceClient(service.url)
    probabilities, _ = client.predict(x)  # flat little-endian rows
    np.testing.assert_allclose(probabilities, dl4j, atol=1e-5)
    for rows in (x, x.reshape(len(x), -1)):
        status, _, body = client.request("POST", "/v1/predict", json.dumps({"inputs": rows.tolist()}).encode(), JSON)
        assert status == 200, body
        np.testing.assert_allclose(json.loads(body)["probabilities"], dl4j, atol=1e-5)
    status, _, body = client.request("POST", "/v1/predict", json.dumps({"inputs": _nhwc(x).tolist()}).encode(), JSON)
    assert status == 400 and TRANSPOSE in json.loads(body)["error"], body


def test_v2_rest_metadata_shows_the_image_and_tritonclient_gets_answers(cnn, service):
    _, _, x, dl4j = cnn
    client = triton_http.InferenceServerClient(service.url.removeprefix("http://"))
    meta = client.get_model_metadata("cnn")
    assert meta["inputs"][0]["shape"] == [-1, C, H, W], meta
    name, out = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    for rows in (x, x.reshape(len(x), -1)):
        tensor = triton_http.InferInput(name, list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        np.testing.assert_allclose(client.infer("cnn", [tensor]).as_numpy(out), dl4j, atol=1e-5)
    tensor = triton_http.InferInput(name, [len(x), H, W, C], "FP32")
    tensor.set_data_from_numpy(_nhwc(x))
    with pytest.raises(Exception, match=r"channels-last.*\(0, 3, 1, 2\)") as refused:
        client.infer("cnn", [tensor])
    assert "400" in str(refused.value) or getattr(refused.value, "status", lambda: "400")() in ("400", 400)


def test_v2_grpc_takes_images_and_refuses_channels_last(cnn, service):
    _, _, x, dl4j = cnn
    address = next(line for line in service.output if "listening on" in line).split(" grpc=")[1].split()[0]
    client = triton_grpc.InferenceServerClient(address)
    meta = client.get_model_metadata("cnn")
    assert list(meta.inputs[0].shape) == [-1, C, H, W]
    tensor = triton_grpc.InferInput(meta.inputs[0].name, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    np.testing.assert_allclose(client.infer("cnn", [tensor]).as_numpy(meta.outputs[0].name), dl4j, atol=1e-5)
    client.close()
    request = service_pb2.ModelInferRequest(model_name="cnn")
    request.inputs.add(name=meta.inputs[0].name, datatype="FP32", shape=[len(x), H, W, C])
    request.raw_input_contents.append(_nhwc(x).astype("<f4").tobytes())
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert TRANSPOSE in refused.value.details(), refused.value.details()


def test_tf_serving_takes_images_and_flat_rows_and_refuses_channels_last(cnn, service):
    _, _, x, dl4j = cnn
    client = ServiceClient(service.url)

    def predict(payload):
        status, _, body = client.request("POST", "/v1/models/cnn:predict", json.dumps(payload).encode(), JSON)
        return status, json.loads(body)

    for rows in (x, x.reshape(len(x), -1)):
        status, body = predict({"instances": rows.tolist()})
        assert status == 200, body
        np.testing.assert_allclose(body["predictions"], dl4j, atol=1e-5)
        status, body = predict({"inputs": rows.tolist()})
        assert status == 200, body
        np.testing.assert_allclose(body["outputs"], dl4j, atol=1e-5)
    for payload in ({"instances": _nhwc(x).tolist()}, {"inputs": _nhwc(x).tolist()}):
        status, body = predict(payload)
        assert status == 400 and TRANSPOSE in body["error"], (list(payload), body)


def test_the_service_refuses_the_transpose_for_an_older_flat_export_of_an_image(tmp_path):
    """A file exported before image inputs: flat [N, 12], metadata "NCHW [N,3,2,2] flattened to [N,12]"."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(5).normal(size=(12, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["output"])],
        "flattened",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 12])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"input_layout": "NCHW [N,3,2,2] flattened to [N,12]"})
    onnx.save(model, tmp_path / "flat.onnx")
    x = np.random.default_rng(6).random((2, 3, 2, 2), dtype=np.float32)
    expected = x.reshape(2, 12) @ w
    with JavaService(f"flat={tmp_path / 'flat.onnx'}", port=0, threads=1) as svc:
        client = ServiceClient(svc.url)

        def infer(rows):
            tensor = {"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}
            status, _, body = client.request(
                "POST", "/v2/models/flat/infer", json.dumps({"inputs": [tensor]}).encode(), JSON
            )
            return status, json.loads(body)

        for rows in (x, x.reshape(2, 12)):
            status, body = infer(rows)
            assert status == 200, body
            np.testing.assert_allclose(np.reshape(body["outputs"][0]["data"], (2, 3)), expected, atol=1e-5)
        status, body = infer(_nhwc(x))
        assert status == 400 and TRANSPOSE in body["error"], body
        status, _, body = client.request(
            "POST", "/v1/models/flat:predict", json.dumps({"instances": _nhwc(x).tolist()}).encode(), JSON
        )
        assert status == 400 and TRANSPOSE in json.loads(body)["error"], body


def test_tf_serving_metadata_shows_the_image_shape(service):
    status, _, body = ServiceClient(service.url).request("GET", "/v1/models/cnn/metadata")
    assert status == 200, body
    signature = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    (tensor,) = signature["inputs"].values()
    assert [int(d["size"]) for d in tensor["tensor_shape"]["dim"]] == [-1, C, H, W]
    assert tensor["dtype"] == "DT_FLOAT"
    (out,) = signature["outputs"].values()
    assert [int(d["size"]) for d in out["tensor_shape"]["dim"]] == [-1, 5]
