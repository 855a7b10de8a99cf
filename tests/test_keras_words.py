"""What a Keras hand types first (bridge.model.keras_names): each spelling read onto DL4J's configuration, each
conflicting or ambiguous one refused by name, and real training where labels, losses and layouts change."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

import bridge
from bridge import callbacks, nets
from bridge.errors import BridgeError, DataError, ShapeError
from bridge.model.keras_names import LOSSES, UPDATERS

ROOT = Path(__file__).resolve().parents[1]


def _layers(net) -> list[dict]:
    """DL4J's own configuration JSON of each layer of a MultiLayerNetwork."""
    conf = json.loads(str(net.java.getLayerWiseConfigurations().toJson()))
    return [c["layer"] for c in conf["confs"]]


def _first(spec, input_shape=(1, 12, 12), **kwargs) -> dict:
    return _layers(nets.sequential([spec, nets.Output(3)], input_shape, **kwargs))[0]


# --- layer arguments -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        (nets.Conv2D(4, 3, padding="same"), {"convolutionMode": "Same", "kernelSize": [3, 3], "padding": [0, 0]}),
        (nets.Conv2D(4, 3, padding="valid"), {"convolutionMode": "Truncate"}),
        (nets.Conv2D(4, 3, padding="SAME"), {"convolutionMode": "Same"}),
        (nets.Conv2D(4, kernel_size=(3, 2)), {"kernelSize": [3, 2]}),
        (nets.Conv2D(filters=5, kernel_size=3), {"nout": 5, "kernelSize": [3, 3]}),
        (nets.Conv2D(4, 3, strides=2), {"stride": [2, 2]}),
        (nets.Conv2D(4, 3, strides=(2, 1)), {"stride": [2, 1]}),
        (nets.Conv2D(4, 3, dilation_rate=2), {"dilation": [2, 2]}),
        (nets.Conv2D(4, 3, use_bias=False), {"hasBias": False}),
        (nets.Conv2D(4, 3, 1, "same"), {"convolutionMode": "Same", "stride": [1, 1]}),  # Keras' positional order
        (nets.Conv2D(4, 3, padding=1), {"convolutionMode": "Truncate", "padding": [1, 1]}),  # DL4J's pixels stay
        (nets.Pool2D(pool_size=3), {"kernelSize": [3, 3], "stride": [3, 3]}),
        (nets.Pool2D(pool_size=3, strides=1), {"kernelSize": [3, 3], "stride": [1, 1]}),
        (nets.Pool2D(2, padding="same"), {"convolutionMode": "Same"}),
        (nets.Pool2D(2, padding="valid"), {"convolutionMode": "Truncate"}),
        (nets.Dense(6, use_bias=False), {"hasBias": False, "nout": 6}),
        (nets.BatchNorm(epsilon=1e-3, momentum=0.99), {"eps": 1e-3, "decay": 0.99}),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, dict) else "",
)
def test_keras_argument_spellings_set_dl4j_fields(spec, expected):
    layer = _first(spec, (1, 12, 12) if not isinstance(spec, nets.Dense) else 12)
    assert {k: layer[k] for k in expected} == expected, layer


def test_same_padding_keeps_the_image_size_in_the_built_network():
    net = nets.sequential([nets.Conv2D(4, 3, padding="same"), nets.Dense(2), nets.Output(3)], (1, 9, 7))
    assert _layers(net)[1]["nin"] == 4 * 9 * 7


