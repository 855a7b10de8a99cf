"""Keras-shaped callbacks and fit() keywords, on real DL4J training of real digits / Fashion-MNIST."""

from __future__ import annotations

import csv

import jpype
import numpy as np
import pytest

import bridge
from bridge import callbacks, data, nets
from bridge.errors import DataError, ShapeError


@pytest.fixture(scope="module")
def fashion_slice():
    x, y, xt, yt = data.load("fashion-mnist")
    return x[:600], y[:600], xt[:300], yt[:300]


def _params(net):
    return bridge.to_numpy(net.java.params()).copy()


@pytest.mark.slow
def test_early_stopping_stops_when_val_loss_stalls_and_restores_the_best_epoch(fashion_slice, tmp_path):
    """The seed's "stop at convergence", on a slice: LeNet over-fits 600 images within a few epochs."""
    x, y, xv, yv = fashion_slice
    net = nets.lenet(seed=3, learning_rate=3e-3)
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    every = callbacks.ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.zip", monitor="val_loss")
    history = bridge.fit(
        net, x, y, epochs=30, batch_size=32, validation_data=(xv, yv), verbose=0, callbacks=[every, stop]
    )
    val_loss = history.history["val_loss"]
    assert stop.stopped_epoch is not None and len(history) < 30, "no early stop within 30 epochs"
    best = int(np.argmin(val_loss))
    assert stop.best_epoch == best and len(history) == best + 1 + 2  # patience 2 after the best epoch
    assert min(val_loss[best + 1 :]) >= val_loss[best]
    best_checkpoint = bridge.load(tmp_path / f"ckpt-{best + 1:02d}.zip")
    np.testing.assert_array_equal(_params(net), _params(best_checkpoint))
    assert not np.array_equal(_params(net), _params(bridge.load(tmp_path / f"ckpt-{len(history):02d}.zip")))


def test_model_checkpoint_best_only_every_n_and_pattern(mnist, tmp_path):
    x, y, xt, yt = mnist
    best = callbacks.ModelCheckpoint(
        tmp_path / "best-{epoch}-{val_accuracy:.2f}.zip", monitor="val_accuracy", save_best_only=True
    )
    second = callbacks.ModelCheckpoint(tmp_path / "every2-{epoch}.zip", every_n_epochs=2)
    history = bridge.fit(
        nets.mlp(hidden=(32,), seed=2),
        x[:512],
        y[:512],
        epochs=4,
        validation_data=(xt[:200], yt[:200]),
        verbose=0,
        callbacks=[best, second],
    )
    accuracy = history.history["val_accuracy"]
    improved = [e for e in range(4) if accuracy[e] > max(accuracy[:e], default=-1)]
    assert [p.name for p in best.saved] == [f"best-{e + 1}-{accuracy[e]:.2f}.zip" for e in improved]
    assert sorted(p.name for p in tmp_path.glob("every2-*")) == ["every2-2.zip", "every2-4.zip"]
    state = bridge.load(tmp_path / "every2-4.zip").training_state
    assert state["epoch"] == 4 and state["epoch_count"] == 4 and state["iteration_count"] == 4 * 8


def test_csv_logger_writes_the_history(mnist, tmp_path):
    x, y, xt, yt = mnist
    path = tmp_path / "log.csv"
    history = bridge.fit(
        nets.mlp(seed=2),
        x[:256],
        y[:256],
        epochs=3,
        validation_data=(xt[:100], yt[:100]),
        verbose=0,
        callbacks=[callbacks.CSVLogger(path)],
    )
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] == history.epoch
    for key in ("loss", "val_loss", "val_accuracy"):
        assert [float(r[key]) for r in rows] == pytest.approx(history.history[key], rel=1e-12)


def test_history_loss_is_the_mean_of_the_minibatch_scores_dl4j_listeners_see(mnist):
    """A DL4J TrainingListener in callbacks runs for the fit; its per-iteration scores are History's."""
    x, y, _, _ = mnist
    collector = jpype.JClass("org.deeplearning4j.optimize.listeners.CollectScoresIterationListener")(1)
    net = nets.mlp(seed=4)
    history = bridge.fit(net, x[:300], y[:300], epochs=2, batch_size=50, verbose=0, callbacks=[collector])
    scores = list(collector.getScoreVsIter().getEffectiveScores())
    assert scores == pytest.approx(history.iteration_loss, rel=1e-12) and len(scores) == 12
    assert [h.loss for h in history] == pytest.approx([np.mean(scores[:6]), np.mean(scores[6:])], rel=1e-12)
    assert net.java.getListeners().size() == 0  # removed after the fit


