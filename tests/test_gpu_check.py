"""The prepared GPU check (benchmarks/gpu_prepare, gpu_check, gpu_pack) on a machine without a GPU: the bundle's
seeded tensors reproduce and refuse drift, the parts fit a device call, and the whole command runs end to end
with ONNX Runtime's CPU provider standing in for CUDA, saying so in its results. Not marked `gpu`: nothing
here needs one; the GPU itself is measured by the same command on a lent GPU machine (gpu_check's docstring).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks import gpu_pack
from benchmarks.gpu_bundle import BundleError, digest, restore, seeded_images, seeded_tensor, strip
from bridge import OnnxModel
from bridge.serve.runtime import GPU_PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "models" / "vectors"


def test_seeded_draws_are_pinned():
    # Pinned bytes: the device machine draws these again with its own numpy (1.26.4 and 2.4.6 agree). A change
    # here means bundles made before it no longer restore: gpu_bundle.restore would refuse them by SHA-256.
    assert digest(seeded_tensor(1, (4, 5), 0.5)) == "96bc96ba065735db587ece44efaf8610cef41efe814804eb26778a720bf50d59"
    assert digest(seeded_images(7, 2, (3, 9, 10))) == "d0bb3c194b8de9f7e5dc4372ff0406cd8f5ff8ffaafab74e5ef0f62ed5a616c5"
    assert np.array_equal(seeded_images(7, 5, (3, 9, 10))[:2], seeded_images(7, 2, (3, 9, 10)))  # batches are prefixes
    w = seeded_tensor(3, (256, 256), 0.5)
    assert w.dtype == np.float32 and -0.5 <= w.min() and w.max() < 0.5 and abs(w.std() - 0.5 / 3**0.5) < 0.01


def _matmul_model(w: np.ndarray, b: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, w.shape[1]])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(graph)


def test_strip_keeps_unseeded_tensors_and_restore_refuses_drift():
    w, b = seeded_tensor(11, (64, 128), 0.2), np.arange(128, dtype=np.float32)
    skeleton, entries = strip(_matmul_model(w, b), {digest(w): (11, 0.2)})
    assert [t.name for t in skeleton.graph.initializer] == ["b"] and [e["name"] for e in entries] == ["w"]
    restored = {t.name: numpy_helper.to_array(t) for t in restore(skeleton, entries).graph.initializer}
    assert np.array_equal(restored["w"], w) and np.array_equal(restored["b"], b)
    entries[0]["seed"] = 12
    with pytest.raises(BundleError, match="does not reproduce"):
        restore(skeleton, entries)


def test_parts_fit_a_device_call(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_pack, "CARRY_LIMIT", 10 * 2**20)
    monkeypatch.setattr(gpu_pack, "MARGIN", 2**20)
    archive = tmp_path / "ort.tar.xz"
    archive.write_bytes(np.random.default_rng(0).bytes(20 * 2**20 + 5))
    tree, bundle = 3 * 2**20, 2**20
    parts = gpu_pack.split(archive, tree, bundle, root=tmp_path)
    sizes = [p.stat().st_size for p in parts]
    assert sum(sizes) == archive.stat().st_size
    assert b"".join(p.read_bytes() for p in parts) == archive.read_bytes()
    assert all(tree + s <= 9 * 2**20 for s in sizes) and tree + sizes[-1] + bundle <= 9 * 2**20
    assert [p.parent.name for p in parts] == [f".whl{i}" for i in range(1, len(parts) + 1)]


def test_auto_names_what_runs_and_why_the_gpu_providers_do_not():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" reports through .providers and .skipped, not warnings
        model = OnnxModel(VECTORS / "mlp" / "model.onnx", providers="auto")
    assert model.providers[-1] == "CPUExecutionProvider"
    for provider in GPU_PROVIDERS:
        if provider not in model.providers:
            why = model.skipped[provider]
            assert ".so" in why or "not in this onnxruntime build" in why, why  # names the missing library


def test_gpu_check_runs_end_to_end_with_the_cpu_standing_in(tmp_path):
    from benchmarks.gpu_prepare import prepare

    bundle, out = tmp_path / "bundle", tmp_path / "out" / "gpu_check.json"
    manifest = prepare(bundle, ["mobilenet-v1-32"])
    assert manifest["families"]["mobilenet-v1-32"]["seeded_tensors"] > 0
    command = [sys.executable, "-m", "benchmarks.gpu_check", "--bundle", str(bundle), "--stand-in"]
    command += ["--batches", "1", "8", "--budget-s", "2", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "STAND-IN" in result.stdout
    report = json.loads(out.read_text())
    assert report["stand_in"] is True and "STAND-IN" in report["note"] and "STAND-IN" in report["markdown"]
    assert report["ok"] is True
    family = report["families"]["mobilenet-v1-32"]
    assert family["gpu_providers"] == ["CPUExecutionProvider"]
    assert [row["batch"] for row in family["batches"]] == [1, 8]
    for row in family["batches"]:
        assert row["gpu_vs_cpu_max_abs"] <= 1e-4
        assert row["gpu"]["median_s"] > 0 and row["cpu"]["median_s"] > 0 and row["gpu"]["runs"] >= 3
    assert family["gpu_vs_dl4j_max_abs"] <= 1e-4 and family["cpu_vs_dl4j_max_abs"] <= 1e-4
    assert "CPUExecutionProvider" in report["providers"]["auto_runs_on"]
    assert report["providers"]["doctor"]["CPUExecutionProvider"] == "usable"