@pytest.mark.parametrize(
    "activation, dl4j",
    [(None, "ActivationIdentity"), ("linear", "ActivationIdentity"), ("leaky_relu", "ActivationLReLU")],
)
def test_keras_activation_names(activation, dl4j):
    for spec in (nets.Dense(4, activation=activation), nets.Conv2D(2, 3, activation=activation)):
        shape = 12 if isinstance(spec, nets.Dense) else (1, 6, 6)
        assert _first(spec, shape)["activationFn"]["@class"].endswith(dl4j)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: nets.Conv2D(4, 3, kernel_size=3), r"both `kernel` and `kernel_size`"),
        (lambda: nets.Conv2D(4, kernel=3, kernel_size=3), r"both `kernel` and `kernel_size`"),
        (lambda: nets.Conv2D(4, 3, stride=2, strides=2), r"both `stride` and `strides`"),
        (lambda: nets.Conv2D(4, 3, dilation=2, dilation_rate=2), r"both `dilation` and `dilation_rate`"),
        (lambda: nets.Conv2D(4, 3, bias=False, use_bias=False), r"both `bias` and `use_bias`"),
        (lambda: nets.Conv2D(4, 3, mode="same", padding="same"), r"both `mode` and `padding`"),
        (lambda: nets.Pool2D(2, pool_size=2), r"both `kernel` and `pool_size`"),
        (lambda: nets.Pool2D(2, mode="truncate", padding="valid"), r"both `mode` and `padding`"),
        (lambda: nets.Dense(4, bias=True, use_bias=True), r"both `bias` and `use_bias`"),
        (lambda: nets.BatchNorm(eps=1e-3, epsilon=1e-3), r"both `eps` and `epsilon`"),
    ],
)
def test_both_spellings_of_one_argument_are_refused_by_name(make, message):
    with pytest.raises(TypeError, match=message):
        make()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: nets.Conv2D(4, 3, mode="valid"), r"DL4J calls Keras' 'valid' 'truncate'.*mode='valid'"),
        (lambda: nets.Pool2D(2, mode="valid"), r"DL4J calls Keras' 'valid' 'truncate'"),
        (lambda: nets.Conv2D(4, 3, mode="causal"), r"'causal' pads 1-d \(time\) convolutions only"),
        (lambda: nets.Conv2D(4, 3, padding="causal"), r"'causal' pads 1-d.*padding='causal'"),
        (lambda: nets.Conv2D(4, 3, padding="full"), r"invalid value for `padding`.*valid, same"),
    ],
)
def test_keras_words_dl4j_lacks_are_refused_naming_dl4j_word(make, message):
    with pytest.raises(DataError, match=message):
        nets.sequential([make(), nets.Output(3)], (1, 8, 8))


# --- updaters --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_updater_strings_build_dl4j_updaters_with_keras_default_learning_rates(name):
    dl4j_class, learning_rate = UPDATERS[name]
    updater = _first(nets.Dense(4), 12, updater=name.upper() if name == "adam" else name)["iupdater"]
    assert updater["@class"] == f"org.nd4j.linalg.learning.config.{dl4j_class}"
    assert updater.get("learningRate") == learning_rate  # AdaDelta has none


def test_keras_default_learning_rates_differ_from_the_classes_where_keras_does():
    assert _first(nets.Dense(4), 12, updater="rmsprop")["iupdater"]["learningRate"] == 1e-3
    assert _first(nets.Dense(4), 12, updater=nets.RmsProp())["iupdater"]["learningRate"] == 0.1


def test_updater_strings_reach_graphs_and_transfer():
    g = nets.graph(inputs={"x": 5}, nodes={"out": (nets.Output(2), "x")}, outputs="out", updater="sgd")
    conf = json.loads(str(g.java.getConfiguration().toJson()))
    assert conf["vertices"]["out"]["layerConf"]["layer"]["iupdater"]["@class"].endswith(".Sgd")
    tuned = bridge.transfer(nets.mlp(n_in=6, hidden=(4,), n_classes=3), freeze=0, updater="nadam")
    assert _layers(tuned)[-1]["iupdater"]["@class"].endswith(".Nadam")


@pytest.mark.parametrize("updater", ["adamw", "Adam(1e-3)", 0.01])
def test_unknown_updaters_are_refused_listing_the_names(updater):
    with pytest.raises(DataError, match=r"invalid value for `updater`.*adam, sgd, rmsprop|'adam', 'sgd'"):
        nets.sequential([nets.Output(3)], 4, updater=updater)


# --- losses and labels -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
        "binary_crossentropy",
        "mean_squared_logarithmic_error",
        "kld",
        "cosine_similarity",
    ],
)
def test_keras_loss_names_build_dl4j_loss_functions(loss):
    dl4j = LOSSES[loss]
    java_name = {"KL_DIVERGENCE": "LossKLD", "MEAN_SQUARED_LOGARITHMIC_ERROR": "LossMSLE"}.get(dl4j)
    expected = java_name or {
        "MCXENT": "LossMCXENT",
        "XENT": "LossBinaryXENT",
        "COSINE_PROXIMITY": "LossCosineProximity",
    }.get(dl4j)
    layer = _layers(nets.sequential([nets.Dense(4), nets.Output(3, loss=loss)], 5))[-1]
    assert layer["lossFn"]["@class"].endswith(expected), layer["lossFn"]


