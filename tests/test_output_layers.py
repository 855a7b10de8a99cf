"""Output layers for each kind of target: classes (softmax + MCXENT), regression (identity + MSE / L1 / MAE) and
multi-label (sigmoid + binary cross-entropy). DL4J must get the configured activation and loss (its own score of a
batch equals the loss computed in numpy) and the networks export to ONNX with parity."""

from __future__ import annotations

import numpy as np
import pytest

import bridge
from bridge import nets
from bridge.errors import DataError
from bridge.jvm import jclass
from bridge.jvm.arrays import to_indarray


def _mse(p, y):
    return np.mean((p - y) ** 2, axis=1)  # DL4J's LossMSE: squared error summed, divided by nOut


def _l1(p, y):
    return np.sum(np.abs(p - y), axis=1)


def _mae(p, y):
    return np.mean(np.abs(p - y), axis=1)


def _xent(p, y):
    return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)


def _mcxent(p, y):
    return -np.sum(y * np.log(p), axis=1)


def _targets(kind: str, n: int, units: int, rng) -> np.ndarray:
    if kind == "one-hot":
        return np.eye(units, dtype=np.float32)[rng.integers(0, units, n)]
    if kind == "multi-label":
        return (rng.random((n, units)) < 0.4).astype(np.float32)
    return rng.normal(size=(n, units)).astype(np.float32)


CASES = {  # id: (spec, activation class, loss class, numpy loss per example, target kind)
    "softmax-mcxent": (nets.Output(4), "ActivationSoftmax", "LossMCXENT", _mcxent, "one-hot"),
    "keras-categorical": (
        nets.Output(4, loss="categorical_crossentropy"),
        "ActivationSoftmax",
        "LossMCXENT",
        _mcxent,
        "one-hot",
    ),
    "regression-mse": (nets.RegressionOutput(3), "ActivationIdentity", "LossMSE", _mse, "real"),
    "regression-l1": (nets.RegressionOutput(3, loss="l1"), "ActivationIdentity", "LossL1", _l1, "real"),
    "regression-mae": (nets.RegressionOutput(2, loss="mae"), "ActivationIdentity", "LossMAE", _mae, "real"),
    "multi-label": (nets.MultiLabelOutput(5), "ActivationSigmoid", "LossBinaryXENT", _xent, "multi-label"),
    "keras-binary": (
        nets.Output(5, activation="sigmoid", loss="binary_crossentropy"),
        "ActivationSigmoid",
        "LossBinaryXENT",
        _xent,
        "multi-label",
    ),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request, rng):
    spec, activation, loss, numpy_loss, kind = CASES[request.param]
    net = nets.sequential([nets.Dense(16, "tanh"), spec], input_shape=8, seed=3)
    x = rng.normal(size=(32, 8)).astype(np.float32)
    return net, spec, activation, loss, numpy_loss, x, _targets(kind, len(x), spec.units, rng)


def test_dl4j_gets_the_configured_activation_and_loss(case):
    net, spec, activation, loss, *_ = case
    layer = net.java.getLayerWiseConfigurations().getConf(1).getLayer()
    assert str(layer.getActivationFn().getClass().getSimpleName()) == activation
    assert str(layer.getLossFn().getClass().getSimpleName()) == loss
    assert int(layer.getNOut()) == spec.units


def test_dl4j_score_is_the_loss_computed_in_numpy(case):
    net, _, _, _, numpy_loss, x, y = case
    predictions = bridge.predict(net, x).astype(np.float64)
    data_set = jclass("org.nd4j.linalg.dataset.DataSet")(to_indarray(x), to_indarray(y))
    expected = float(np.mean(numpy_loss(predictions, y.astype(np.float64))))
    assert float(net.java.score(data_set)) == pytest.approx(expected, rel=1e-5)


def test_exports_to_onnx_with_parity(case, tmp_path):
    net, *_, x, _ = case
    path = tmp_path / "net.onnx"
    report = bridge.export_onnx(net, path, sample=x)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5, report
    onnx_out = bridge.OnnxModel(path, providers="cpu").predict(x)
    np.testing.assert_allclose(onnx_out, bridge.predict(net, x), atol=1e-5)


def test_graph_with_a_regression_and_a_multi_label_head_exports_with_parity(rng, tmp_path):
    net = nets.graph(
        inputs={"features": 6},
        nodes={
            "hidden": (nets.Dense(12), "features"),
            "value": (nets.RegressionOutput(1), "hidden"),
            "tags": (nets.MultiLabelOutput(3), "hidden"),
        },
        outputs=["value", "tags"],
        seed=5,
    )
    x = rng.normal(size=(16, 6)).astype(np.float32)
    report = bridge.export_onnx(net, tmp_path / "g.onnx", sample=x)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5, report
    out = bridge.predict(net, x)
    assert out["value"].shape == (16, 1) and out["tags"].shape == (16, 3)
    assert ((out["tags"] > 0) & (out["tags"] < 1)).all()


def test_dl4j_loss_names_still_work_and_unknown_names_list_the_choices():
    layer = nets.Output(3, loss="NEGATIVELOGLIKELIHOOD").to_java()
    assert str(layer.getLossFn().getClass().getSimpleName()) == "LossNegativeLogLikelihood"
    with pytest.raises(DataError, match="loss='crossentropy'.*mse, mean_squared_error.*binary_crossentropy"):
        nets.Output(3, loss="crossentropy").to_java()


def test_regression_output_learns_real_valued_targets(rng):
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = (x @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 1.0], [-1.0, 0.5]], np.float32) + 0.3).astype(np.float32)
    net = nets.sequential(
        [nets.Dense(16, "tanh"), nets.RegressionOutput(2)], input_shape=4, updater=nets.Adam(0.01), seed=2
    )
    before = float(np.mean((bridge.predict(net, x) - y) ** 2))
    bridge.fit(net, x, y, epochs=15, batch_size=32, progress=False)
    after = float(np.mean((bridge.predict(net, x) - y) ** 2))
    assert after < before / 20, f"MSE {before:.3f} -> {after:.3f}"


def test_multi_label_output_learns_independent_labels(rng):
    x = rng.normal(size=(512, 5)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < -0.5], axis=1).astype(np.float32)
    net = nets.sequential(
        [nets.Dense(16, "relu"), nets.MultiLabelOutput(3)], input_shape=5, updater=nets.Adam(0.01), seed=2
    )
    bridge.fit(net, x, y, epochs=15, batch_size=32, progress=False)
    predicted = bridge.predict(net, x) > 0.5
    accuracy = (predicted == y.astype(bool)).mean(axis=0)
    assert (accuracy > 0.9).all(), f"per-label accuracy {accuracy}"
    assert y.sum(axis=1).max() >= 2  # several labels on at once: not a softmax problem
