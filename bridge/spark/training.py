"""Distributed training on Spark: bridge.fit(..., spark=...) and DataSet files, through the one training plan
(bridge.train.plan). DL4J's SparkDl4jMultiLayer or SparkComputationGraph, parameter averaging."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError, java_boundary, java_errors
from ..files import write_atomic
from ..jvm import jclass
from ..jvm.arrays import to_indarray
from ..model.inputs import input_specs, output_names, output_sizes
from ..train.callbacks import History
from ..train.plan import TrainingPlan, execute, java_run, make_plan
from ..train.prepared import CLASSES, PreparedData, class_targets, prepared
from ..validate import integer_at_least, positive_int
from .session import SparkOptions, _in_spark_errors, _java_options, _session_for

__all__ = ["fit", "fit_files", "export_datasets"]


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
    folder = Path(directory)
    files = sorted(folder.glob("part-*.bin"))
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
        run.dataFiles, run.dataFileExamples = str(folder.resolve()), examples
        return run, lambda: trainer.fitFiles(run)

    return _run(plan, classes, examples, batch_size, val, spark, opts, start)


def _dataset_metadata(folder: Path) -> dict:
    path = folder / "datasets.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not readable JSON ({exc}): write the folder again with export_datasets().") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path} does not hold export_datasets()'s metadata (a JSON object).")
    return meta


def _files_class_count(net, meta: dict, n_classes, folder: Path) -> int:
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
def export_datasets(x, y, directory, n_classes: int | None = None, batch_size: int = 32) -> int:
    """Write (x, y) once as DL4J DataSet files of `batch_size` rows, for fit_files(). Returns the file count.

    x: float features (n, F) or images (n, C, H, W) / (n, H, W, C), finite. y: (n,) integer class indices in
    [0, n_classes), or one-hot rows. n_classes: the label width written (the network's output width); default:
    the largest label + 1."""
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
    with java_errors(f"writing DataSet files to {directory}"):
        count = int(
            jclass("ai.dl4jbridge.spark.SparkTrainer").exportDataSets(
                to_indarray(x), to_indarray(labels), classes, batch_size, str(directory)
            )
        )
    metadata = {"examples": len(x), "features": list(x.shape[1:]), "classes": classes, "batch_size": batch_size}
    write_atomic(Path(directory) / "datasets.json", json.dumps({**metadata, "files": count}).encode())
    return count


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
