"""A Spark standalone cluster on this machine (a master and N workers, each its own JVM process), for
tests, benchmarks and trying the cluster path without a real cluster.

    with StandaloneCluster(workers=2) as cluster:
        bridge.fit(net, x, y, spark=cluster.master_url)

A standalone worker launches executors with the classpath Spark's launcher builds from
$SPARK_HOME/jars, so the cluster gets a SPARK_HOME whose jars/ links to the Maven-built jars of a Spark
installation: Spark and its dependencies, not DL4J, ND4J, JavaCPP or this project's jar, which reach the
executors as a real cluster's would, shipped by the driver (spark.jars, bridge.spark.session).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import urllib.request
from pathlib import Path

from ..errors import SparkError
from ..jvm import JAVA17_MODULE_FLAGS, JavaProcess, free_port, java_command, set_native_thread_defaults
from .jars import spark_install_jars

__all__ = ["StandaloneCluster", "free_port"]

_LOG4J = """rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class StandaloneCluster:
    """A Spark master and `workers` workers on 127.0.0.1, each a bridge.jvm.JavaProcess with its log in the
    cluster's SPARK_HOME (a temporary folder); a context manager that stops them all."""

    def __init__(
        self, workers: int = 2, cores_per_worker: int = 1, worker_memory: str = "3g", start_timeout: float = 90.0
    ):
        self.workers, self.cores, self.memory, self.start_timeout = (
            workers,
            cores_per_worker,
            worker_memory,
            start_timeout,
        )
        self.port, self.ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix="dl4j-bridge-spark-"))
        self.master: JavaProcess | None = None
        self.worker_processes: list[JavaProcess] = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self) -> StandaloneCluster:
        self._make_spark_home()
        try:
            self.master = self._launch(
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.ui_port)],
                ready_port=self.ui_port,
            )
            worker = ["--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory]
            for index in range(self.workers):
                args = [
                    *worker,
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(self.home / "work"),
                    self.master_url,
                ]
                self.worker_processes.append(
                    self._launch(f"worker-{index}", "org.apache.spark.deploy.worker.Worker", args)
                )
            self.master.wait_until(
                lambda: self.alive_workers() >= self.workers,
                self.start_timeout,
                f"{self.workers} Spark workers to register (their logs: {self.home})",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _make_spark_home(self) -> None:
        jars = self.home / "jars"
        jars.mkdir(parents=True)
        for index, entry in enumerate(spark_install_jars()):
            (jars / f"{index:03d}-{Path(entry).name}").symlink_to(entry)
        # Spark's launcher looks for jars/ in a SPARK_HOME only when it holds a RELEASE file.
        (self.home / "RELEASE").write_text("Spark 3.5 jars linked by dl4j-bridge\n")
        (self.home / "conf").mkdir()
        (self.home / "conf" / "log4j2.properties").write_text(_LOG4J)

    def _launch(self, name: str, main_class: str, args: list[str], ready_port: int | None = None) -> JavaProcess:
        env = {
            **os.environ,
            "SPARK_HOME": str(self.home),
            "SPARK_SCALA_VERSION": "2.12",
            "SPARK_LOCAL_IP": "127.0.0.1",
            # Executors' scratch space (fetched jars, shuffle and block files) inside the cluster's folder.
            "SPARK_LOCAL_DIRS": str(self.home / "local"),
            "OMP_NUM_THREADS": "1",
        }
        set_native_thread_defaults(env)  # the executors' ND4J, as in the driver
        command = java_command(
            main_class,
            classpath=[self.home / "conf", f"{self.home}/jars/*"],
            jvm_flags=["-Xmx512m", *JAVA17_MODULE_FLAGS],
            args=args,
        )
        # A process group of its own (JavaProcess): stopping a worker also stops the executors it launched.
        return JavaProcess(
            command,
            name=f"the Spark {name}",
            ready_port=ready_port,
            start_timeout=self.start_timeout,
            env=env,
            log_file=self.home / f"{name}.log",
            error=SparkError,
        ).start()

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as response:
                return int(json.load(response).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def kill_worker(self, index: int = 0) -> None:
        """Kill a worker and its executors at once (SIGKILL), as a crashed machine would vanish."""
        self.worker_processes[index].kill(signal.SIGKILL)

    def stop(self) -> None:
        processes = [p for p in [*self.worker_processes, self.master] if p is not None]
        for process in processes:  # all of them at once, then each waited for
            process.kill(signal.SIGTERM)
        for process in processes:
            process.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def pids(self) -> list[int]:
        return [p.pid for p in [self.master, *self.worker_processes] if p is not None]
