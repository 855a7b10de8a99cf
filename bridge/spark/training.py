"""Distributed training on Spark: bridge.fit(..., spark=...) and DataSet files, through the one training plan
(bridge.train.plan). DL4J's SparkDl4jMultiLayer or SparkComputationGraph, parameter averaging."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import DataError, java_boundary, java_errors
from ..jvm import jclass
from ..jvm.arrays import to_indarray
from ..model.inputs import input_specs, output_names, output_sizes
from ..model.kinds import as_java
from ..train.callbacks import History
from ..train.plan import TrainingPlan, execute, java_run, make_plan
from ..train.prepared import CLASSES, TARGETS, PreparedData, class_targets, prepared
from ..validate import integer_at_least, positive_int
from .frames import column_names, frame_context, is_dataframe, java_dataframe, same_context, training_frame
from .session import SparkOptions, SparkSession, _in_spark_errors, _java_options, _session_for, _spark_errors

__all__ = ["fit", "fit_frame", "evaluate_frame", "fit_files", "export_datasets"]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")  # hdfs://..., s3a://..., file:/...


def fit(plan: TrainingPlan, data: PreparedData, validation, batch_size: int, spark, options) -> History:
    """bridge.fit(..., spark=...) lands here with a checked plan and data (bridge.train.plan): SparkDl4jMultiLayer
    or SparkComputationGraph, the same parameter and updater-state averaging. `options`: a SparkOptions, or its
    fields as a dict (the per-worker batch then defaults to fit's batch_size)."""
    opts = (
        options
        if isinstance(options, SparkOptions)
        else SparkOptions(**{"batch_size_per_worker": batch_size, **(options or {})})
    )

    def start(trainer, listener):
        run = java_run(plan, data, validation, listener, batch_size)
        return run, lambda: trainer.fit(run)

    return _run(plan, data, data.examples, batch_size, validation, spark, opts, start)


def fit_frame(
    plan: TrainingPlan, df, features, label, validation, batch_size: int, spark, options, call: str = "fit()"
) -> History:
    """bridge.fit(net, df, features=..., label=...) lands here: the DataFrame's rows become minibatches on the
    executors (one shuffle spreads them over averaging rounds), DL4J's parameter averaging trains on them, and the
    driver sees the schema, the row count and the parameters. validation: None, (x, y) arrays (evaluated on the
    driver), or a DataFrame with the same columns (evaluated on the executors)."""
    names, label = column_names(features, label, call)
    jdf = java_dataframe(df)
    same_context(jdf, spark)
    if isinstance(validation, float):
        raise DataError(
            "validation_split needs in-memory data; with a DataFrame pass validation_data=another DataFrame (e.g. "
            "from df.randomSplit([0.9, 0.1])) or (x_val, y_val) arrays."
        )
    frame = training_frame(plan.model, jdf, names, label)
    val_frame, val = None, None
    if is_dataframe(validation):
        val_frame = training_frame(plan.model, java_dataframe(validation), names, label)
    elif validation is not None:
        val = prepared(plan.model, *validation, names=("validation x", "validation y"))
    opts = (
        options
        if isinstance(options, SparkOptions)
        else SparkOptions(**{"batch_size_per_worker": batch_size, **(options or {})})
    )
    for name, value, default in (
        ("repartition", opts.repartition, "Never"),
        ("rdd_training_approach", opts.rdd_training_approach, "Direct"),
    ):
        if value != default:
            raise DataError(
                f"Received {name}={value!r}: a DataFrame's rows are spread over the averaging rounds by one shuffle per "
                f"fit and read by each round's workers, so {name} applies to arrays only. Leave it at {default!r}."
            )
    columns = frame.columns()
    kind = CLASSES if columns.classIndices() else TARGETS
    # The run carries the network, classes and validation arrays; the training data are the DataFrame's rows.
    classes = PreparedData([], [], [int(columns.outputWidth())], output_names(plan.model), (kind,))
    context = frame_context(jdf)
    session = SparkSession(str(context.master()), context)
    with _spark_errors("counting the DataFrame's rows"):
        rows = int(frame.count())

    def start(trainer, listener):
        run = java_run(plan, classes, val, listener, batch_size)
        return run, lambda: trainer.fitFrame(run, frame, val_frame)

    history = _run(plan, classes, rows, batch_size, val, session, opts, start)
    if isinstance(spark, SparkSession):
        spark.last_timings = session.last_timings
    return history


def evaluate_frame(net, df, features, label, batch_size: int, spark):
    """bridge.evaluate(net, df, ...): DL4J's Evaluation computed on the executors (the driver gets the merged
    counts). Returns the Java EvaluationSummary array of the one output."""
    names, label = column_names(features, label, "evaluate()")
    jdf = java_dataframe(df)
    same_context(jdf, spark)
    frame = training_frame(net, jdf, names, label)
    if not frame.columns().classIndices():
        raise DataError(
            f"evaluate() reports classification metrics (DL4J's Evaluation) and needs class indices in the label "
            f"column; {label!r} holds target arrays (regression, multi-label or soft labels)."
        )
    context = frame_context(jdf)
    trainer = jclass("ai.dl4jbridge.spark.SparkTrainer")(
        context, _java_options(SparkOptions(), int(context.defaultParallelism()))
    )
    with _spark_errors("evaluating a DataFrame on Spark"):
        return trainer.evaluateFrame(as_java(net), frame, batch_size)


@java_boundary("fit_files")
def fit_files(
    net,
    directory,
    n_classes: int | None = None,
    epochs: int = 1,
    seed: int = 42,
    validation=None,
    progress: bool = True,
    spark="local[*]",
    callbacks=None,
    initial_epoch: int = 0,
    verbose: int | None = None,
    spark_options: SparkOptions | None = None,
    *,
    validation_data=None,
    shuffle: bool = True,
    class_weight: dict | None = None,
    **options,
) -> History:
    """Train from DataSet files (see export_datasets) that every worker can read: nothing is collected through
    Python or the driver. net: a MultiLayerNetwork or a ComputationGraph with one input and one output, whose
    output width is the files' class count (n_classes, if given, must say the same). epochs, initial_epoch,
    shuffle, verbose, callbacks (once per epoch) and class_weight as in bridge.fit: `epochs` is the index of the
    last epoch. validation_data (or validation): optional (x, y) evaluated on the driver after each epoch."""
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
        distributed=True,
    )
    if len(input_specs(net)) != 1 or len(output_names(net)) != 1:
        raise DataError(
            "fit_files trains networks with one input and one output (DataSet files); this graph has "
            f"inputs {[s.name for s in input_specs(net)]} and outputs {output_names(net)}: use bridge.fit(..., spark=...)."
        )
    folder = _location(directory)
    with java_errors(f"listing DataSet files in {folder}"):
        files = list(jclass("ai.dl4jbridge.spark.HadoopFiles").list(folder, "part-", ".bin"))
    if not files:
        raise DataError(
            f"{folder} holds no DataSet files (part-*.bin): write them with bridge.spark.export_datasets()."
        )
    meta = _dataset_metadata(folder)
    width = _files_class_count(net, meta, n_classes, folder)
    if validation is not None and validation_data is not None:
        raise TypeError("fit_files() received both `validation` and `validation_data` (the same thing): pass one.")
    validation = validation if validation is not None else validation_data
    val = prepared(net, *validation, names=("validation x", "validation y")) if validation is not None else None
    batch_size = int(meta.get("batch_size", 32))
    opts = spark_options or SparkOptions(**{"batch_size_per_worker": batch_size, **options})
    examples = int(meta.get("examples", 0))
    # The run carries the network, classes and validation; the training data are the files.
    classes = PreparedData([], [], [width], output_names(net), (CLASSES,))

    def start(trainer, listener):
        run = java_run(plan, classes, val, listener, batch_size)
        run.dataFiles, run.dataFileExamples = folder, examples
        return run, lambda: trainer.fitFiles(run)

    return _run(plan, classes, examples, batch_size, val, spark, opts, start)


