"""`dl4j-bridge predict` on a user's inputs, `--help`, `--version`, `doctor`: checked against DL4J's own outputs
(models/vectors: the LeNet ONNX file and DL4J's probabilities for 1,000 MNIST test digits)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
LENET = VECTORS / "lenet" / "model.onnx"
N = 12


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "bridge", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def digits():
    """(uint8 images (N, 28, 28), DL4J's probabilities (N, 10)) from the shared vectors."""
    pixels = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 28, 28)[:N]
    dl4j = np.fromfile(VECTORS / "lenet" / "outputs.f32", "<f4").reshape(1000, 10)[:N]
    return pixels, dl4j


def _check_rows(rows, dl4j, sources):
    assert [r["source"] for r in rows] == sources
    np.testing.assert_array_equal([r["class"] for r in rows], dl4j.argmax(1))
    assert [r["label"] for r in rows] == [str(c) for c in dl4j.argmax(1)]
    np.testing.assert_allclose([r["probabilities"] for r in rows], dl4j, atol=1e-5)


def test_predict_a_folder_of_images_writes_per_row_json(digits, tmp_path):
    from PIL import Image

    pixels, dl4j = digits
    folder = tmp_path / "digits"
    folder.mkdir()
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"digit{i:02d}.png")
    (folder / "notes.txt").write_text("not an image: skipped")
    result = _cli("predict", LENET, folder, "--output", tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["providers"] and report["labels"] == [str(d) for d in range(10)]
    _check_rows(report["predictions"], dl4j, [f"digit{i:02d}.png" for i in range(N)])


def test_predict_one_inverted_jpeg_like_a_photo_of_paper(digits, tmp_path):
    from PIL import Image

    pixels, dl4j = digits
    Image.fromarray(255 - pixels[3]).resize((56, 56)).save(tmp_path / "paper.png")  # dark on white, 2x size
    result = _cli("predict", LENET, tmp_path / "paper.png", "--invert")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["predictions"]
    assert len(rows) == 1 and rows[0]["class"] == int(dl4j[3].argmax())


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-key"])
def test_predict_arrays_writes_csv(digits, tmp_path, kind):
    pixels, dl4j = digits
    x = pixels.reshape(N, 784).astype(np.float32) / np.float32(255)
    path = tmp_path / f"x.{kind[:3]}"
    extra = []
    if kind == "npy":
        np.save(path, x)
    elif kind == "npz":
        np.savez(path, x)
    else:
        np.savez(path, x_test=x, y_test=np.arange(N))
        extra = ["--key", "x_test"]
    result = _cli("predict", LENET, path, *extra, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(rows[0])[:3] == ["source", "class", "label"] and list(rows[0])[3:] == [f"p_{d}" for d in range(10)]
    _check_rows(
        [
            {
                "source": r["source"],
                "class": int(r["class"]),
                "label": r["label"],
                "probabilities": [float(r[f"p_{d}"]) for d in range(10)],
            }
            for r in rows
        ],
        dl4j,
        [f"{path.name}[{i}]" for i in range(N)],
    )


def test_predict_benchmark_keeps_the_latency_report():
    result = _cli("predict", LENET, "--data", "mnist", "--benchmark", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["accuracy"] > 0.9
        and report["latency_ms_p50"] > 0
        and report["latency_ms_p99"] >= report["latency_ms_p50"]
    )


def _hostile_inputs(tmp_path: Path) -> dict:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 784), np.float32), b=np.zeros((2, 784), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((2, 784), np.uint8))
    np.save(tmp_path / "huge.npy", np.full((2, 784), 1e300))
    np.save(tmp_path / "wide.npy", np.zeros((2, 700), np.float32))
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.txt").write_text("1,2,3")
    return {
        "broken-image": ([tmp_path / "broken.png"], "cannot be read as an image"),
        "pickled-npy": ([tmp_path / "objects.npy"], "pickled"),
        "npz-two-arrays": ([tmp_path / "two.npz"], "name the one to predict on with --key"),
        "npz-wrong-key": ([tmp_path / "two.npz", "--key", "c"], "--key"),
        "uint8-array": ([tmp_path / "ints.npy"], "dtype float32"),
        "overflowing-float64": ([tmp_path / "huge.npy"], "after the cast to float32"),
        "wrong-width": ([tmp_path / "wide.npy"], "shape"),
        "empty-folder": ([tmp_path / "empty"], "holds no image files"),
        "unknown-suffix": ([tmp_path / "x.txt"], "unknown input type"),
        "missing": ([tmp_path / "nope.npy"], "No input file"),
        "nothing": ([], "Nothing to predict on"),
        "json-without-benchmark": (["--data", "mnist", "--json"], "--json goes with --benchmark"),
        "output-is-a-folder": ([tmp_path / "wide.npy", "--output", tmp_path / "empty"], "shape|is a directory"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "broken-image",
        "pickled-npy",
        "npz-two-arrays",
        "npz-wrong-key",
        "uint8-array",
        "overflowing-float64",
        "wrong-width",
        "empty-folder",
        "unknown-suffix",
        "missing",
        "nothing",
        "json-without-benchmark",
        "output-is-a-folder",
    ],
)
def test_bad_predict_inputs_exit_1_with_a_message_and_no_traceback(tmp_path, case, capsys):
    """In-process (main() returns instead of raising: an escaping exception would fail the test)."""
    from bridge.cli.main import main

    args, message = _hostile_inputs(tmp_path)[case]
    assert main(["predict", str(LENET), *map(str, args)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dl4j-bridge predict: error: ") and re.search(message, err), err


def _actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {a}", h, d) for a, h, d in _actions(sub))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield "/".join(action.option_strings) or action.dest, action.help, action.default


def test_every_option_has_help_and_help_shows_defaults(capsys):
    from bridge.cli.main import _parser, main

    missing = [name for name, text, _ in _actions(_parser()) if not text]
    assert missing == []
    for command in ("train", "export", "predict", "doctor", "setup", "ui", "serve"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        text = capsys.readouterr().out
        assert exit_.value.code == 0 and "usage: dl4j-bridge " + command in text
        if command == "train":
            assert "(default: 64)" in text and "(default: 42)" in text and "examples:" in text


def test_version():
    from bridge.cli.doctor import _version

    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.strip().startswith(f"dl4j-bridge {_version()}")


def test_doctor_lists_only_providers_that_ran_here():
    from bridge.serve.runtime import _gpu_driver_missing

    result = _cli("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    usable = report["providers usable"].split(", ")
    assert "CPUExecutionProvider" in usable
    if _gpu_driver_missing():
        assert "CUDAExecutionProvider" not in usable and "TensorrtExecutionProvider" not in usable
        assert "cannot run: no NVIDIA driver" in report["CUDAExecutionProvider"]
    assert "5,000 digits" in report["dataset mnist"]
    assert report["service jar"].endswith("-service.jar") or report["service jar"].startswith("missing")
    assert "1.0.0-M2.1" in report["dl4j / nd4j"]