def test_binary_crossentropy_output_defaults_to_sigmoid_as_dl4j_requires():
    layer = _layers(nets.sequential([nets.Dense(4), nets.Output(1, loss="binary_crossentropy")], 5))[-1]
    assert layer["activationFn"]["@class"].endswith("ActivationSigmoid")
    layer = _layers(nets.sequential([nets.Dense(4), nets.Output(3)], 5))[-1]
    assert layer["activationFn"]["@class"].endswith("ActivationSoftmax")


def test_sparse_categorical_crossentropy_with_keras_spellings_trains_on_digits(mnist):
    x, y, xt, yt = mnist
    net = nets.sequential(
        [
            nets.Conv2D(8, kernel_size=3, strides=2, padding="same"),
            nets.Output(10, loss="sparse_categorical_crossentropy"),
        ],
        (1, 28, 28),
        updater="adam",
        seed=4,
    )
    bridge.fit(net, x[:2000], y[:2000], epochs=1, batch_size=32, verbose=0)
    assert bridge.evaluate(net, xt, yt).accuracy > 0.8


def test_binary_crossentropy_trains_on_one_dimensional_zero_one_labels(mnist):
    x, y, xt, yt = mnist
    net = nets.sequential([nets.Dense(16), nets.Output(1, loss="binary_crossentropy")], 784, updater="adam", seed=4)
    bridge.fit(net, x, (y == 0).astype(np.int64), epochs=2, batch_size=32, verbose=0)
    p = bridge.predict(net, xt)
    assert p.shape == (len(xt), 1) and ((p >= 0) & (p <= 1)).all()
    assert ((p[:, 0] > 0.5) == (yt == 0)).mean() > 0.95


def test_one_dimensional_float_targets_train_a_single_regression_output(mnist):
    """Keras' habit: y of shape (n,) for one regression output; the digit's value, as a float, from its pixels."""
    x, y, xt, yt = mnist
    net = nets.sequential([nets.Dense(32), nets.RegressionOutput(1)], 784, updater="adam", seed=4)
    history = bridge.fit(net, x, y.astype(np.float32), epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    error = np.abs(bridge.predict(net, xt)[:, 0] - yt).mean()
    baseline = np.abs(yt - y.mean()).mean()  # predicting the training mean
    assert error < 0.7 * baseline, (error, baseline)


def test_one_dimensional_float_targets_for_a_wide_output_are_refused():
    net = nets.sequential([nets.Dense(4), nets.RegressionOutput(3)], 5)
    with pytest.raises(DataError, match=r"1-d float targets fit an output of one unit only"):
        bridge.fit(net, np.zeros((4, 5), np.float32), np.zeros(4, np.float32), verbose=0)


# --- image layout ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28, 1), (64, 48, 4)])
def test_an_image_shape_keras_reads_channels_last_is_refused_showing_both_readings(shape):
    h, w, c = shape
    with pytest.raises(DataError) as raised:
        nets.sequential([nets.Conv2D(2, 3), nets.Output(3)], shape)
    message = str(raised.value)
    assert f"{h} channels of {w}x{c} images" in message and f"{h}x{w} images of {c} channel" in message
    assert "data_format='channels_last'" in message and f"input_shape={(c, h, w)}" in message


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 6, 7), (3, 9, 11), (4, 4, 4)])
def test_channels_first_shapes_stay_accepted(shape):
    net = nets.sequential([nets.Conv2D(2, 2), nets.Output(3)], shape)
    assert _layers(net)[0]["nin"] == shape[0]


def test_data_format_channels_first_keeps_an_ambiguous_shape_as_given():
    net = nets.sequential([nets.Conv2D(2, 3), nets.Output(3)], (32, 32, 3), data_format="channels_first")
    assert _layers(net)[0]["nin"] == 32