def _location(directory) -> str:
    """A folder as Hadoop names it: a URI (hdfs://, s3a://, file:...) as it is; a local path made absolute (a path
    relative to this process's working directory, not the JVM's)."""
    text = str(directory)
    if not text:
        raise DataError("Received an empty `directory`: pass a folder path or a Hadoop file system URI.")
    return text if _URI.match(text) else str(Path(text).expanduser().absolute())


def _dataset_metadata(folder: str) -> dict:
    path = f"{folder.rstrip('/')}/datasets.json"
    with java_errors(f"reading {path}"):
        text = jclass("ai.dl4jbridge.spark.HadoopFiles").readText(path)
    if text is None:
        return {}
    try:
        meta = json.loads(str(text))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise DataError(f"{path} is not readable JSON ({exc}): write the folder again with export_datasets().") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path} does not hold export_datasets()'s metadata (a JSON object).")
    return meta


def _files_class_count(net, meta: dict, n_classes, folder: str) -> int:
    """The network's output width, checked against n_classes and the files' recorded class count."""
    width = output_sizes(net)[0]
    if n_classes is not None and (isinstance(n_classes, bool) or n_classes != width):
        raise DataError(
            f"Received n_classes={n_classes!r}, but the network's output has {width} units: the DataSet files' "
            "labels are one-hot rows of the output's width. Pass n_classes={width} or omit it."
        )
    recorded = meta.get("classes")
    if recorded is not None and recorded != width:
        raise DataError(
            f"The DataSet files in {folder} hold {recorded}-class labels (datasets.json), but the network's output "
            f"has {width} units. Write them again with export_datasets(..., n_classes={width}), or train a network "
            f"with {recorded} outputs."
        )
    return int(width)


