"""Distributed training on Apache Spark (DL4J's SparkDl4jMultiLayer or SparkComputationGraph, parameter averaging).

    with bridge.spark.session("local[2]") as spark:           # or "spark://host:7077"
        bridge.fit(net, x, y, epochs=2, spark=spark)
    bridge.fit(net, x, y, epochs=2, spark="local[2]")        # a session for just this call

The Spark driver lives in this process's JVM (JPype); executors get the same jars and the Java 17
flags. The trained network is an ordinary DL4J network: evaluate, save and export it as any other.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, JavaError, SparkError, java_boundary, java_errors
from ..files import write_atomic
from ..jvm import JAVA17_MODULE_FLAGS, classpath, jclass, jvm_options, start_jvm
from ..jvm.arrays import to_indarray
from ..model.inputs import input_specs, output_names, output_sizes
from ..validate import boolean, choice, integer_at_least, positive_int
from .callbacks import History
from .plan import TrainingPlan, execute, java_run, make_plan
from .prepared import CLASSES, PreparedData, class_targets, prepared

__all__ = ["session", "SparkSession", "fit", "fit_files", "export_datasets", "SparkOptions"]

_MASTER = re.compile(r"^(local(\[(\*|\d+)\])?|spark://[\w.\-]+:\d+)$")
MASTER_PROBE_SECONDS = 5.0
# DL4J's Spark stats ask an NTP server for the time by default; there is none to reach here (nor
# on many clusters), and one machine's clock is what the timings need.
TIME_SOURCE = ("org.deeplearning4j.spark.time.TimeSource", "org.deeplearning4j.spark.time.SystemClockTimeSource")


@dataclass
class SparkOptions:
    """ParameterAveragingTrainingMaster settings (see DL4J's Spark training guide)."""

    batch_size_per_worker: int = 32
    averaging_frequency: int = 40  # minibatches per worker between averagings; each round is a Spark job
    workers: int | None = None  # partitions trained at once; default: the session's parallelism
    prefetch_batches: int = 2
    # Never (each worker gets its share of every round) | NumPartitionsWorkersDiffers | Always
    repartition: str = "Never"
    # OpenMP threads per worker; None: the cores shared among the workers in local[N], else spark.task.cpus
    threads_per_worker: int | None = None
    repartition_strategy: str = "Balanced"  # Balanced | ApproximateBalanced | SparkDefault
    collect_stats: bool = True
    save_updater: bool = True  # average Adam's moments too; DL4J's default (False) restarts them every round
    rdd_training_approach: str = "Direct"  # Direct | Export (Export needs a shared Hadoop file system)
    stats_json: str | None = None  # write the phase timings (fit, aggregation, broadcast, data) here
    stats_html: str | None = None  # DL4J's HTML training-stats report
    ui_url: str | None = None  # a DL4J training-UI server the workers post their stats to (fit(ui=...) sets it)
    ui_frequency: int = 1  # with ui_url: a stats report every this many iterations

    _CHOICES = {
        "repartition": ("Always", "NumPartitionsWorkersDiffers", "Never"),
        "repartition_strategy": ("Balanced", "ApproximateBalanced", "SparkDefault"),
        "rdd_training_approach": ("Direct", "Export"),
    }

    def __post_init__(self):
        """Refuse bad settings by name here, before they reach DL4J's builder as Java exceptions."""
        for name, lowest in (
            ("batch_size_per_worker", 1),
            ("averaging_frequency", 1),
            ("prefetch_batches", 0),
            ("workers", 1),
            ("threads_per_worker", 1),
            ("ui_frequency", 1),
        ):
            if getattr(self, name) is not None or name not in ("workers", "threads_per_worker"):
                integer_at_least(getattr(self, name), name, lowest)
        for name in ("collect_stats", "save_updater"):
            boolean(getattr(self, name), name)
        for name, choices in self._CHOICES.items():
            choice(getattr(self, name), name, choices)


@dataclass
class SparkSession:
    """A JavaSparkContext in this process's JVM. Use as a context manager, or call stop()."""

    master: str
    context: object
    last_timings: dict = field(default_factory=dict)

    @property
    def parallelism(self) -> int:
        return int(self.context.defaultParallelism())

    def stop(self) -> None:
        with _spark_errors("stopping Spark"):
            self.context.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


@contextlib.contextmanager
def _spark_errors(context: str):
    """Java errors as SparkError (input errors stay DataError), from a thread JPype may have just attached."""
    thread = jclass("java.lang.Thread").currentThread()
    if thread.getContextClassLoader() is None:  # threads attached by JPype have none; Spark needs one
        thread.setContextClassLoader(jclass("java.lang.ClassLoader").getSystemClassLoader())
    try:
        with java_errors(context):
            yield
    except JavaError as error:
        raise SparkError(str(error)) from error


def _check_master(master: str) -> None:
    if not isinstance(master, str) or not _MASTER.match(master):
        raise DataError(
            f"Received an invalid value for `master`. Received: master={master!r}. "
            "Expected local, local[N], local[*] or spark://HOST:PORT."
        )
    if master.startswith("spark://"):
        host, port = master[len("spark://") :].rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=MASTER_PROBE_SECONDS).close()
        except OSError as exc:
            raise SparkError(
                f"Spark master {master} is unreachable ({exc}); is it running, and is the port right?"
            ) from exc


