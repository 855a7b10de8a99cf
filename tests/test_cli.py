import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the fixtures train (LeNet-sized runs through the CLI)


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = _cli(
        "train",
        "--model",
        "mlp",
        "--data",
        "mnist",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_train_writes_model_metrics_and_plot(trained_run):
    out, result = trained_run
    assert "test accuracy" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.88
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert all(h["loss"] > 0 and 0 < h["val_accuracy"] <= 1 for h in metrics["history"])
    assert metrics["samples_per_sec"] > 0 and metrics["wall_seconds"] > 0
    assert len(metrics["evaluation"]["confusion"]) == 10
    assert sum(map(sum, metrics["evaluation"]["confusion"])) == 1000
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.zip").stat().st_size > 100_000
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.zip", "metrics.json", "model.zip", "training.png"]
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == 2  # the plot's per-epoch points; its per-iteration curve is checked in test_plots


def test_trained_model_file_loads_back(trained_run, mnist):
    import bridge

    out, _ = trained_run
    net = bridge.load(out / "model.zip")
    assert bridge.evaluate(net, mnist[2], mnist[3]).accuracy >= 0.88
    assert net.labels == tuple("0123456789")


def test_doctor_reports_versions():
    result = _cli("doctor")
    assert result.returncode == 0, result.stderr
    for expected in ("1.0.0-M2.1", "3.5.6", "1.31.1", "CPUExecutionProvider", "java"):
        assert expected in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "mlp", "--data", "no-such-data", "--out", "/tmp/x"], "Unknown dataset"),
        (["train", "--model", "mlp", "--data", "mnist", "--epochs", "0", "--out", "/tmp/x"], "epochs"),
        (["train", "--model", "resnet50", "--data", "mnist", "--out", "/tmp/x"], "invalid choice"),
        (["train", "--model", "mlp", "--data", "mnist", "--image-size", "32", "--out", "/tmp/x"], "image folder only"),
    ],
    ids=["unknown-data", "zero-epochs", "unknown-model", "image-size-without-image-folder"],
)
def test_bad_arguments_exit_nonzero_with_a_message(args, message):
    result = _cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def residual_run(tmp_path_factory):
    """`train --model resnet_small` (a ComputationGraph taking (n, 1, 28, 28) digits), then `export`."""
    out = tmp_path_factory.mktemp("resnet")
    result = _cli(
        "train",
        "--model",
        "resnet_small",
        "--data",
        "mnist",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--seed",
        "5",
        "--no-progress",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exported = _cli("export", str(out / "model.zip"), str(out / "model.onnx"))
    assert exported.returncode == 0, exported.stderr[-3000:]
    return out, exported


def test_residual_graph_trains_exports_and_predicts_from_the_cli(residual_run):
    out, exported = residual_run
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] >= 0.85
    diff = float(exported.stdout.split("max abs diff vs DL4J ")[1].split(",")[0])
    assert diff <= 1e-5
    predicted = _cli("predict", str(out / "model.onnx"), "--data", "mnist", "--benchmark", "--json")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert json.loads(predicted.stdout)["accuracy"] >= 0.85


def test_serve_answers_what_python_onnx_runtime_answers_for_a_graph(residual_run, mnist):
    from bridge.serve.runtime import OnnxModel
    from bridge.serve.service import JavaService, ServiceClient

    out, _ = residual_run
    x = mnist[2][:64]
    expected = OnnxModel(out / "model.onnx").predict(x.reshape(-1, 1, 28, 28))
    with JavaService(out / "model.onnx", port=0, threads=2) as service:
        client = ServiceClient(service.url)
        probs, classes = client.predict(x)
        _, json_classes = client.predict(x[:8], binary=False)
        client.close()
    assert probs.shape == expected.shape == (64, 10)
    assert float(np.max(np.abs(probs - expected))) <= 1e-5
    np.testing.assert_array_equal(classes, expected.argmax(1))
    np.testing.assert_array_equal(json_classes, expected[:8].argmax(1))


def _image_folder(root):
    """Two classes of 5 RGB PNGs, 20 x 24 pixels: a bright square top-left ("left") or bottom-right ("right")."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, corner in (("left", (slice(2, 10), slice(2, 10))), ("right", (slice(10, 18), slice(14, 22)))):
        (root / label).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 60, (20, 24, 3), dtype=np.uint8)
            pixels[corner] = 230
            Image.fromarray(pixels, "RGB").save(root / label / f"{i}.png")
    return root


def test_train_on_an_image_folder_then_export_and_predict_its_images(tmp_path):
    import bridge

    images, out = _image_folder(tmp_path / "shapes"), tmp_path / "run"
    trained = _cli(
        "train", "--model", "lenet", "--data", str(images), "--image-size", "16", "--color", "rgb",
        "--epochs", "1", "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "2 classes, 16x16x3" in trained.stdout and "8 train / 2 test" in trained.stdout, trained.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["left", "right"] and (metrics["n_train"], metrics["n_test"]) == (8, 2)

    net = bridge.load(out / "model.zip")
    assert net.labels == ("left", "right")
    files = sorted((images / "right").iterdir())
    x = np.stack([bridge.data.decode_image(f, 3, (16, 16)).transpose(2, 0, 1) for f in files])
    probabilities = bridge.predict(net, x)
    assert probabilities.shape == (5, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)

    # The same model through ONNX: `predict` resizes the 20 x 24 PNGs to the 16 x 16 RGB the model takes.
    assert _cli("export", str(out / "model.zip"), str(out / "model.onnx")).returncode == 0
    predicted = _cli("predict", str(out / "model.onnx"), str(images / "right"))
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = {row["source"]: row for row in json.loads(predicted.stdout)["predictions"]}
    assert {Path(source).name for source in rows} == {f.name for f in files}
    assert {row["label"] for row in rows.values()} <= {"left", "right"}
    by_file = [next(row for source, row in rows.items() if Path(source).name == f.name) for f in files]
    np.testing.assert_allclose([row["probabilities"] for row in by_file], probabilities, atol=1e-4)
