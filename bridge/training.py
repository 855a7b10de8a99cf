"""Training, evaluation, inference and model files for DL4J networks, driven from Python.

Every function takes a bridge Network or a raw DL4J MultiLayerNetwork (a JPype proxy). Inputs are
validated in Python before any native call; the loops run in Java (ai.dl4jbridge.train.Trainer).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arrays import require_finite, require_float_array, to_indarray, to_numpy
from .errors import DataError, ModelFileError, ShapeError, java_errors
from .jvm import jclass
from .nets import Network, as_java

__all__ = ["fit", "evaluate", "predict", "save", "load", "EpochResult", "EvaluationResult"]

_TRAINER = "ai.dl4jbridge.train.Trainer"


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    loss: float  # mean minibatch score (loss + regularisation) over the epoch
    val_accuracy: float | None  # accuracy on the validation data, None without it
    seconds: float
    samples_per_sec: float


@dataclass(frozen=True)
class EvaluationResult:
    """DL4J's Evaluation: accuracy, per-class precision/recall/F1, confusion[actual, predicted]."""

    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    confusion: np.ndarray
    report: str

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "precision": self.precision.tolist(), "recall": self.recall.tolist(),
                "f1": self.f1.tolist(), "confusion": self.confusion.tolist()}


def fit(net, x, y, epochs: int = 1, batch_size: int = 64, seed: int = 42, validation=None,
        progress: bool = True, spark=None, **spark_options) -> list[EpochResult]:
    """Train `net` on x (n, features) float32 and y (n,) int class indices, minibatch by minibatch.

    validation: optional (x_val, y_val), evaluated after each epoch. With `spark` (a session or a
    master URL) the epochs run on Spark (see bridge.spark); otherwise the loop runs in this JVM.
    The same seed gives the same result.
    """
    java = as_java(net)
    _check_positive(epochs, "epochs")
    _check_positive(batch_size, "batch_size")
    features, n_classes = _features(java, x), _n_classes(java)
    labels = _labels(y, len(features), n_classes)
    val = None
    if validation is not None:
        vx, vy = validation
        val_x = _features(java, vx)
        val = (to_indarray(val_x), to_indarray(_labels(vy, len(val_x), n_classes)))
    if spark is not None:
        from . import spark as spark_module

        return spark_module.fit(java, features, labels, n_classes, epochs, batch_size, seed, val, progress,
                                spark, **spark_options)
    with _ProgressBar(epochs, len(features), progress) as listener, java_errors("fit"):
        history = jclass(_TRAINER).fit(java, to_indarray(features), to_indarray(labels), n_classes, epochs,
                                       batch_size, seed, val[0] if val else None, val[1] if val else None,
                                       listener.proxy)
    return [_epoch_result(stats) for stats in history]


def evaluate(net, x, y, batch_size: int = 1024) -> EvaluationResult:
    """DL4J's Evaluation of `net` on x (n, features) and y (n,) int labels."""
    java = as_java(net)
    _check_positive(batch_size, "batch_size")
    features, n_classes = _features(java, x), _n_classes(java)
    labels = _labels(y, len(features), n_classes)
    with java_errors("evaluate"):
        s = jclass(_TRAINER).evaluate(java, to_indarray(features), to_indarray(labels), n_classes, batch_size)
        return EvaluationResult(float(s.accuracy), np.array(s.precision[:]), np.array(s.recall[:]),
                                np.array(s.f1[:]), np.array([row[:] for row in s.confusion], dtype=np.int64),
                                str(s.report))


def predict(net, x, batch_size: int = 1024) -> np.ndarray:
    """DL4J's output (class probabilities for a softmax output): float32 (n, n_classes)."""
    java = as_java(net)
    _check_positive(batch_size, "batch_size")
    features = _features(java, x)
    with java_errors("predict"):
        return to_numpy(jclass(_TRAINER).output(java, to_indarray(features), batch_size))


