"""A Spark session in this process's JVM, set up for DL4J, and the settings of DL4J's parameter averaging.

The Spark driver lives in this process's JVM (JPype); executors get the same jars and the Java 17 flags.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass, field

from ..errors import DataError, JavaError, SparkError, java_boundary, java_errors
from ..jvm import JAVA17_MODULE_FLAGS, classpath, jclass, jvm_options, start_jvm
from ..validate import boolean, choice, integer_at_least
from .gateway import PySparkGateway

__all__ = ["session", "SparkSession", "SparkOptions"]

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
    """A JavaSparkContext in this process's JVM. Use as a context manager, or call stop().

    sql: Spark SQL's Java SparkSession on the same context (DataFrames, SQL, parquet: JPype proxies);
    pyspark: a pyspark.sql.SparkSession on the same context (PySpark on the bridge's JVM; the `spark` extra).
    DataFrames of either train with bridge.fit(net, df, features=..., label=...) without leaving the executors."""

    master: str
    context: object
    last_timings: dict = field(default_factory=dict)
    _sql: object = field(default=None, repr=False)
    _pyspark: object = field(default=None, repr=False)

    @property
    def parallelism(self) -> int:
        return int(self.context.defaultParallelism())

    @property
    def sql(self):
        """org.apache.spark.sql.SparkSession (Java, through JPype) over this session's SparkContext."""
        if self._sql is None:
            with _spark_errors("starting Spark SQL"):
                self._sql = jclass("org.apache.spark.sql.SparkSession").builder().getOrCreate()
        return self._sql

    @property
    def pyspark(self):
        """pyspark.sql.SparkSession over this session's SparkContext (PySpark's client on the bridge's JVM)."""
        if self._pyspark is None:
            with _spark_errors("starting PySpark on the bridge's JVM"):
                self._pyspark = PySparkGateway(self.context, self.sql)
        return self._pyspark.session

    @java_boundary("reading parquet")
    def read_parquet(self, *paths: str):
        """A Java Dataset<Row> of parquet files or folders (any Hadoop file system URI), read by the executors."""
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise DataError(f"read_parquet() takes one or more paths or URIs (str), received {paths!r}.")
        return self.sql.read().parquet(*paths)

    def stop(self) -> None:
        gateway, self._pyspark, self._sql = self._pyspark, None, None
        with _spark_errors("stopping Spark"):
            if gateway is not None:
                gateway.stop()  # stops the context through PySpark, then py4j's server and client
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


def _in_spark_errors(call, context: str):
    def wrapped():
        with _spark_errors(context):
            return call()

    return wrapped