@java_boundary("export_datasets")
def export_datasets(
    x,
    y=None,
    directory=None,
    n_classes: int | None = None,
    batch_size: int = 32,
    *,
    net=None,
    features=None,
    label=None,
) -> int:
    """Write training data once as DL4J DataSet files of `batch_size` rows, for fit_files(), into `directory`: a
    local folder or any Hadoop file system URI (hdfs://, s3a://, ...). Returns the file count.

    Arrays: x float features (n, F) or images (n, C, H, W) / (n, H, W, C), finite; y (n,) integer class indices in
    [0, n_classes), or one-hot rows; n_classes: the label width written (the network's output width); default: the
    largest label + 1. The driver writes them.
    A DataFrame (export_datasets(df, directory, net=net, features=..., label=...)): its rows become DataSets on the
    executors, which write the files (part-PPPPP-NNNNNN.bin per partition); net gives the input shape and the label
    width, as for bridge.fit(net, df, ...), and n_classes, if given, must equal that width."""
    if is_dataframe(x):
        if directory is None and isinstance(y, (str, Path)):
            y, directory = None, y  # export_datasets(df, "hdfs://...")
        return _export_frame(x, y, directory, n_classes, batch_size, net, features, label)
    if net is not None or features is not None or label is not None:
        raise TypeError("export_datasets() takes net, features and label with a DataFrame only; arrays need x and y.")
    if y is None or directory is None:
        raise TypeError("export_datasets(x, y, directory, ...) needs y and directory with arrays.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(
            f"Expected x (n, features) or images (n, C, H, W) / (n, H, W, C) with n >= 1, received shape {x.shape}."
        )
    if not np.isfinite(x).all():
        raise DataError(
            "x holds NaN or infinite values (after conversion to float32): DataSet files need finite features."
        )
    positive_int(batch_size, "batch_size")
    labels = _class_labels(y, len(x), n_classes)
    classes = int(n_classes) if n_classes is not None else int(labels.max()) + 1
    folder = _location(directory)
    with java_errors(f"writing DataSet files to {folder}"):
        count = int(
            jclass("ai.dl4jbridge.spark.SparkTrainer").exportDataSets(
                to_indarray(x), to_indarray(labels), classes, batch_size, folder
            )
        )
    metadata = {"examples": len(x), "features": list(x.shape[1:]), "classes": classes, "batch_size": batch_size}
    _write_metadata(folder, {**metadata, "files": count})
    return count