def test_stop_training_from_a_batch_callback_and_errors_from_callbacks(mnist):
    x, y, _, _ = mnist

    class StopSoon(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    net = nets.lenet(seed=1)
    history = bridge.fit(net, x, y, epochs=3, verbose=0, callbacks=[StopSoon()])
    assert len(history) == 0 and 0 < net.java.getIterationCount() < len(x) // 64  # stopped inside epoch 1

    class Broken(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("broken callback")

    with pytest.raises(ValueError, match="broken callback"):
        bridge.fit(nets.mlp(seed=1), x[:128], y[:128], epochs=3, verbose=0, callbacks=[Broken()])


@pytest.mark.parametrize(
    "bad, message",
    [
        ("EarlyStopping", "callbacks must be a list|`callbacks` must be a list"),
        ([callbacks.EarlyStopping], "the class EarlyStopping, not an instance"),
        ([lambda epoch: None], r"callbacks\[0\] is a function: expected a bridge.callbacks.Callback"),
    ],
    ids=["string", "class", "function"],
)
def test_wrong_callback_types_raise_type_error(mnist, bad, message):
    with pytest.raises(TypeError, match=message):
        bridge.fit(nets.mlp(seed=1), mnist[0][:64], mnist[1][:64], verbose=0, callbacks=bad)


def test_monitoring_what_is_not_measured_is_a_clear_error(mnist):
    with pytest.raises(DataError, match="monitors 'val_loss'.*validation_data="):
        bridge.fit(
            nets.mlp(seed=1), mnist[0][:64], mnist[1][:64], epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping()]
        )


def test_validation_split_holds_out_the_last_rows(mnist):
    x, y, _, _ = mnist
    net = nets.mlp(seed=5)
    history = bridge.fit(net, x[:500], y[:500], epochs=1, validation_split=0.2, verbose=0)
    assert history.params["samples"] == 400
    assert history[0].val_accuracy == pytest.approx(bridge.evaluate(net, x[400:500], y[400:500]).accuracy)


def test_initial_epoch_numbers_epochs_as_keras(mnist):
    x, y, _, _ = mnist
    history = bridge.fit(nets.mlp(seed=5), x[:128], y[:128], epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2] and [h.epoch for h in history] == [2, 3]
    with pytest.raises(DataError, match="initial_epoch=3 >= epochs=3"):
        bridge.fit(nets.mlp(seed=5), x[:128], y[:128], epochs=3, initial_epoch=3, verbose=0)


def test_verbose_two_prints_one_line_per_epoch(mnist, capsys):
    bridge.fit(nets.mlp(seed=5), mnist[0][:128], mnist[1][:128], epochs=2, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "loss:" in lines[1]


def test_class_weight_weights_dl4j_loss_for_the_fit_only(mnist):
    x, y, _, _ = mnist
    net = nets.mlp(seed=6)
    before = _params(net)
    history = bridge.fit(net, x[:128], y[:128], epochs=1, verbose=0, class_weight={k: 0.0 for k in range(10)})
    assert history[0].loss == 0.0
    np.testing.assert_array_equal(_params(net), before)  # zero weights: zero gradients, Adam moves nothing
    assert bridge.fit(net, x[:128], y[:128], epochs=1, verbose=0)[0].loss > 0.1  # unweighted again
    weighted = nets.mlp(seed=6)
    bridge.fit(weighted, x[:128], y[:128], epochs=1, verbose=0, class_weight={3: 5.0})
    assert not np.array_equal(_params(weighted), before)


def test_class_weight_refused_where_dl4j_cannot_weight(mnist):
    net = nets.sequential([nets.Dense(16), nets.Output(10, loss="cosine_proximity")], 784)
    with pytest.raises(DataError, match="LossCosineProximity.*takes no per-class weights"):
        bridge.fit(net, mnist[0][:64], mnist[1][:64], verbose=0, class_weight={0: 2.0})
    with pytest.raises(DataError, match="class_weight key 10"):
        bridge.fit(nets.mlp(), mnist[0][:64], mnist[1][:64], verbose=0, class_weight={10: 2.0})


def test_float_targets(mnist):
    x, y, xt, yt = mnist
    a, b = nets.mlp(seed=8), nets.mlp(seed=8)
    bridge.fit(a, x[:256], y[:256], epochs=1, verbose=0)
    one_hot = np.eye(10, dtype=np.float32)[y[:256]]
    bridge.fit(b, x[:256], one_hot, epochs=1, verbose=0, validation_data=(xt[:50], np.eye(10)[yt[:50]]))
    np.testing.assert_array_equal(_params(a), _params(b))
    # regression: three float targets per row through an identity output and MSE
    targets = np.stack([x[:256].mean(axis=1), x[:256].std(axis=1), (y[:256] / 9.0)], axis=1).astype(np.float32)
    reg = nets.sequential([nets.Dense(32), nets.Output(3, activation="identity", loss="mse")], 784, seed=1)
    history = bridge.fit(reg, x[:256], targets, epochs=5, verbose=0, validation_data=(xt[:64], targets[:64]))
    assert history[-1].loss < history[0].loss and history[0].val_accuracy is None and history[0].val_loss > 0
    with pytest.raises(DataError, match="evaluate\\(\\) reports classification metrics"):
        bridge.evaluate(reg, x[:64], targets[:64])
    with pytest.raises(ShapeError, match="2 columns; this network's output has 3 units"):
        bridge.fit(reg, x[:64], targets[:64, :2], verbose=0)


def _recording_transform(scale: float):
    """A BatchTransform written in Python (JPype proxy) that scales the features and records its seeds."""

    @jpype.JImplements("ai.dl4jbridge.train.BatchTransform")
    class Recording:
        def __init__(self):
            self.seeds = []

        @jpype.JOverride
        def apply(self, features, seed):
            self.seeds.append(int(seed))
            return jpype.JArray(jpype.JClass("org.nd4j.linalg.api.ndarray.INDArray"))([f.mul(scale) for f in features])

    return Recording()


def test_augmentation_hook_transforms_every_training_batch_with_seeds_from_epoch_and_batch(mnist):
    x, y, _, _ = mnist
    plain, same, scaled = nets.mlp(seed=9), nets.mlp(seed=9), nets.mlp(seed=9)
    bridge.fit(plain, x[:256], y[:256], epochs=2, verbose=0)
    identity, halved = _recording_transform(1.0), _recording_transform(0.5)
    bridge.fit(same, x[:256], y[:256], epochs=2, verbose=0, augmentation=identity)
    bridge.fit(scaled, x[:256], y[:256], epochs=2, verbose=0, augmentation=halved)
    np.testing.assert_array_equal(_params(plain), _params(same))
    assert not np.array_equal(_params(plain), _params(scaled))
    assert len(identity.seeds) == 8 and len(set(identity.seeds)) == 8 and identity.seeds == halved.seeds
    with pytest.raises(TypeError, match="`augmentation` must be"):
        bridge.fit(nets.mlp(), x[:64], y[:64], verbose=0, augmentation="flip")


def test_npy_stream_trains_as_the_same_data_in_memory(mnist, tmp_path):
    from bridge.train.streams import NpyStream

    x, y, xt, yt = mnist
    np.save(tmp_path / "x.npy", x[:300])
    np.save(tmp_path / "y.npy", y[:300])
    memory, streamed = nets.mlp(seed=11), nets.mlp(seed=11)
    bridge.fit(memory, x[:300], y[:300], epochs=2, batch_size=50, shuffle=False, verbose=0)
    stream = NpyStream(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=50, shuffle=False)
    history = bridge.fit(streamed, stream, epochs=2, verbose=0, validation_data=(xt[:100], yt[:100]))
    np.testing.assert_array_equal(_params(memory), _params(streamed))
    assert len(history) == 2 and history[0].val_accuracy > 0
    shuffled = NpyStream(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=50)
    assert bridge.fit(nets.mlp(seed=11), shuffled, epochs=1, verbose=0)[0].loss > 0


def test_npy_stream_misuse_and_bad_rows_are_clear_errors(mnist, tmp_path):
    from bridge.train.streams import NpyStream

    x, y = mnist[0][:200], mnist[1][:200].copy()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "short.npy", y[:150])
    with pytest.raises(DataError, match="No .npy file"):
        NpyStream(tmp_path / "missing.npy", tmp_path / "x.npy")
    with pytest.raises(DataError, match="has 200 rows and .* 150"):
        NpyStream(tmp_path / "x.npy", tmp_path / "short.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 200, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy holds pickled Python objects"):
        NpyStream(tmp_path / "x.npy", tmp_path / "objects.npy")  # never unpickled
    y[170] = 12  # a label out of range in a later minibatch: found by the reader thread, raised by fit
    np.save(tmp_path / "y.npy", y)
    stream = NpyStream(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=50, shuffle=False)
    with pytest.raises(DataError, match=r"stream failed.*must lie in \[0, 10\)"):
        bridge.fit(nets.mlp(seed=1), stream, epochs=1, verbose=0)
    with pytest.raises(DataError, match="carries its own targets"):
        bridge.fit(nets.mlp(seed=1), stream, y, verbose=0)
