"""A Spark session in this process's JVM, set up for DL4J, and the settings of DL4J's parameter averaging.

The Spark driver lives in this process's JVM (JPype); executors get the same jars and the Java 17 flags.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ..errors import DataError, JavaError, SparkError, java_boundary, java_errors
from ..jvm import JAVA17_MODULE_FLAGS, jclass, jvm_options, start_jvm
from ..validate import boolean, choice, integer_at_least
from .gateway import PySparkGateway
from .managers import check_master, manager, manager_settings
from .submit import submitted_settings

__all__ = ["session", "session_settings", "driver_address", "SparkSession", "SparkOptions"]

LOOPBACK = "127.0.0.1"

# DL4J's Spark stats ask an NTP server for the time by default; there is none to reach here (nor
# on many clusters), and one machine's clock is what the timings need.
TIME_SOURCE = ("org.deeplearning4j.spark.time.TimeSource", "org.deeplearning4j.spark.time.SystemClockTimeSource")


@dataclass
class SparkOptions:
    """ParameterAveragingTrainingMaster settings (see DL4J's Spark training guide)."""

    batch_size_per_worker: int = 32
    # minibatches per worker between averagings; each round is a Spark job. 20: within a point of local training's
    # accuracy for LeNet and resnet_small, where 40 was not (BENCHMARKS.md, spark-averaging)
    averaging_frequency: int = 20
    workers: int | None = None  # partitions trained at once; default: the session's parallelism
    prefetch_batches: int = 2
    # Never (each worker gets its share of every round) | NumPartitionsWorkersDiffers | Always
    repartition: str = "Never"
    # OpenMP threads per worker; None: the cores shared among the workers in local[N], else spark.task.cpus
    threads_per_worker: int | None = None
    repartition_strategy: str = "Balanced"  # Balanced | ApproximateBalanced | SparkDefault
    collect_stats: bool = True
    save_updater: bool = True  # average Adam's moments too; DL4J's default (False) restarts them every round
    # The bridge's averaging round (configuration broadcast once per epoch, parameters and updater state as one float
    # array each way); False: DL4J's own round. The same averaging, a fraction of the fixed cost per round.
    fast_rounds: bool = True
    keep_worker_networks: bool = True  # with fast_rounds: workers keep their network between rounds
    aggregation_depth: int = 2  # levels of Spark's treeAggregate over the workers' results (DL4J's aggregationDepth)
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
            ("aggregation_depth", 1),
        ):
            if getattr(self, name) is not None or name not in ("workers", "threads_per_worker"):
                integer_at_least(getattr(self, name), name, lowest)
        for name in ("collect_stats", "save_updater", "fast_rounds", "keep_worker_networks"):
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


@java_boundary("starting Spark")
def session(
    master: str | None = None,
    conf: dict | None = None,
    app_name: str = "dl4j-bridge",
    executor_memory: str = "2g",
    executor_off_heap: str = "3g",
) -> SparkSession:
    """Start Spark in this JVM with what DL4J needs: Kryo with ND4J's registrator, Java 17 flags for
    executors, ND4J off-heap limits, the driver on $SPARK_LOCAL_IP (else 127.0.0.1, whatever address this
    machine's hostname resolves to; conf's spark.driver.host/bindAddress win: driver_address), and this project's jars
    shipped to the executors (bridge.spark.managers: standalone, YARN, Kubernetes).

    master: local[*] (the default), local[N], spark://HOST:PORT, yarn, or k8s://https://HOST:PORT. With no master
    under spark-submit, spark-submit's master and settings (bridge.spark.submit); `conf` wins over every default."""
    master, app_name, settings = session_settings(master, conf, app_name, executor_memory, executor_off_heap)
    check_master(master, probe=True)
    with _spark_errors(f"starting Spark ({master})"):
        jclass("java.lang.System").setProperty(*TIME_SOURCE)
        # Spark names this machine after SPARK_LOCAL_IP as this JVM's environment had it at start, else after the
        # first non-loopback interface it finds: the driver's address instead.
        jclass("org.apache.spark.util.Utils").setCustomHostname(settings["spark.driver.host"])
        spark_conf = jclass("org.apache.spark.SparkConf")().setMaster(master).setAppName(app_name)
        for key, value in settings.items():
            spark_conf = spark_conf.set(key, str(value))
        context = jclass("org.apache.spark.api.java.JavaSparkContext")(spark_conf)
    return SparkSession(master, context)


def session_settings(
    master: str | None = None,
    conf: dict | None = None,
    app_name: str = "dl4j-bridge",
    executor_memory: str = "2g",
    executor_off_heap: str = "3g",
) -> tuple[str, str, dict[str, str]]:
    """(master, application name, every Spark setting) that session() starts with, the same arguments; nothing
    is started or contacted but this process's JVM (and, under spark-submit, its gateway)."""
    submitted = submitted_settings() if master is None else None
    if submitted:
        master = submitted.pop("spark.master", "local[*]")
        app_name = submitted.pop("spark.app.name", app_name)
        conf = {**submitted, **(conf or {})}
    master = master or "local[*]"
    check_master(master, probe=False)
    if jvm_options() is None:  # a JVM started with the caller's own options is used as it is
        start_jvm()
    settings = {
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": "org.nd4j.kryo.Nd4jRegistrator",
        **driver_address(master, conf),
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
        **manager_settings(master, executor_memory, executor_off_heap, conf),
        **(conf or {}),
    }
    if manager(master) == "k8s" and settings["spark.driver.host"].startswith("127."):
        raise DataError(
            f"Received master={master!r} with the driver on {settings['spark.driver.host']}, which no pod reaches: "
            "set SPARK_LOCAL_IP, or conf={'spark.driver.host': ADDRESS, 'spark.driver.bindAddress': ADDRESS}."
        )
    return master, app_name, {k: str(v) for k, v in settings.items()}


def driver_address(master: str, conf: dict | None = None) -> dict[str, str]:
    """spark.driver.host and spark.driver.bindAddress: never an address Spark picks by itself (the address this
    machine's hostname resolves to, else its first non-loopback interface). The user's own settings win: conf's,
    else $SPARK_LOCAL_IP (this machine's address on the cluster's network), else loopback.

    local[N]: everything runs in this JVM, so the driver binds where it says it is: a conf'd spark.driver.host alone
    moves the bind address with it (task results over 1 MB are fetched from the advertised block manager). Other
    masters bind on $SPARK_LOCAL_IP (or loopback) whatever host is advertised: conf={"spark.driver.host": PUBLIC}
    is a driver behind NAT."""
    conf = conf or {}
    local_ip = os.environ.get("SPARK_LOCAL_IP") or LOOPBACK
    host = conf.get("spark.driver.host") or local_ip
    bind = conf.get("spark.driver.bindAddress") or (host if manager(master) == "local" else local_ip)
    return {"spark.driver.host": str(host), "spark.driver.bindAddress": str(bind)}


def _driver_nd4j_flags() -> list[str]:
    """The driver JVM's nd4j-native build and DL4J helper settings (bridge.jvm.nd4j_flags), for executors to match."""
    system = jclass("java.lang.System")
    keys = (
        "org.bytedeco.javacpp.platform.extension",
        "dl4jbridge.oneDnnHelpers",
        "org.eclipse.deeplearning4j.helpers.disable",  # DL4J's own switch, where the caller's flags set it
    )
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
    java.fastRounds = options.fast_rounds
    java.keepWorkerNetworks = options.keep_worker_networks
    java.aggregationDepth = options.aggregation_depth
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
