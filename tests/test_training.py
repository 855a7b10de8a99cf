import json
import os
import zipfile

import numpy as np
import pytest

import bridge
from bridge import nets
from bridge.errors import DataError, ModelFileError, ShapeError


@pytest.fixture(scope="module")
def trained_mlp(mnist):
    x_train, y_train, _, _ = mnist
    net = nets.mlp(seed=7)
    history = bridge.fit(net, x_train, y_train, epochs=2, batch_size=64, seed=7, progress=False)
    return net, history


def test_mlp_learns_real_digits(trained_mlp, mnist):
    net, history = trained_mlp
    assert [h.epoch for h in history] == [1, 2]
    assert history[1].loss < history[0].loss
    assert history[0].samples_per_sec > 0
    assert bridge.evaluate(net, mnist[2], mnist[3]).accuracy >= 0.88


@pytest.mark.slow
def test_lenet_reaches_95_percent_on_mnist_in_5_epochs(mnist):
    """The foundation issue's bar: LeNet, 5 epochs, 1,000 held-out digits."""
    x_train, y_train, x_test, y_test = mnist
    net = nets.lenet(seed=42)
    history = bridge.fit(
        net, x_train, y_train, epochs=5, batch_size=64, seed=42, validation=(x_test, y_test), progress=False
    )
    assert history[-1].val_accuracy >= 0.95
    assert bridge.evaluate(net, x_test, y_test).accuracy == pytest.approx(history[-1].val_accuracy)


def test_evaluation_matches_an_independent_numpy_computation(trained_mlp, mnist):
    net, _ = trained_mlp
    x_test, y_test = mnist[2], mnist[3]
    result = bridge.evaluate(net, x_test, y_test)
    predicted = bridge.predict(net, x_test).argmax(axis=1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y_test, predicted), 1)
    np.testing.assert_array_equal(result.confusion, confusion)
    assert result.accuracy == pytest.approx((predicted == y_test).mean())
    recall = np.diag(confusion) / confusion.sum(axis=1)
    np.testing.assert_allclose(result.recall, recall, atol=1e-9)
    assert result.f1.shape == (10,) and "Accuracy" in result.report