def save(net, path: str | os.PathLike) -> Path:
    """Write the DL4J model zip (with updater state) atomically: a failure leaves any old file intact."""
    java, path = as_java(net), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with java_errors(f"save {path}"):
            File = jclass("java.io.File")
            jclass("org.deeplearning4j.util.ModelSerializer").writeModel(java, File(tmp), True)
            if isinstance(net, Network):
                _write_metadata(File(tmp), net)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | os.PathLike) -> Network:
    """Read a DL4J MultiLayerNetwork model zip written by save() or by DL4J itself."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}.")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a DL4J model zip (not a zip archive; truncated or another format?).")
    with java_errors(f"load {path}"):
        File = jclass("java.io.File")
        serializer = jclass("org.deeplearning4j.util.ModelSerializer")
        try:
            java = serializer.restoreMultiLayerNetwork(File(str(path)), True)
        except Exception as exc:  # DL4J reports a bad zip as IllegalStateException, NPE, ...
            if "JException" not in type(exc).__mro__.__repr__() and not hasattr(exc, "getClass"):
                raise
            raise ModelFileError(f"{path} is not a readable DL4J MultiLayerNetwork zip: "
                                 f"{exc.getClass().getName()}: {exc.getMessage()}") from exc
        name, labels = _read_metadata(File(str(path)))
    return Network(java, name=name or path.stem, labels=labels)


_METADATA_KEY = "dl4j-bridge.json"


def _write_metadata(java_file, net: Network) -> None:
    import json

    text = json.dumps({"name": net.name, "labels": list(net.labels) if net.labels else None})
    jclass("org.deeplearning4j.util.ModelSerializer").addObjectToFile(java_file, _METADATA_KEY, jclass("java.lang.String")(text))


def _read_metadata(java_file) -> tuple[str | None, tuple[str, ...] | None]:
    import json

    try:
        text = jclass("org.deeplearning4j.util.ModelSerializer").getObjectFromFile(java_file, _METADATA_KEY)
    except Exception:  # a zip written by DL4J itself has no such entry
        return None, None
    meta = json.loads(str(text))
    return meta.get("name"), tuple(meta["labels"]) if meta.get("labels") else None


def _check_positive(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise DataError(f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}")


def _n_classes(java) -> int:
    with java_errors():
        return int(jclass("ai.dl4jbridge.train.NetInfo").outputSize(java))


def _features(java, x) -> np.ndarray:
    """x as a C-contiguous float32 (n, n_in) array, checked against the network's input."""
    x = require_float_array(x)
    with java_errors():
        n_in = int(jclass("ai.dl4jbridge.train.NetInfo").flatInputSize(java))
    if x.ndim >= 2 and len(x) and int(np.prod(x.shape[1:])) == n_in and x.ndim in (2, 4):
        x = x.reshape(len(x), n_in)
    if x.ndim != 2 or (n_in > 0 and x.shape[1] != n_in):
        raise ShapeError(f"Expected x of shape (n, {n_in}) (or (n, c, h, w) with c*h*w = {n_in}), received {x.shape}.")
    if len(x) == 0:
        raise DataError("Received empty data: x has 0 rows.")
    require_finite(x)
    return np.ascontiguousarray(x, dtype=np.float32)


def _labels(y, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"Expected y as a 1-d array of integer class indices, received dtype {y.dtype} shape {y.shape}.")
    if len(y) != n:
        raise ShapeError(f"x has {n} rows but y has {len(y)} labels.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"Labels must lie in [0, {n_classes}) for this network's {n_classes} outputs; "
                        f"found values from {y.min()} to {y.max()}.")
    return y.astype(np.int32)


def _epoch_result(stats) -> EpochResult:
    accuracy = float(stats.validationAccuracy)
    return EpochResult(int(stats.epoch), float(stats.meanLoss), None if np.isnan(accuracy) else accuracy,
                       float(stats.seconds), float(stats.samplesPerSecond))


class _ProgressBar:
    """A tqdm bar per epoch, fed by a Java ProgressListener proxy (called every ~0.3 s, not per batch)."""

    def __init__(self, epochs: int, n: int, enabled: bool):
        self.epochs, self.n, self.enabled, self.bar = epochs, n, enabled, None
        self.proxy = None

    def __enter__(self):
        if not self.enabled:
            return self
        import jpype
        from tqdm import tqdm

        outer = self

        @jpype.JImplements("ai.dl4jbridge.train.ProgressListener")
        class Listener:
            @jpype.JOverride
            def onProgress(self, epoch, done, total, loss, rate):
                bar = outer._bar(int(epoch))
                bar.update(int(done) - bar.n)
                bar.set_postfix(loss=f"{float(loss):.4f}", samples_s=f"{float(rate):.0f}")

            @jpype.JOverride
            def onEpochEnd(self, epoch, loss, accuracy, seconds, rate):
                bar = outer._bar(int(epoch))
                bar.update(outer.n - bar.n)
                post = {"loss": f"{float(loss):.4f}", "samples_s": f"{float(rate):.0f}"}
                if not np.isnan(float(accuracy)):
                    post["val_acc"] = f"{float(accuracy):.4f}"
                bar.set_postfix(post)
                bar.close()
                outer.bar = None

        self.tqdm, self.proxy = tqdm, Listener()
        return self

    def _bar(self, epoch: int):
        if self.bar is None:
            # smoothing=0: the average rate since the start; updates come every ~0.3 s, not per batch
            self.bar = self.tqdm(total=self.n, desc=f"epoch {epoch}/{self.epochs}", unit="sample", leave=True, smoothing=0)
        return self.bar

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
