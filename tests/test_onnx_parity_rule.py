"""The export's parity rule: ONNX Runtime (float32) within max(1e-5, 2 x DL4J float32's own error) of the exact
answer (DL4J run in float64), whatever the user's tolerance; real DL4J and ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from dl4j_builders import dense, feed_forward_input, output, sequential
from onnx import numpy_helper

import bridge
from bridge.errors import ParityError
from bridge.nets import as_java
from bridge.onnx import to_onnx
from bridge.onnx.export import Parity, parity, parity_limit
from bridge.onnx.registry import LAYERS, Converter

DENSE = "org.deeplearning4j.nn.conf.layers.DenseLayer"


def test_the_rule_in_numbers():
    assert parity_limit(3e-5) == pytest.approx(6e-5)
    assert parity_limit(1e-7) == 1e-5  # the floor
    assert parity_limit(0.0, largest=1000.0) == pytest.approx(2 * float(np.spacing(np.float32(1000))))
    assert Parity("out", onnx_error=5e-5, dl4j_error=3e-5, max_abs_diff=4e-5).problem() is None
    assert Parity("out", onnx_error=9e-6, dl4j_error=0.0, max_abs_diff=9e-6).problem() is None
    too_far = Parity("out", onnx_error=7e-5, dl4j_error=3e-5, max_abs_diff=5e-5)
    message = too_far.problem()
    assert "7e-05" in message and "3e-05" in message and "6e-05" in message and "'out'" in message
    assert too_far.problem(tolerance=1.0) is not None  # a loose tolerance never loosens the rule
    assert Parity("out", 5e-5, 3e-5, 4e-5).problem(tolerance=1e-5) is not None  # it can tighten it


def deep_net(depth: int = 24, gain: float = 1.1):
    """24 identity dense layers whose activations grow to ~300: float32 rounding adds up to ~1e-4 in DL4J and
    in ONNX Runtime alike, each in its own summation order."""
    net = sequential(
        [dense(64, "identity") for _ in range(depth)] + [output(8, "identity", "MSE")], feed_forward_input(32)
    )
    rng, java = np.random.default_rng(depth), as_java(net)
    for key, value in dict(java.paramTable()).items():
        shape = tuple(int(d) for d in value.shape())
        weights = rng.normal(0, gain / np.sqrt(shape[0]), shape).astype(np.float32)
        java.setParam(str(key), bridge.to_indarray(weights))
    return net, rng.normal(0, 10, (16, 32)).astype(np.float32)


def test_a_correct_deep_net_passes_beyond_1e_5(tmp_path):
    net, x = deep_net()
    report = bridge.export_onnx(net, tmp_path / "deep.onnx", sample=x)
    assert report.path.exists()
    assert report.max_abs_diff > 1e-5 and report.onnx_error > 1e-5  # the old absolute 1e-5 refused this
    assert report.onnx_error <= max(1e-5, 2 * report.dl4j_error)
    # The exact answer really is DL4J in float64: DL4J float32 is off it by its own rounding only.
    assert 1e-5 < report.dl4j_error < 1e-3


def test_perturbed_weights_in_the_onnx_file_fail_whatever_the_tolerance():
    net, x = deep_net()
    model = to_onnx(net)
    weights = next(t for t in model.graph.initializer if t.name == "layer3/W")
    weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) * np.float32(1 + 2e-5), weights.name))
    (checked,) = parity(net, model.SerializeToString(), x)
    assert checked.max_abs_diff < 1e-2  # an absolute tolerance of 1e-2 would have let it through
    assert checked.onnx_error > checked.limit
    assert checked.problem(tolerance=1e-2) is not None and checked.problem(tolerance=1.0) is not None
    onnx.checker.check_model(model)  # a valid file, just wrong


def test_a_wrong_converter_is_refused_even_with_a_loose_tolerance(tmp_path, monkeypatch):
    right = LAYERS[DENSE]

    def slightly_wrong(g, conf, params, x):  # the bias rounded to 3 decimals: a plausible converter bug
        return right.convert(g, conf, {**params, "b": np.round(params["b"], 3)}, x)

    net, x = deep_net()
    as_java(net).setParam("2_b", bridge.to_indarray(np.full((1, 64), 0.1234567, np.float32)))
    monkeypatch.setitem(LAYERS, DENSE, Converter(DENSE, slightly_wrong, right.check))
    target = tmp_path / "deep.onnx"
    with pytest.raises(ParityError, match=r"off the exact answer \(DL4J in float64\).*nothing was written"):
        bridge.export_onnx(net, target, sample=x, tolerance=0.5)
    assert not target.exists()