def test_graph_inputs_are_read_the_same_way():
    nodes = {
        "c": (nets.Conv2D(2, 3, padding="same"), "image"),
        "p": (nets.GlobalPool(), "c"),
        "o": (nets.Output(3), "p"),
    }
    with pytest.raises(DataError, match=r"inputs\['image'\]=\(16, 16, 3\).*data_format='channels_last'"):
        nets.graph(inputs={"image": (16, 16, 3)}, nodes=nodes, outputs="o")
    g = nets.graph(inputs={"image": (16, 16, 3)}, nodes=nodes, outputs="o", data_format="channels_last")
    assert g.input_shapes == {"image": (16, 16, 3)}
    assert bridge.predict(g, np.zeros((2, 16, 16, 3), np.float32)).shape == (2, 3)


def test_an_unknown_data_format_is_refused():
    with pytest.raises(DataError, match=r"`data_format`.*channels_first, channels_last"):
        nets.sequential([nets.Conv2D(2, 3), nets.Output(3)], (3, 8, 8), data_format="NHWC")


def _twin(data_format: str, shape):
    layers = [nets.Conv2D(8, 3, padding="same"), nets.GlobalPool("avg"), nets.Output(10)]
    return nets.sequential(layers, shape, data_format=data_format, updater="adam", seed=4)


def test_channels_last_trains_as_the_channels_first_twin_on_the_same_digits(mnist):
    """The NHWC network reads (n, H, W, C) digits as its NCHW twin (same seed, so the same weights) reads (n, C, H, W):
    the same outputs before and after the same training (global pooling keeps the weights layout-free)."""
    x, y, xt, _ = mnist
    first, last = _twin("channels_first", (1, 28, 28)), _twin("channels_last", (28, 28, 1))
    assert _layers(last)[0]["cnn2dDataFormat"] == "NHWC" and _layers(first)[0]["cnn2dDataFormat"] == "NCHW"
    assert last.input_shapes == {"input": (28, 28, 1)}
    initial = bridge.to_numpy(last.java.params()).copy()
    for net, shape in ((first, (-1, 1, 28, 28)), (last, (-1, 28, 28, 1))):
        bridge.fit(net, x[:1000].reshape(shape), y[:1000], epochs=1, batch_size=32, verbose=0)
    assert not np.allclose(bridge.to_numpy(last.java.params()), initial)
    # float sums in another order (NHWC kernels): differences of a few ulps, not of layout
    np.testing.assert_allclose(
        bridge.predict(last, xt[:200].reshape(-1, 28, 28, 1)), bridge.predict(first, xt[:200]), atol=1e-5
    )
    with pytest.raises(ShapeError, match=r"looks channels-first"):
        bridge.predict(last, xt[:2].reshape(-1, 1, 28, 28))


