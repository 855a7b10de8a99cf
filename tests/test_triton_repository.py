"""A Triton model repository from a DL4J network (issue 25, part 7): bridge.export_triton and `dl4j-bridge export
--triton-repository` write NAME/config.pbtxt (parsed here by Triton's own ModelConfig proto, as tritonclient ships
it), NAME/VERSION/model.onnx (parity-checked) and NAME/labels.txt; this project's Java service serves the folder,
queried with tritonclient over HTTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.http as triton_http
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

import bridge
from bridge.cli.main import main as cli
from bridge.errors import DataError, ModelFileError, ParityError
from bridge.serve.service import JavaService

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VECTORS_LENET = Path(__file__).resolve().parent.parent / "models" / "vectors" / "lenet" / "model.onnx"


@pytest.fixture(scope="module")
def lenet():
    return bridge.nets.lenet(labels=LABELS, seed=5)


@pytest.fixture(scope="module")
def lenet_zip(lenet, tmp_path_factory):
    return bridge.save(lenet, tmp_path_factory.mktemp("zip") / "model.zip")


def _config(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _digits(n: int = 48) -> np.ndarray:
    return np.random.default_rng(11).random((n, 1, 28, 28), dtype=np.float32)


def test_export_triton_writes_a_config_triton_parses_the_model_and_the_labels(lenet, tmp_path):
    report = bridge.export_triton(lenet, tmp_path / "repo", name="digits", version=2)
    folder = tmp_path / "repo" / "digits"
    assert (report.folder, report.config, report.model) == (
        folder,
        folder / "config.pbtxt",
        folder / "2" / "model.onnx",
    )
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    config = _config(report.config)
    assert (config.name, config.platform, config.max_batch_size) == ("digits", "onnxruntime_onnx", 64)
    assert config.HasField("dynamic_batching")
    model = onnx.load(str(report.model))
    assert [i.name for i in config.input] == [i.name for i in model.graph.input]
    assert [o.name for o in config.output] == [o.name for o in model.graph.output]
    (tensor,), (out,) = config.input, config.output
    assert tensor.data_type == out.data_type == model_config_pb2.TYPE_FP32
    assert list(tensor.dims) == [1, 28, 28] and list(out.dims) == [10]  # no batch dimension: Triton adds it
    assert out.label_filename == "labels.txt"  # ModelInput has no label_filename
    assert (folder / "labels.txt").read_text().splitlines() == LABELS
    assert bridge.OnnxModel(report.model).labels == tuple(LABELS)


def test_without_batching_the_dims_keep_the_batch_dimension_and_no_dynamic_batching(lenet, tmp_path):
    report = bridge.export_triton(lenet, tmp_path, max_batch_size=0, verify=False)
    config = _config(report.config)
    assert config.name == "lenet" and config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [-1, 1, 28, 28] and list(config.output[0].dims) == [-1, 10]
    assert report.max_abs_diff is None


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "../up"}, DataError, "invalid value for `name`"),
        ({"version": 0}, DataError, "`version`"),
        ({"max_batch_size": -1}, DataError, "`max_batch_size`"),
        ({"labels": ["a", "b"]}, DataError, "2 labels for an output of 10 classes"),
        ({"labels": ["a\nb"] * 10}, DataError, "line breaks"),
        ({"tolerance": -1.0}, ParityError, "nothing was written"),
    ],
)
def test_bad_arguments_and_failed_parity_write_nothing(lenet, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        bridge.export_triton(lenet, tmp_path / "repo", **kwargs)
    assert not [p for p in (tmp_path / "repo").rglob("*") if p.is_file()]


def test_a_repository_that_is_a_file_is_refused(lenet, tmp_path):
    (tmp_path / "repo").write_text("not a folder")
    with pytest.raises(ModelFileError, match="is a file, not a folder"):
        bridge.export_triton(lenet, tmp_path / "repo")


def test_cli_export_to_a_triton_repository(lenet_zip, tmp_path, capsys):
    repo = tmp_path / "repo"
    assert cli(["export", str(lenet_zip), "--triton-repository", str(repo), "--max-batch-size", "16"]) == 0
    assert "config.pbtxt" in capsys.readouterr().out
    config = _config(repo / "lenet" / "config.pbtxt")  # the zip's saved name
    assert config.max_batch_size == 16 and config.output[0].label_filename == "labels.txt"
    assert (repo / "lenet" / "1" / "model.onnx").is_file()
    assert cli(["export", str(lenet_zip)]) == 1
    assert "Pass OUT (the .onnx file to write) or --triton-repository DIR" in capsys.readouterr().err
    assert cli(["export", str(lenet_zip), str(tmp_path / "m.onnx"), "--name", "x"]) == 1
    assert "--name go with --triton-repository" in capsys.readouterr().err


@pytest.mark.slow
def test_the_java_service_serves_the_repository_to_tritonclient(lenet, lenet_zip, tmp_path):
    repo = tmp_path / "repo"
    bridge.export_triton(lenet, repo, name="digits", version=3, max_batch_size=32, max_queue_delay_microseconds=500)
    assert cli(["export", str(lenet_zip), "--triton-repository", str(repo), "--name", "cli"]) == 0
    x = _digits()
    with JavaService(f"vectors={VECTORS_LENET}", port=0, extra=["--model-repository", str(repo)]) as svc:
        assert any("digits:batch<=32/500us" in line for line in svc.output), svc.output  # config.pbtxt was read
        client = triton_http.InferenceServerClient(svc.url.removeprefix("http://"))
        for name, version in (("digits", "3"), ("cli", "1")):
            assert client.is_model_ready(name, version)
            meta = client.get_model_metadata(name)
            assert meta["inputs"][0]["shape"] == [-1, 1, 28, 28] and meta["outputs"][0]["shape"] == [-1, 10], meta
            in_name, out_name = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
            tensor = triton_http.InferInput(in_name, [len(x), 784], "FP32")  # flat rows: still taken
            tensor.set_data_from_numpy(x.reshape(len(x), -1))
            result = client.infer(name, [tensor], outputs=[triton_http.InferRequestedOutput(out_name)])
            expected = bridge.OnnxModel(repo / name / version / "model.onnx", providers="cpu").predict(x)
            served = result.as_numpy(out_name)
            assert served.shape == expected.shape
            assert float(np.abs(served - expected).max()) <= 1e-5, name
        client.close()


def test_a_graph_with_two_inputs_and_outputs_keeps_dl4j_names_and_labels_the_matching_output(tmp_path):
    two = bridge.nets.graph(
        inputs={"left": 6, "right": 4},
        nodes={"both": (bridge.nets.Concat(), "left", "right"), "digit": (bridge.nets.Output(3), "both")}
        | {"odd": (bridge.nets.Output(2), "both")},
        outputs=["digit", "odd"],
    )
    report = bridge.export_triton(two, tmp_path, name="two", labels=["a", "b", "c"])
    config = _config(report.config)
    model = onnx.load(str(report.model))
    assert [(i.name, list(i.dims)) for i in config.input] == [
        (i.name, d) for i, d in zip(model.graph.input, [[6], [4]])
    ]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [
        (model.graph.output[0].name, [3], "labels.txt"),  # the output one class per label wide
        (model.graph.output[1].name, [2], ""),
    ]
