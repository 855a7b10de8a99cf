"""Training, evaluation, inference and model files for DL4J networks, driven from Python.

Every function takes a bridge Network, a raw DL4J MultiLayerNetwork or a ComputationGraph (JPype proxies).
Inputs are validated in Python before any native call (bridge.inputs); the loops run in Java
(ai.dl4jbridge.train.Trainer, one TrainingRun argument per call).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arrays import to_indarray, to_numpy
from .errors import DataError, ModelFileError, ShapeError, java_errors
from .inputs import output_names, output_sizes, prepare_features
from .jvm import jclass
from .modelfile import load, save  # noqa: F401  (re-exported: bridge.training.save/load)
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
        progress: bool = True, spark=None, validation_data=None, ui=False, **spark_options) -> list[EpochResult]:
    """Train `net` (a MultiLayerNetwork or a ComputationGraph) minibatch by minibatch.

    x: float32 features in the layout each input takes: (n, F) flat, (n, C, H, W) NCHW, (n, H, W, C)
    NHWC (see bridge.inputs.prepare_features); a dict {input name: array} for a graph with several inputs.
    y: (n,) int class indices; a dict {output name: (n,) ints} for a graph with several outputs.
    validation (or validation_data, Keras' name): optional (x_val, y_val), evaluated after each epoch (mean
    accuracy over the outputs).
    With `spark` (a session or a master URL) the epochs run on Spark (see bridge.spark); otherwise the
    loop runs in this JVM. The same seed gives the same result.
    ui: True (or a dict of bridge.ui.training_ui options: port, stats_file, frequency) serves DL4J's training
    UI for this run, stats saved to ./ui-stats.bin unless stats_file says otherwise (local training only).
    """
    if ui:  # DL4J's training UI around the same run (bridge.ui)
        from .ui import fit_with_ui

        return fit_with_ui(fit, ui, spark, net, x, y, epochs=epochs, batch_size=batch_size, seed=seed,
                           validation=validation, progress=progress, validation_data=validation_data, **spark_options)
    _check_keywords(spark, spark_options)
    if validation_data is not None:
        if validation is not None:
            raise TypeError("fit() received both `validation` and `validation_data` (the same thing): pass one.")
        validation = validation_data
    java = as_java(net)
    _check_positive(epochs, "epochs")
    _check_positive(batch_size, "batch_size")
    data = _prepared(net, x, y)
    val = _prepared(net, *validation, names=("validation x", "validation y")) if validation is not None else None
    if spark is not None:
        from . import spark as spark_module

        return spark_module.fit(java, data, epochs, batch_size, seed, val, progress, spark, **spark_options)
    with _ProgressBar(epochs, data.examples, progress) as listener, java_errors("fit"):
        run = training_run(java, data, epochs=epochs, batch_size=batch_size, seed=seed, validation=val,
                           listener=listener.proxy)
        history = jclass(_TRAINER).fit(run)
    return [_epoch_result(stats) for stats in history]


_FIT_KEYWORDS = ("epochs", "batch_size", "seed", "validation", "validation_data", "progress", "spark", "ui")


def _check_keywords(spark, spark_options: dict) -> None:
    """Unknown keywords raise TypeError naming the valid ones (a typo such as epoch=5 must not train one epoch
    quietly); Spark's settings need `spark`."""
    from dataclasses import fields

    from .spark import SparkOptions

    spark_names = sorted(f.name for f in fields(SparkOptions))
    unknown = sorted(set(spark_options) - set(spark_names))
    if unknown:
        raise TypeError(f"fit() got unexpected keyword argument(s) {', '.join(unknown)}. Valid: "
                        f"{', '.join(_FIT_KEYWORDS)}; with spark=...: {', '.join(spark_names)}.")
    if spark_options and spark is None:
        raise TypeError(f"fit() got Spark settings ({', '.join(sorted(spark_options))}) without `spark`: pass "
                        "spark='local[2]' (or a session or master URL), or drop them.")


def evaluate(net, x, y, batch_size: int = 1024):
    """DL4J's Evaluation of `net` on x and y (int class indices), laid out as for fit().

    Returns an EvaluationResult; for a graph with several outputs, a dict {output name: EvaluationResult}.
    """
    java = as_java(net)
    _check_positive(batch_size, "batch_size")
    data = _prepared(net, x, y)
    with java_errors("evaluate"):
        summaries = jclass(_TRAINER).evaluate(training_run(java, data, batch_size=batch_size))
        results = [_evaluation_result(s) for s in summaries]
    return results[0] if len(results) == 1 else dict(zip(data.output_names, results))


def predict(net, x, batch_size: int = 1024):
    """DL4J's output (class probabilities for a softmax output): float32 (n, n_out).

    x is laid out as for fit(). For a graph with several outputs: a dict {output name: array}.
    """
    java = as_java(net)
    _check_positive(batch_size, "batch_size")
    features = prepare_features(net, x)
    with java_errors("predict"):
        run = jclass("ai.dl4jbridge.train.TrainingRun")()
        run.network, run.features, run.batchSize = java, _indarrays(features), batch_size
        outputs = [to_numpy(out) for out in jclass(_TRAINER).output(run)]
    return outputs[0] if len(outputs) == 1 else dict(zip(output_names(java), outputs))