def test_a_channels_last_network_exports_an_nhwc_image_input_that_runtimes_hold_to(mnist, tmp_path):
    """Built channels-last from Keras-style arguments, trained on (n, H, W, C) digits, exported: the ONNX input is
    [N, 28, 28, 1]-shaped, OnnxModel answers NHWC arrays as DL4J does, and refuses the channels-first twin's arrays
    (the image-input contract, the other way round)."""
    x, y, xt, _ = mnist
    net = nets.sequential(
        [nets.Conv2D(4, kernel_size=3, padding="same"), nets.Pool2D(pool_size=2), nets.Output(10)],
        (28, 28, 1),
        data_format="channels_last",
        updater="adam",
        seed=7,
    )
    bridge.fit(net, x[:500].reshape(-1, 28, 28, 1), y[:500], epochs=1, batch_size=50, verbose=0)
    report = bridge.export_onnx(net, tmp_path / "nhwc.onnx")
    model = bridge.OnnxModel(str(report.path), providers="cpu")
    shape = onnx.load(str(report.path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in shape[1:]] == [28, 28, 1]
    images = xt[:64].reshape(-1, 28, 28, 1)
    np.testing.assert_allclose(model.predict(images), bridge.predict(net, images), atol=1e-5)
    with pytest.raises(BridgeError, match="transpose"):
        model.predict(xt[:2].reshape(-1, 1, 28, 28))


@pytest.mark.slow
def test_a_channels_last_cnn_learns_keras_shaped_digits(mnist):
    x, y, xt, yt = mnist
    net = nets.sequential(
        [nets.Conv2D(8, 3, padding="same"), nets.Pool2D(4), nets.Dense(32), nets.Output(10)],
        (28, 28, 1),
        data_format="channels_last",
        updater="adam",
        seed=4,
    )
    bridge.fit(net, x.reshape(-1, 28, 28, 1), y, epochs=1, batch_size=32, verbose=0)
    assert bridge.evaluate(net, xt.reshape(-1, 28, 28, 1), yt).accuracy > 0.7  # chance: 0.1


# --- summary, history, evaluation labels, progress -------------------------------------------------------------


def test_summary_prints_like_keras_and_str_is_the_same_text(capsys):
    net = nets.sequential([nets.Dense(4), nets.Output(3)], 5)
    assert net.summary() is None
    printed = capsys.readouterr().out
    assert "DenseLayer" in printed and printed.strip() == str(net).strip()


class _CtrlC(callbacks.Callback):
    """Sends SIGINT (Ctrl-C) to the main thread, where Python handles it, at the end of the second epoch, then holds
    the training thread a moment: on a loaded machine the main thread may otherwise be scheduled only after the
    remaining epochs (a few seconds of a tiny network) have run."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(1.0)


def test_an_interrupted_fit_keeps_its_history_on_the_network(mnist):
    # Python's own Ctrl-C handler: a library used earlier in this worker process (PySpark's SparkContext installs
    # one) may have left another in place; tests/test_interrupt.py checks Ctrl-C in fresh processes.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_and_check(mnist)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_and_check(mnist):
    x, y, _, _ = mnist
    net = nets.sequential([nets.Dense(8), nets.Output(10)], 784, seed=2)
    with pytest.raises(KeyboardInterrupt):
        bridge.fit(net, x[:500], y[:500], epochs=500, batch_size=50, verbose=0, callbacks=[_CtrlC()])
    assert net.history.interrupted and 2 <= len(net.history) < 500
    assert len(net.history.history["loss"]) == len(net.history)
    done = bridge.fit(net, x[:100], y[:100], epochs=1, verbose=0)
    assert net.history is done and not done.interrupted


def test_the_evaluation_report_names_the_network_classes(mnist):
    x, y, xt, yt = mnist
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    net = nets.sequential([nets.Dense(16), nets.Output(10)], 784, seed=2, labels=names)
    bridge.fit(net, x[:1000], y[:1000], epochs=1, verbose=0)
    result = bridge.evaluate(net, xt, yt)
    assert result.labels == tuple(names) and result.as_dict()["labels"] == names
    confusion = result.report.split("Confusion Matrix")[1]
    assert all(f"{i} = {name}" in confusion for i, name in enumerate(names)), confusion
    unnamed = bridge.evaluate(nets.sequential([nets.Dense(4), nets.Output(10)], 784), xt[:50], yt[:50])
    assert unnamed.labels is None and "0 = 0" in unnamed.report.split("Confusion Matrix")[1]


def test_a_notebook_without_ipywidgets_gets_the_text_bar_without_a_tqdm_warning():
    """A kernel's modules as a notebook has them (ipykernel's shell, IPython's get_ipython), ipywidgets absent: tqdm.auto
    itself warns there (checked first, so that the test can fail); the progress bar draws tqdm's text bar, silently."""
    script = textwrap.dedent(
        """
        import sys, types, warnings
        shell = types.ModuleType("ipykernel.zmqshell")
        class ZMQInteractiveShell: pass
        ipython = types.ModuleType("IPython")
        ipython.get_ipython = lambda: ZMQInteractiveShell()
        sys.modules.update({"ipykernel": types.ModuleType("ipykernel"), "ipykernel.zmqshell": shell,
                            "IPython": ipython, "ipywidgets": None})
        from bridge.train.callbacks import ProgressBar
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            bar = ProgressBar(1, 1, 100)
            bar.on_epoch_begin(0)
            bar.on_batch_end(0, {"samples": 50, "loss": 0.5})
            bar.on_epoch_end(0, {"loss": 0.4})
        print("OURS", type(bar).__name__, [str(w.message) for w in seen])
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            import tqdm.auto
        print("AUTO", [w.category.__name__ for w in seen])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )  # from the checkout's root: the bridge under test
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("OURS", "AUTO")))
    assert "TqdmWarning" in lines["AUTO"], done.stdout  # the situation is the notebook's
    assert lines["OURS"] == "ProgressBar []", done.stdout
    assert "epoch 1/1" in done.stderr and "100/100" in done.stderr
