"""Training, evaluation, inference and model files for DL4J networks, driven from Python.

Every function takes a bridge Network, a raw DL4J MultiLayerNetwork or a ComputationGraph (JPype proxies).
Inputs are validated in Python before any native call (bridge.inputs); the loops run in Java
(ai.dl4jbridge.train.Trainer, one TrainingRun argument per call).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import jpype
import numpy as np

from ..errors import DataError, java_boundary, java_errors
from ..jvm import jclass
from ..jvm.arrays import to_numpy
from ..model.inputs import output_names, prepare_features, record_input_shapes, remember_input_shape
from ..model.kinds import as_java
from ..model.modelfile import load, save  # noqa: F401  (re-exported: bridge.train.api.save/load)
from ..spark import training as spark_training
from ..spark.frames import is_dataframe
from ..spark.session import SparkOptions
from ..validate import fraction, positive_int
from .callbacks import EpochResult, History
from .plan import TrainingPlan, execute, java_run, make_plan
from .prepared import TARGETS, indarrays, prepared, training_run
from .streams import is_stream
from .ui import fit_with_ui

__all__ = ["fit", "evaluate", "predict", "save", "load", "EpochResult", "EvaluationResult", "History"]

_TRAINER = "ai.dl4jbridge.train.Trainer"


@dataclass(frozen=True)
class EvaluationResult:
    """DL4J's Evaluation: accuracy, per-class precision/recall/F1, confusion[actual, predicted]; labels: the
    network's class names (index i is labels[i]), also written beside the report's confusion matrix."""

    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    confusion: np.ndarray
    report: str
    labels: tuple[str, ...] | None = None

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "f1": self.f1.tolist(),
            "confusion": self.confusion.tolist(),
            "labels": list(self.labels) if self.labels else None,
        }


@java_boundary("fit")
def fit(
    net,
    x,
    y=None,
    epochs: int = 1,
    batch_size: int = 64,
    seed: int = 42,
    validation=None,
    progress: bool = True,
    spark=None,
    validation_data=None,
    *,
    validation_split: float = 0.0,
    callbacks=None,
    shuffle: bool = True,
    initial_epoch: int = 0,
    class_weight: dict | None = None,
    verbose: int | None = None,
    augmentation=None,
    spark_options=None,
    ui=False,
    features=None,
    label=None,
    input_shape=None,
    **spark_keywords,
) -> History:
    """Train `net` (a MultiLayerNetwork or a ComputationGraph) minibatch by minibatch, as Keras' Model.fit.

    x: float32 features in the layout each input takes: (n, F) flat, (n, C, H, W) NCHW, (n, H, W, C)
    NHWC (see bridge.inputs.prepare_features); a dict {input name: array} for a graph with several inputs; or a
    minibatch stream (bridge.streams.NpyStream) for data larger than memory, with y=None (locally only).
    y: (n,) int class indices, or (n, k) float targets of the output's width (one-hot, multi-label, regression);
    a dict {output name: ...} for a graph with several outputs.
    x may also be a Spark DataFrame (a Java Dataset<Row> or a PySpark DataFrame of bridge.spark.session(...)), with
    y=None: features (a column name or a list of them; default "features") and label (default "label") name its
    columns (see bridge.spark.frames); it trains on Spark, on the SparkContext it belongs to, its rows turned into
    minibatches on the executors; validation_data may be another DataFrame (evaluated there too). A DataFrame's
    rows are flat, so the image shape of a network built with InputType.convolutional (which DL4J does not keep)
    comes from input_shape=(C, H, W) ((H, W, C) channels-last), given once: it is recorded with the network as a
    fit on (n, C, H, W) arrays records it, and export_onnx, save() and the services need it no more.
    epochs: as in Keras, the index of the last epoch: epochs - initial_epoch epochs run (all of them by default).
    validation_data (or validation, the older name): (x_val, y_val), scored after each epoch (val_loss, and
    val_accuracy for class targets); validation_split: the last fraction of x and y instead, before shuffling.
    callbacks: bridge.callbacks.Callback objects and DL4J TrainingListeners. class_weight: {class: weight} for a
    one-output network whose loss takes per-class weights (DL4J's weighted losses). verbose: 0 silent, 1 a
    progress bar, 2 one line per epoch (progress=False is verbose=0). augmentation: a BatchTransform, or an
    object whose to_java(net) returns one, applied to every training minibatch (seeded per epoch and batch).
    shuffle: each epoch's order, dropout and augmentation are seeded from (seed, the network's epoch counter),
    so that training resumed from a checkpoint equals uninterrupted training bit for bit.
    With `spark` (a session or a master URL) the epochs run on Spark, set up by spark_options (a
    bridge.spark.SparkOptions) or its fields as keywords; otherwise the loop runs in this JVM.
    Ctrl-C stops training at the next minibatch boundary and raises KeyboardInterrupt; the network keeps its
    last completed step.
    ui: True serves DL4J's training UI for this run (its URL printed to stderr); a dict sets bridge.ui.training_ui's
    options: {"port": 9000 (0: a free port), "stats_file": "ui-stats.bin" (what the UI received, for
    `dl4j-bridge ui FILE`), "frequency": 20 (a stats report every N iterations; 1 charts every minibatch at a
    cost), "histograms": False (True: DL4J's full statistics, histograms of parameters, gradients, updates and
    activations and the activations' statistics, in each report: the UI's cost)}, the defaults shown (measured:
    BENCHMARKS.md, "ui"). The UI's JVM starts in the background: training does not wait for it. On Spark the
    workers post their stats through DL4J's remote stats router, every `frequency` iterations of each worker
    (there: default 1, histograms always on).
    Returns a History: a list of EpochResult that also has Keras' .history dict and .epoch.
    """
    if ui:  # DL4J's training UI around the same run (bridge.ui)
        return fit_with_ui(
            fit,
            ui,
            spark,
            net,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            validation=validation,
            progress=progress,
            validation_data=validation_data,
            validation_split=validation_split,
            callbacks=callbacks,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
            class_weight=class_weight,
            verbose=verbose,
            augmentation=augmentation,
            spark_options=spark_options,
            features=features,
            label=label,
            input_shape=input_shape,
            **spark_keywords,
        )
    frame = is_dataframe(x)
    options = _spark_settings(spark, spark_options, spark_keywords, frame)
    validation = _validation_argument(validation, validation_data, validation_split)
    positive_int(batch_size, "batch_size")
    plan = make_plan(
        net,
        epochs=epochs,
        initial_epoch=initial_epoch,
        seed=seed,
        shuffle=shuffle,
        verbose=verbose,
        progress=progress,
        callbacks=callbacks,
        class_weight=class_weight,
        augmentation=augmentation,
        distributed=spark is not None or frame,
    )
    if frame:
        if y is not None:
            raise DataError("fit() with a DataFrame takes its labels from a column (label=...): pass y=None.")
        remember_input_shape(net, input_shape)
        return spark_training.fit_frame(plan, x, features, label, validation, batch_size, spark, options)
    if features is not None or label is not None or input_shape is not None:
        raise TypeError(
            "fit() takes `features`, `label` (column names) and `input_shape` with a Spark DataFrame only; with "
            "arrays pass x and y (their shape is the input's)."
        )
    if is_stream(x):
        return _fit_stream(plan, x, y, validation, spark, net)
    if y is None:
        raise DataError("fit() needs targets `y` for in-memory data (only a minibatch stream carries its own).")
    data = prepared(net, x, y)
    # DL4J keeps no height/width for InputType.convolutional: the shape trained on travels with the network, so
    # that export_onnx, save() (the zip's metadata) and the services need no input_shape afterwards.
    record_input_shapes(net, data.features)
    if isinstance(validation, float):
        data, val = data.split(validation)
    else:
        val = prepared(net, *validation, names=("validation x", "validation y")) if validation is not None else None
    if spark is not None:
        return spark_training.fit(plan, data, val, batch_size, spark, options)

    def start(listener):
        run = java_run(plan, data, val, listener, batch_size)
        return run, lambda: jclass(_TRAINER).fit(run), None

    return execute(plan, data, data.examples, batch_size, val, start)


_FIT_KEYWORDS = (
    "epochs",
    "batch_size",
    "seed",
    "validation",
    "validation_data",
    "validation_split",
    "callbacks",
    "shuffle",
    "initial_epoch",
    "class_weight",
    "verbose",
    "progress",
    "augmentation",
    "spark",
    "ui",
    "spark_options",
    "features",
    "label",
)


def _spark_settings(spark, spark_options, spark_keywords: dict, frame: bool = False):
    """The SparkOptions for spark=... (an options object and/or its fields as keywords); unknown keywords raise
    TypeError naming the valid ones (a typo such as epoch=5 must not train one epoch quietly)."""
    spark_names = sorted(f.name for f in fields(SparkOptions))
    unknown = sorted(set(spark_keywords) - set(spark_names))
    if unknown:
        raise TypeError(
            f"fit() got unexpected keyword argument(s) {', '.join(unknown)}. Valid: "
            f"{', '.join(_FIT_KEYWORDS)}; with spark=...: spark_options=bridge.spark.SparkOptions(...) "
            f"or its fields {', '.join(spark_names)}."
        )
    if (spark_keywords or spark_options is not None) and spark is None and not frame:
        given = sorted(spark_keywords) or ["spark_options"]
        raise TypeError(
            f"fit() got Spark settings ({', '.join(given)}) without `spark`: pass "
            "spark='local[2]' (or a session or master URL), or drop them."
        )
    if spark_options is not None and not isinstance(spark_options, SparkOptions):
        raise TypeError(
            f"`spark_options` must be a bridge.spark.SparkOptions, received {type(spark_options).__name__}."
        )
    if spark is None and not frame:
        return None
    base = spark_options if spark_options is not None else None
    if base is None:
        return spark_keywords  # SparkOptions built once the batch size is known (its default per-worker batch)
    return replace(base, **spark_keywords)


def _validation_argument(validation, validation_data, validation_split):
    if validation_data is not None:
        if validation is not None:
            raise TypeError("fit() received both `validation` and `validation_data` (the same thing): pass one.")
        validation = validation_data
    if validation_split:
        fraction(validation_split, "validation_split")
        if validation is not None:
            raise TypeError("fit() received both `validation_data` and `validation_split`: pass one.")
        return float(validation_split)
    if is_dataframe(validation):
        return validation
    if validation is not None and (not isinstance(validation, (tuple, list)) or len(validation) != 2):
        raise DataError(
            f"Expected `validation_data` as a pair (x_val, y_val) or a DataFrame, received {type(validation).__name__}."
        )
    return validation


def _fit_stream(plan: TrainingPlan, stream, y, validation, spark, net) -> History:
    """fit() over a minibatch stream: a Python thread reads minibatches ahead into a bounded Java queue."""
    if spark is not None:
        raise DataError("Minibatch streams train locally; on Spark use bridge.spark.fit_files (DataSet files).")
    if y is not None:
        raise DataError("A minibatch stream carries its own targets: call fit(net, stream) with y=None.")
    if isinstance(validation, float):
        raise DataError("validation_split needs in-memory data; pass validation_data=(x_val, y_val) with a stream.")
    model = plan.model
    val = prepared(model, *validation, names=("validation x", "validation y")) if validation is not None else None
    probe = stream.first(model)
    record_input_shapes(net, probe.features)  # as fit() on arrays does

    def start(listener):
        run = java_run(plan, probe, val, listener, stream.batch_size)
        run.shuffle = True  # the stream orders its own minibatches (NpyStream's shuffle)
        run.stream = stream.queue(run, plan.epochs_to_run, plan.seed)
        return run, lambda: jclass(_TRAINER).fit(run), None

    return execute(plan, probe, stream.examples, stream.batch_size, val, start, steps=stream.steps)


@java_boundary("evaluate")
def evaluate(net, x, y=None, batch_size: int = 1024, *, features=None, label=None, spark=None):
    """DL4J's Evaluation of `net` on x and y (int class indices), laid out as for fit().

    x may be a Spark DataFrame (with y=None; features and label name its columns, as in fit()): the evaluation then
    runs on the executors (DL4J's distributed Evaluation) and the driver merges the counts. spark: None, or the
    session the DataFrame belongs to.
    Returns an EvaluationResult; for a graph with several outputs, a dict {output name: EvaluationResult}.
    """
    java = as_java(net)
    positive_int(batch_size, "batch_size")
    if is_dataframe(x):
        if y is not None:
            raise DataError("evaluate() with a DataFrame takes its labels from a column (label=...): pass y=None.")
        summary = spark_training.evaluate_frame(net, x, features, label, batch_size, spark)[0]
        return _evaluation_result(summary, getattr(net, "labels", None))
    if features is not None or label is not None or spark is not None:
        raise TypeError("evaluate() takes `features`, `label` and `spark` with a Spark DataFrame only.")
    if y is None:
        raise DataError("evaluate() needs labels `y` for in-memory data.")
    data = prepared(net, x, y)
    if TARGETS in data.kinds:
        raise DataError(
            "evaluate() reports classification metrics (DL4J's Evaluation) and needs class indices or "
            "one-hot rows; these targets are float values (regression, multi-label or soft labels): "
            "compare bridge.predict(net, x) with them using the metric you need."
        )
    with java_errors("evaluate"):
        summaries = jclass(_TRAINER).evaluate(training_run(java, data, batch_size=batch_size))
        results = [_evaluation_result(s, getattr(net, "labels", None)) for s in summaries]
    return results[0] if len(results) == 1 else dict(zip(data.output_names, results))


@java_boundary("predict")
def predict(net, x, batch_size: int = 1024):
    """DL4J's output (class probabilities for a softmax output): float32 (n, n_out).

    x is laid out as for fit(). For a graph with several outputs: a dict {output name: array}.
    """
    java = as_java(net)
    positive_int(batch_size, "batch_size")
    features = prepare_features(net, x)
    with java_errors("predict"):
        run = jclass("ai.dl4jbridge.train.TrainingRun")()
        run.network, run.features, run.batchSize = java, indarrays(features), batch_size
        outputs = [to_numpy(out) for out in jclass(_TRAINER).output(run)]
    return outputs[0] if len(outputs) == 1 else dict(zip(output_names(java), outputs))


def _evaluation_result(s, labels=None) -> EvaluationResult:
    """The Java EvaluationSummary in Python; with the network's class labels when there is one per class (an
    output of another width, in a graph with several, keeps class indices)."""
    confusion = np.array([row[:] for row in s.confusion], dtype=np.int64)
    named = tuple(labels) if labels and len(labels) == len(confusion) else None
    report = str(s.namedReport(jpype.java.util.Arrays.asList([str(n) for n in named]))) if named else str(s.report)
    return EvaluationResult(
        float(s.accuracy),
        np.array(s.precision[:]),
        np.array(s.recall[:]),
        np.array(s.f1[:]),
        confusion,
        report,
        named,
    )