def test_predict_returns_probabilities_for_flat_and_image_shaped_input(trained_mlp, mnist):
    net, _ = trained_mlp
    probabilities = bridge.predict(net, mnist[2][:50])
    assert probabilities.shape == (50, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    lenet = nets.lenet(seed=1)
    flat = bridge.predict(lenet, mnist[2][:8])
    np.testing.assert_array_equal(bridge.predict(lenet, mnist[2][:8].reshape(8, 1, 28, 28)), flat)


def test_same_seed_gives_the_same_network(mnist):
    x, y = mnist[0][:600], mnist[1][:600]
    params = []
    for _ in range(2):
        net = nets.sequential([nets.Dense(32, dropout=0.2), nets.Output(10)], 784, seed=3)
        bridge.fit(net, x, y, epochs=1, batch_size=50, seed=3, progress=False)
        params.append(bridge.to_numpy(net.java.params()))
    np.testing.assert_array_equal(params[0], params[1])
    other = nets.sequential([nets.Dense(32, dropout=0.2), nets.Output(10)], 784, seed=4)
    assert not np.array_equal(bridge.to_numpy(other.java.params()), params[0][: int(other.java.numParams())])


def test_save_and_load_round_trip(trained_mlp, mnist, tmp_path):
    net, _ = trained_mlp
    path = bridge.save(net, tmp_path / "models" / "mlp.zip")
    loaded = bridge.load(path)
    assert loaded.name == "mlp"
    np.testing.assert_array_equal(bridge.predict(loaded, mnist[2][:100]), bridge.predict(net, mnist[2][:100]))
    assert [p.name for p in path.parent.iterdir()] == ["mlp.zip"]  # no temp file left behind


def test_failed_save_leaves_the_previous_model_intact(trained_mlp, tmp_path, monkeypatch):
    net, _ = trained_mlp
    path = bridge.save(net, tmp_path / "model.zip")
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        bridge.save(nets.mlp(seed=99), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_a_network_built_in_java_is_accepted_everywhere(mnist, tmp_path):
    """A raw MultiLayerNetwork (as a Java team would build it), with no bridge wrapper."""
    from bridge.jvm import jclass

    conf = (
        jclass("org.deeplearning4j.nn.conf.NeuralNetConfiguration$Builder")()
        .seed(5)
        .updater(jclass("org.nd4j.linalg.learning.config.Adam")(1e-3))
        .list(
            jclass("org.deeplearning4j.nn.conf.layers.DenseLayer$Builder")()
            .nIn(784)
            .nOut(64)
            .activation(jclass("org.nd4j.linalg.activations.Activation").RELU)
            .build(),
            jclass("org.deeplearning4j.nn.conf.layers.OutputLayer$Builder")()
            .nIn(64)
            .nOut(10)
            .activation(jclass("org.nd4j.linalg.activations.Activation").SOFTMAX)
            .build(),
        )
        .build()
    )
    raw = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(conf)
    raw.init()
    bridge.fit(raw, mnist[0], mnist[1], epochs=1, progress=False)
    assert bridge.evaluate(raw, mnist[2], mnist[3]).accuracy > 0.8
    assert bridge.predict(raw, mnist[2][:3]).shape == (3, 10)
    restored = bridge.load(bridge.save(raw, tmp_path / "raw.zip"))
    np.testing.assert_array_equal(bridge.predict(restored, mnist[2][:5]), bridge.predict(raw, mnist[2][:5]))


@pytest.fixture(scope="module")
def small_net():
    return nets.sequential([nets.Dense(8), nets.Output(10)], 784, seed=1)


def _bad_inputs(x, y):
    nan, inf = x[:10].copy(), x[:10].copy()
    nan[3, 5], inf[0, 0] = np.nan, np.inf
    return {
        "wrong-width": (x[:10, :700], y[:10], {}, ShapeError, r"shape \(n, 784\)"),
        "wrong-rank": (x[:10].reshape(10, 28, 28), y[:10], {}, ShapeError, "shape"),
        "int-images": ((x[:10] * 255).astype(np.uint8), y[:10], {}, DataError, "dtype float32"),
        "nan": (nan, y[:10], {}, DataError, r"NaN.*index \(3, 5\)"),
        "inf": (inf, y[:10], {}, DataError, "NaN or infinite"),
        "label-too-big": (x[:10], np.full(10, 10), {}, DataError, r"\[0, 10\)"),
        "negative-label": (x[:10], np.full(10, -1), {}, DataError, r"\[0, 10\)"),
        "float-labels": (x[:10], y[:10].astype(np.float32), {}, DataError, "integer class indices"),
        "length-mismatch": (x[:10], y[:9], {}, ShapeError, "10 rows but y has 9"),
        "empty": (x[:0], y[:0], {}, DataError, "empty"),
        "batch-size-0": (x[:10], y[:10], {"batch_size": 0}, DataError, "batch_size"),
        "epochs-0": (x[:10], y[:10], {"epochs": 0}, DataError, "epochs"),
        "list-input": (x[:10].tolist(), y[:10], {}, DataError, "numpy array"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(np.zeros((20, 784), np.float32), np.zeros(20, int))))
def test_bad_training_input_raises_a_clear_python_error(small_net, mnist, case):
    x, y, kwargs, error, message = _bad_inputs(mnist[0], mnist[1])[case]
    with pytest.raises(error, match=message):
        bridge.fit(small_net, x, y, progress=False, **kwargs)


def test_the_jvm_survives_bad_input_that_reaches_it(small_net, mnist):
    """The refusals above stop in Python; this one is sent to DL4J itself (a 700-wide INDArray into a 784-input
    network): a bridge error comes back, and the JVM still answers, with the same output as before."""
    from bridge.errors import BridgeError, java_errors

    before = bridge.predict(small_net, mnist[2][:2])
    with pytest.raises(BridgeError, match=r"\w+(Exception|Error): "), java_errors("output"):
        small_net.java.output(bridge.to_indarray(mnist[2][:2, :700]))
    np.testing.assert_array_equal(bridge.predict(small_net, mnist[2][:2]), before)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "No model file"),
        (b"not a zip at all", "not a DL4J model zip"),
        ("truncated", "not a DL4J model zip"),
        ("wrong-zip", "no configuration.json"),
        ("conf-only", "not a readable DL4J MultiLayerNetwork zip"),
        ("graph-conf-only", "not a readable DL4J ComputationGraph zip"),
    ],
    ids=["missing", "garbage", "truncated", "zip-without-model", "conf-without-weights", "graph-conf-without-weights"],
)
def test_loading_a_bad_model_file_raises_model_file_error(trained_mlp, tmp_path, content, message):
    path = tmp_path / "model.zip"
    if content == "truncated":
        good = bridge.save(trained_mlp[0], tmp_path / "good.zip").read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif content == "wrong-zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
    elif content in ("conf-only", "graph-conf-only"):
        conf = {"confs": []} if content == "conf-only" else {"vertices": {}}
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("configuration.json", json.dumps(conf))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        bridge.load(path)


def test_non_network_arguments_are_refused():
    with pytest.raises(DataError, match="Expected a bridge Network"):
        bridge.predict("model.zip", np.zeros((1, 784), np.float32))


@pytest.mark.parametrize(
    "layer, message",
    [
        (nets.Dense(0), "units"),
        (nets.Conv2D(4, kernel=(3,)), "kernel"),
        (nets.Dense(4, activation="nope"), "activation"),
        (nets.Pool2D(kind="median"), "kind"),
    ],
    ids=["zero-units", "bad-kernel", "bad-activation", "bad-pooling"],
)
def test_bad_layer_settings_name_the_argument(layer, message):
    with pytest.raises(DataError, match=message):
        nets.sequential([layer, nets.Output(10)], (1, 28, 28))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epoch": 5}, r"unexpected keyword argument\(s\) epoch\. Valid: epochs, batch_size"),
        ({"callback": []}, r"unexpected keyword argument\(s\) callback\. .*callbacks.*averaging_frequency"),
        ({"averaging_frequency": 5}, r"Spark settings \(averaging_frequency\) without `spark`"),
        ({"validation": (None, None), "validation_data": (None, None)}, "both `validation` and `validation_data`"),
    ],
    ids=["typo", "unknown", "spark-setting-without-spark", "both-validation-names"],
)
def test_unknown_or_misplaced_fit_keywords_raise_type_error(mnist, kwargs, message):
    """A typo used to train one epoch quietly: extra keywords went to Spark's options and were dropped."""
    net = nets.mlp(seed=1)
    before = bridge.to_numpy(net.java.params())
    with pytest.raises(TypeError, match=message):
        bridge.fit(net, mnist[0][:64], mnist[1][:64], progress=False, **kwargs)
    np.testing.assert_array_equal(bridge.to_numpy(net.java.params()), before)  # nothing trained


def test_validation_data_is_keras_name_for_validation(mnist):
    x, y, xt, yt = mnist
    history = bridge.fit(nets.mlp(seed=1), x[:256], y[:256], progress=False, validation_data=(xt[:200], yt[:200]))
    assert 0 < history[0].val_accuracy <= 1
