"""Training, evaluation, inference and model files for DL4J networks, driven from Python.

Every function takes a bridge Network, a raw DL4J MultiLayerNetwork or a ComputationGraph (JPype proxies).
Inputs are validated in Python before any native call (bridge.inputs); the loops run in Java
(ai.dl4jbridge.train.Trainer, one TrainingRun argument per call).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, java_errors
from ..jvm import jclass
from ..jvm.arrays import to_indarray, to_numpy
from ..model.inputs import output_names, prepare_features
from ..model.modelfile import load, save  # noqa: F401  (re-exported: bridge.training.save/load)
from ..model.network import Network, as_java
from ..validate import boolean, choice, fraction, integer_at_least, positive_int
from .callbacks import EpochResult, History, ProgressBar, run_training, split_callbacks
from .prepared import TARGETS, PreparedData, indarrays, prepared, training_run

__all__ = ["fit", "evaluate", "predict", "save", "load", "EpochResult", "EvaluationResult", "History"]

_TRAINER = "ai.dl4jbridge.train.Trainer"


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
        return {
            "accuracy": self.accuracy,
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "f1": self.f1.tolist(),
            "confusion": self.confusion.tolist(),
        }


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
    **spark_keywords,
) -> History:
    """Train `net` (a MultiLayerNetwork or a ComputationGraph) minibatch by minibatch, as Keras' Model.fit.

    x: float32 features in the layout each input takes: (n, F) flat, (n, C, H, W) NCHW, (n, H, W, C)
    NHWC (see bridge.inputs.prepare_features); a dict {input name: array} for a graph with several inputs; or a
    minibatch stream (bridge.streams.NpyStream) for data larger than memory, with y=None (locally only).
    y: (n,) int class indices, or (n, k) float targets of the output's width (one-hot, multi-label, regression);
    a dict {output name: ...} for a graph with several outputs.
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
    ui: True (or a dict of bridge.ui.training_ui options: port, stats_file, frequency) serves DL4J's training
    UI for this run, stats saved to ./ui-stats.bin unless stats_file says otherwise (on Spark the workers post
    their stats through DL4J's remote stats router).
    Returns a History: a list of EpochResult that also has Keras' .history dict and .epoch.
    """
    if ui:  # DL4J's training UI around the same run (bridge.ui)
        from .ui import fit_with_ui

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
            **spark_keywords,
        )
    options = _spark_settings(spark, spark_options, spark_keywords)
    validation = _validation_argument(validation, validation_data, validation_split)
    java = as_java(net)
    model = net if isinstance(net, Network) else Network(java)
    positive_int(batch_size, "batch_size")
    positive_int(epochs, "epochs")
    integer_at_least(initial_epoch, "initial_epoch", 0)
    if initial_epoch >= epochs:
        raise DataError(
            f"initial_epoch={initial_epoch} >= epochs={epochs}: as in Keras, `epochs` is the index of the "
            f"last epoch, so fit() runs epochs - initial_epoch epochs. Pass epochs > {initial_epoch}."
        )
    boolean(shuffle, "shuffle")
    verbose = _verbosity(verbose, progress)
    ours, listeners = split_callbacks(callbacks)
    if listeners and spark is not None:
        raise TypeError(
            "DL4J TrainingListeners in `callbacks` run with local training only: on Spark each worker "
            "trains its own copy of the network. Pass bridge.callbacks objects (called once per epoch)."
        )
    from .streams import is_stream

    if is_stream(x):
        return _fit_stream(
            model,
            java,
            x,
            y,
            epochs,
            batch_size,
            seed,
            validation,
            initial_epoch,
            verbose,
            ours,
            listeners,
            augmentation,
            class_weight,
            spark,
        )
    if y is None:
        raise DataError("fit() needs targets `y` for in-memory data (only a minibatch stream carries its own).")
    data = prepared(net, x, y)
    if isinstance(validation, float):
        data, val = data.split(validation)
    else:
        val = prepared(net, *validation, names=("validation x", "validation y")) if validation is not None else None
    settings = _Settings(epochs - initial_epoch, batch_size, seed, shuffle, initial_epoch)
    history = History(
        {
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "batch_size": batch_size,
            "seed": seed,
            "samples": data.examples,
            "steps": -(-data.examples // batch_size),
            "validation": val is not None,
            "verbose": verbose,
        }
    )
    calls = [ProgressBar(verbose, epochs, data.examples), *ours]
    with _class_weights(java, data, class_weight), _listeners_added(java, listeners):
        if spark is not None:
            from . import spark as spark_module

            return spark_module.fit(
                java,
                data,
                settings,
                val,
                spark,
                options,
                model,
                calls,
                history,
                transform=_transform(augmentation, model),
            )

        def start(listener):
            run = training_run(
                java,
                data,
                epochs=settings.epochs,
                batch_size=batch_size,
                seed=seed,
                validation=val,
                listener=listener.proxy,
                shuffle=shuffle,
                initial_epoch=initial_epoch,
            )
            run.transform = _transform(augmentation, model)
            return run, lambda: jclass(_TRAINER).fit(run), None

        return run_training(model, calls, history, start)


@dataclass(frozen=True)
class _Settings:
    epochs: int  # epochs to run in this call
    batch_size: int
    seed: int
    shuffle: bool
    initial_epoch: int


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
)


def _spark_settings(spark, spark_options, spark_keywords: dict):
    """The SparkOptions for spark=... (an options object and/or its fields as keywords); unknown keywords raise
    TypeError naming the valid ones (a typo such as epoch=5 must not train one epoch quietly)."""
    from dataclasses import fields, replace

    from .spark import SparkOptions

    spark_names = sorted(f.name for f in fields(SparkOptions))
    unknown = sorted(set(spark_keywords) - set(spark_names))
    if unknown:
        raise TypeError(
            f"fit() got unexpected keyword argument(s) {', '.join(unknown)}. Valid: "
            f"{', '.join(_FIT_KEYWORDS)}; with spark=...: spark_options=bridge.spark.SparkOptions(...) "
            f"or its fields {', '.join(spark_names)}."
        )
    if (spark_keywords or spark_options is not None) and spark is None:
        given = sorted(spark_keywords) or ["spark_options"]
        raise TypeError(
            f"fit() got Spark settings ({', '.join(given)}) without `spark`: pass "
            "spark='local[2]' (or a session or master URL), or drop them."
        )
    if spark_options is not None and not isinstance(spark_options, SparkOptions):
        raise TypeError(
            f"`spark_options` must be a bridge.spark.SparkOptions, received {type(spark_options).__name__}."
        )
    if spark is None:
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
    if validation is not None and (not isinstance(validation, (tuple, list)) or len(validation) != 2):
        raise DataError(f"Expected `validation_data` as a pair (x_val, y_val), received {type(validation).__name__}.")
    return validation


def _verbosity(verbose, progress) -> int:
    if verbose is None:
        return 1 if progress else 0
    choice(verbose, "verbose", (0, 1, 2))
    return 0 if progress is False else verbose


def _transform(augmentation, model):
    """The Java BatchTransform for `augmentation`: one itself, or what its to_java(net) returns."""
    if augmentation is None:
        return None
    transform_class = jclass("ai.dl4jbridge.train.BatchTransform")
    transform = augmentation.to_java(model) if hasattr(augmentation, "to_java") else augmentation
    if isinstance(transform, transform_class):
        return transform
    try:  # a BatchTransform written in Python (a JPype proxy) converts to the interface
        import jpype

        return jpype.JObject(transform, transform_class)
    except TypeError:
        raise TypeError(
            f"`augmentation` must be an ai.dl4jbridge.train.BatchTransform or have to_java(net) returning "
            f"one (bridge.augment.Augmentation), received {type(augmentation).__name__}."
        ) from None


@contextlib.contextmanager
def _class_weights(java, data: PreparedData, class_weight):
    """Keras' class_weight as DL4J's weighted loss on the output layer, for this fit only."""
    if class_weight is None:
        yield
        return
    if not isinstance(class_weight, dict):
        raise DataError(
            f"Expected `class_weight` as a dict {{class index: weight}}, received {type(class_weight).__name__}."
        )
    if len(data.n_classes) != 1:
        raise DataError(f"class_weight applies to a network with one output; this one has {data.output_names}.")
    width = data.n_classes[0]
    weights = np.ones(width, np.float32)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < width:
            raise DataError(f"class_weight key {key!r} is not a class index in [0, {width}).")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value)
            or value < 0
        ):
            raise DataError(f"class_weight[{key}] = {value!r}: expected a finite number >= 0.")
        weights[key] = value
    networks = jclass("ai.dl4jbridge.train.Networks")
    with java_errors("class_weight"):
        previous = networks.weightLoss(java, 0, to_indarray(weights))
    try:
        yield
    finally:
        networks.setLossFunction(java, 0, previous)


@contextlib.contextmanager
def _listeners_added(java, listeners: list):
    """DL4J TrainingListeners given in callbacks, on the network for this fit only."""
    if not listeners:
        yield
        return
    previous = list(java.getListeners() or [])
    java.addListeners(*listeners)
    try:
        yield
    finally:
        java.setListeners(jclass("java.util.ArrayList")(previous))


def _fit_stream(
    model,
    java,
    stream,
    y,
    epochs,
    batch_size,
    seed,
    validation,
    initial_epoch,
    verbose,
    ours,
    listeners,
    augmentation,
    class_weight,
    spark,
):
    """fit() over a minibatch stream: a Python thread reads minibatches ahead into a bounded Java queue."""
    if spark is not None:
        raise DataError("Minibatch streams train locally; on Spark use bridge.spark.fit_files (DataSet files).")
    if y is not None:
        raise DataError("A minibatch stream carries its own targets: call fit(net, stream) with y=None.")
    if isinstance(validation, float):
        raise DataError("validation_split needs in-memory data; pass validation_data=(x_val, y_val) with a stream.")
    val = prepared(model, *validation, names=("validation x", "validation y")) if validation is not None else None
    probe = stream.first(model)
    history = History(
        {
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "batch_size": stream.batch_size,
            "seed": seed,
            "samples": stream.examples,
            "steps": stream.steps,
            "validation": val is not None,
            "verbose": verbose,
        }
    )
    calls = [ProgressBar(verbose, epochs, stream.examples), *ours]
    with _class_weights(java, probe, class_weight), _listeners_added(java, listeners):

        def start(listener):
            run = training_run(
                java,
                probe,
                epochs=epochs - initial_epoch,
                batch_size=stream.batch_size,
                seed=seed,
                validation=val,
                listener=listener.proxy,
                initial_epoch=initial_epoch,
            )
            run.transform = _transform(augmentation, model)
            run.stream = stream.queue(run, epochs - initial_epoch, seed)
            return run, lambda: jclass(_TRAINER).fit(run), None

        return run_training(model, calls, history, start)


def evaluate(net, x, y, batch_size: int = 1024):
    """DL4J's Evaluation of `net` on x and y (int class indices), laid out as for fit().

    Returns an EvaluationResult; for a graph with several outputs, a dict {output name: EvaluationResult}.
    """
    java = as_java(net)
    positive_int(batch_size, "batch_size")
    data = prepared(net, x, y)
    if TARGETS in data.kinds:
        raise DataError(
            "evaluate() reports classification metrics (DL4J's Evaluation) and needs class indices or "
            "one-hot rows; these targets are float values (regression, multi-label or soft labels): "
            "compare bridge.predict(net, x) with them using the metric you need."
        )
    with java_errors("evaluate"):
        summaries = jclass(_TRAINER).evaluate(training_run(java, data, batch_size=batch_size))
        results = [_evaluation_result(s) for s in summaries]
    return results[0] if len(results) == 1 else dict(zip(data.output_names, results))


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


def _evaluation_result(s) -> EvaluationResult:
    return EvaluationResult(
        float(s.accuracy),
        np.array(s.precision[:]),
        np.array(s.recall[:]),
        np.array(s.f1[:]),
        np.array([row[:] for row in s.confusion], dtype=np.int64),
        str(s.report),
    )