def _export_frame(df, y, directory, n_classes, batch_size, net, features, label) -> int:
    if y is not None:
        raise TypeError("export_datasets(df, directory, ...) takes the labels from the DataFrame (label=...), not y.")
    if directory is None:
        raise TypeError("export_datasets(df, directory, net=..., ...) needs the directory (a path or URI) to write.")
    if net is None:
        raise TypeError(
            "export_datasets(df, ...) needs net=: the network the files are for gives the input shape and the label "
            "width the DataFrame's rows are checked against (as bridge.fit(net, df, ...) does)."
        )
    positive_int(batch_size, "batch_size")
    names, label = column_names(features, label, "export_datasets()")
    jdf = java_dataframe(df)
    frame = training_frame(net, jdf, names, label)
    width = int(frame.columns().outputWidth())
    if n_classes is not None and (isinstance(n_classes, bool) or n_classes != width):
        raise DataError(
            f"Received n_classes={n_classes!r}, but the network's output has {width} units: the files hold labels of "
            f"the output's width. Pass n_classes={width} or omit it."
        )
    folder = _location(directory)
    context = frame_context(jdf)
    trainer = jclass("ai.dl4jbridge.spark.SparkTrainer")(
        context, _java_options(SparkOptions(), int(context.defaultParallelism()))
    )
    with _spark_errors(f"writing DataSet files to {folder}"):
        files, rows = (int(v) for v in trainer.exportFrame(frame, batch_size, folder))
    shape = [int(v) for v in frame.columns().inputShape()]
    _write_metadata(
        folder, {"examples": rows, "features": shape, "classes": width, "batch_size": batch_size, "files": files}
    )
    return files


def _write_metadata(folder: str, metadata: dict) -> None:
    with java_errors(f"writing {folder}/datasets.json"):
        jclass("ai.dl4jbridge.spark.HadoopFiles").writeText(f"{folder.rstrip('/')}/datasets.json", json.dumps(metadata))


def _class_labels(y, n: int, n_classes) -> np.ndarray:
    """y as (n,) int32 class indices in [0, n_classes): indices as they are, one-hot rows by their argmax."""
    if n_classes is not None:
        integer_at_least(n_classes, "n_classes", 1)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[0] == n and (n_classes is None or y.shape[1] == n_classes):
        width = y.shape[1]
        labels, kind = class_targets(y, n, width, "y")
        if kind != CLASSES:
            raise DataError("DataSet files hold class labels: pass y as class indices or one-hot rows.")
        return labels
    labels, _ = class_targets(y, n, int(n_classes) if n_classes is not None else _label_bound(y), "y")
    return labels


def _label_bound(y: np.ndarray) -> int:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.size == 0:
        return 1 << 30  # class_targets then names what is wrong with y
    return int(y.max()) + 1 if y.min() >= 0 else 1 << 30


def _run(plan: TrainingPlan, data, samples: int, batch_size: int, validation, spark, options: SparkOptions, start):
    """Train on Spark through the one training plan: per-epoch callbacks, and Ctrl-C cancels the running jobs
    (the network keeps its last averaged parameters)."""
    with _session_for(spark) as active:
        trainer = jclass("ai.dl4jbridge.spark.SparkTrainer")(active.context, _java_options(options, active.parallelism))

        def begin(listener):
            run, call = start(trainer, listener)
            return run, _in_spark_errors(call, f"Spark training on {active.master}"), trainer.cancel

        try:
            history = execute(plan, data, samples, batch_size, validation, begin)
        finally:
            active.last_timings = {
                str(k): {"events": int(v[0]), "total_ms": int(v[1])} for k, v in dict(trainer.timings()).items()
            }
    if options.stats_json:
        Path(options.stats_json).write_text(json.dumps(active.last_timings, indent=2))
    return history