@java_boundary("starting Spark")
def session(
    master: str = "local[*]",
    conf: dict | None = None,
    app_name: str = "dl4j-bridge",
    executor_memory: str = "2g",
    executor_off_heap: str = "3g",
) -> SparkSession:
    """Start Spark in this JVM with what DL4J needs: Kryo with ND4J's registrator, Java 17 flags for
    executors, ND4J off-heap limits, the driver on 127.0.0.1, and this project's jars for executors."""
    _check_master(master)
    if jvm_options() is None:  # a JVM started with the caller's own options is used as it is
        start_jvm()
    settings = {
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": "org.nd4j.kryo.Nd4jRegistrator",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.executor.memory": executor_memory,
        "spark.executor.extraJavaOptions": " ".join(
            [
                *JAVA17_MODULE_FLAGS,
                *_driver_nd4j_flags(),
                f"-D{TIME_SOURCE[0]}={TIME_SOURCE[1]}",
                f"-Dorg.bytedeco.javacpp.maxbytes={executor_off_heap}",
                f"-Dorg.bytedeco.javacpp.maxphysicalbytes={_plus(executor_memory, executor_off_heap)}",
            ]
        ),
        "spark.task.maxFailures": "4",
    }
    if master.startswith("spark://"):
        settings["spark.executor.extraClassPath"] = ":".join(classpath())
    settings.update(conf or {})
    with _spark_errors(f"starting Spark ({master})"):
        jclass("java.lang.System").setProperty(*TIME_SOURCE)
        spark_conf = jclass("org.apache.spark.SparkConf")().setMaster(master).setAppName(app_name)
        for key, value in settings.items():
            spark_conf = spark_conf.set(key, str(value))
        context = jclass("org.apache.spark.api.java.JavaSparkContext")(spark_conf)
    return SparkSession(master, context)


def _driver_nd4j_flags() -> list[str]:
    """The driver JVM's nd4j-native build and DL4J helper settings (bridge.jvm.nd4j_flags), for executors to match."""
    system = jclass("java.lang.System")
    keys = ("org.bytedeco.javacpp.platform.extension", "org.eclipse.deeplearning4j.helpers.disable")
    return [f"-D{key}={system.getProperty(key)}" for key in keys if system.getProperty(key) is not None]


def _plus(a: str, b: str) -> str:
    units = {"k": 1 / 1024 / 1024, "m": 1 / 1024, "g": 1}
    gib = sum(float(v[:-1]) * units[v[-1].lower()] for v in (a, b)) + 1
    return f"{int(gib + 0.999)}g"


@contextlib.contextmanager
def _session_for(spark):
    if isinstance(spark, SparkSession):
        yield spark
    else:
        with session(spark) as owned:
            yield owned


def _java_options(options: SparkOptions, parallelism: int):
    java = jclass("ai.dl4jbridge.spark.SparkOptions")()
    java.batchSizePerWorker = options.batch_size_per_worker
    java.averagingFrequency = options.averaging_frequency
    java.workers = options.workers or parallelism
    java.prefetchBatches = options.prefetch_batches
    java.threadsPerWorker = options.threads_per_worker or 0
    java.repartition = jclass("org.deeplearning4j.spark.api.Repartition").valueOf(options.repartition)
    java.repartitionStrategy = jclass("org.deeplearning4j.spark.api.RepartitionStrategy").valueOf(
        options.repartition_strategy
    )
    java.collectStats = options.collect_stats
    java.saveUpdater = options.save_updater
    java.approach = jclass("org.deeplearning4j.spark.api.RDDTrainingApproach").valueOf(options.rdd_training_approach)
    java.statsHtmlPath = options.stats_html
    java.uiUrl = options.ui_url
    java.uiFrequency = options.ui_frequency
    return java


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


def _in_spark_errors(call, context: str):
    def wrapped():
        with _spark_errors(context):
            return call()

    return wrapped