def _check_positive(value, name: str) -> None:
    from .arrays import check_positive_int

    check_positive_int(value, name)  # a Java int: 2**31 would overflow in TrainingRun


@dataclass(frozen=True)
class PreparedData:
    """Checked features (one array per input) and labels (one (n,) int32 array per output)."""

    features: list
    labels: list
    n_classes: list
    output_names: list

    @property
    def examples(self) -> int:
        return len(self.features[0])


def _prepared(net, x, y, names=("x", "y")) -> PreparedData:
    features = prepare_features(net, x, names[0])
    outputs, sizes = output_names(net), output_sizes(net)
    n = len(features[0])
    ys = _labels_by_output(outputs, y, names[1])
    labels = [_labels(v, n, size, _label_name(names[1], o, len(outputs))) for o, v, size in zip(outputs, ys, sizes)]
    return PreparedData(features, labels, [int(s) for s in sizes], outputs)


def _label_name(name: str, output: str, count: int) -> str:
    return name if count == 1 else f"{name}[{output!r}]"


def _labels_by_output(outputs: list[str], y, name: str) -> list:
    if isinstance(y, dict):
        if set(y) != set(outputs):
            raise DataError(f"Received `{name}` with keys {sorted(map(str, y))}; this network's outputs are "
                            f"{outputs}. Pass a dict with exactly those keys.")
        return [y[o] for o in outputs]
    if len(outputs) > 1:
        raise DataError(f"This network has {len(outputs)} outputs {outputs}: pass `{name}` as a dict "
                        f"{{output name: labels}}, received {type(y).__name__}.")
    return [y]


def _labels(y, n: int, n_classes: int | None, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if n_classes is None:
        raise DataError(f"Cannot use class labels `{name}`: the network's output layer has no fixed width (nOut).")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"Expected `{name}` as a 1-d array of integer class indices, received dtype {y.dtype} shape {y.shape}.")
    if len(y) != n:
        raise ShapeError(f"x has {n} rows but {name} has {len(y)} labels.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"Labels `{name}` must lie in [0, {n_classes}) for this network's {n_classes} outputs; "
                        f"found values from {y.min()} to {y.max()}.")
    return y.astype(np.int32)


def _indarrays(arrays):
    import jpype

    return jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([to_indarray(a) for a in arrays])


def training_run(java, data: PreparedData, epochs: int = 1, batch_size: int = 64, seed: int = 42,
                 validation: PreparedData | None = None, listener=None):
    """The Java TrainingRun (the one argument of Trainer and SparkTrainer calls) for checked data."""
    import jpype

    run = jclass("ai.dl4jbridge.train.TrainingRun")()
    run.network = java
    run.features, run.labels = _indarrays(data.features), _indarrays(data.labels)
    run.numClasses = jpype.JArray(jpype.JInt)(data.n_classes)
    from .arrays import check_seed

    run.epochs, run.batchSize, run.seed = epochs, batch_size, check_seed(seed)
    if validation is not None:
        run.validationFeatures, run.validationLabels = _indarrays(validation.features), _indarrays(validation.labels)
    run.listener = listener
    return run


def _evaluation_result(s) -> EvaluationResult:
    return EvaluationResult(float(s.accuracy), np.array(s.precision[:]), np.array(s.recall[:]), np.array(s.f1[:]),
                            np.array([row[:] for row in s.confusion], dtype=np.int64), str(s.report))


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
        from tqdm.auto import tqdm  # a widget in notebooks, text elsewhere

        outer = self

        @jpype.JImplements("ai.dl4jbridge.train.ProgressListener")
        class Listener:
            @jpype.JOverride
            def onProgress(self, epoch, done, total, loss, rate):
                bar = outer._bar(int(epoch), int(done), float(rate))
                bar.update(int(done) - bar.n)
                bar.set_postfix(loss=f"{float(loss):.4f}")  # tqdm shows the rate: one rate per bar

            @jpype.JOverride
            def onEpochEnd(self, epoch, loss, accuracy, seconds, rate):
                bar = outer._bar(int(epoch), outer.n, float(rate))
                bar.update(outer.n - bar.n)
                post = {"loss": f"{float(loss):.4f}"}
                if not np.isnan(float(accuracy)):
                    post["val_acc"] = f"{float(accuracy):.4f}"
                bar.set_postfix(post)
                bar.close()
                outer.bar = None

        self.tqdm, self.proxy = tqdm, Listener()
        return self

    def _bar(self, epoch: int, done: int = 0, rate: float = 0.0):
        if self.bar is None:
            # smoothing=0: the average rate since the start; updates come every ~0.3 s, not per batch
            self.bar = self.tqdm(total=self.n, desc=f"epoch {epoch}/{self.epochs}", unit="sample", leave=True, smoothing=0)
            if done > 0 and rate > 0:  # the epoch began before this first report: date the bar from then
                self.bar.start_t = self.bar.last_print_t = self.bar.start_t - done / rate
        return self.bar

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
