import json
import subprocess
import sys

import pytest


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = _cli("train", "--model", "mlp", "--data", "mnist", "--epochs", "2", "--batch-size", "32",
                  "--seed", "3", "--out", str(out))
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
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.zip", "training.png"]


def test_trained_model_file_loads_back(trained_run, mnist):
    import bridge

    out, _ = trained_run
    net = bridge.load(out / "model.zip")
    assert bridge.evaluate(net, mnist[2], mnist[3]).accuracy >= 0.88
    assert net.labels == tuple("0123456789")


def test_doctor_reports_versions():
    result = _cli("doctor")
    assert result.returncode == 0, result.stderr
    for expected in ("1.0.0-M2.1", "3.5.7", "1.31.1", "CPUExecutionProvider", "java"):
        assert expected in result.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "mlp", "--data", "no-such-data", "--out", "/tmp/x"], "Unknown dataset"),
    (["train", "--model", "mlp", "--data", "mnist", "--epochs", "0", "--out", "/tmp/x"], "epochs"),
    (["train", "--model", "resnet", "--data", "mnist", "--out", "/tmp/x"], "invalid choice"),
], ids=["unknown-data", "zero-epochs", "unknown-model"])
def test_bad_arguments_exit_nonzero_with_a_message(args, message):
    result = _cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
