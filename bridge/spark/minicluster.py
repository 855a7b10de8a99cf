"""A YARN and an HDFS on this machine for tests and trials: Hadoop's MiniYARNCluster and MiniDFSCluster in a `java`
process of their own (java/testcluster), never in the training JVM. It writes the client configuration a cluster's
administrator hands out; point HADOOP_CONF_DIR at it and use spark="yarn" as on a real cluster.

    with YarnMiniCluster() as cluster:
        os.environ.update(cluster.environ)                  # HADOOP_CONF_DIR, YARN_CONF_DIR
        with bridge.spark.session("yarn") as s:
            bridge.fit(net, x, y, spark=s)

Every server binds to 127.0.0.1. The process ends when this Python process closes its stdin (or dies), and stop()
also ends the containers YARN started (Spark's ApplicationMaster and executors) and deletes the cluster's files.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..errors import SetupError, SparkError
from ..jvm import REPO_JAVA_DIR, VERSION, java_home
from ..jvm.javaproc import signal_group, signal_process

__all__ = ["YarnMiniCluster", "testcluster_classpath"]

MAIN_CLASS = "ai.dl4jbridge.testcluster.YarnHdfsCluster"


def testcluster_classpath() -> list[str]:
    """java/testcluster's jar and its dependencies (hadoop-client-minicluster 3.3.4 and what it lacks)."""
    target = REPO_JAVA_DIR / "testcluster" / "target"
    jar, listing = target / f"dl4j-bridge-testcluster-{VERSION}.jar", target / "classpath.txt"
    if not (jar.is_file() and listing.is_file()):
        raise SetupError(f"The test clusters are not built ({jar}): run `cd java && ./mvnw -B -q package -DskipTests`.")
    return [str(jar), *[e for e in listing.read_text().strip().split(os.pathsep) if e]]


def hostname_is_loopback() -> str | None:
    """None if this machine's host name resolves to loopback (the NodeManagers name themselves after it), else why."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError as exc:
        return f"host name {name!r} does not resolve ({exc})"
    return None if address.startswith("127.") else f"host name {name!r} resolves to {address}, not loopback"


class YarnMiniCluster:
    def __init__(self, node_managers: int = 1, node_memory_mb: int = 6144, start_timeout: float = 120.0):
        self.node_managers, self.node_memory_mb, self.start_timeout = node_managers, node_memory_mb, start_timeout
        self.home = Path(tempfile.mkdtemp(prefix="dl4j-bridge-yarn-"))
        self.conf_dir = self.home / "conf"
        self.process: subprocess.Popen | None = None
        self.ready_line = ""

    @property
    def environ(self) -> dict[str, str]:
        return {"HADOOP_CONF_DIR": str(self.conf_dir), "YARN_CONF_DIR": str(self.conf_dir)}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self) -> YarnMiniCluster:
        reason = hostname_is_loopback()
        if reason:
            raise SetupError(f"YarnMiniCluster binds to loopback only, but the {reason}.")
        java = str(java_home() / "bin" / "java")
        cmd = [
            java,
            "-Xmx1g",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "-Djava.net.preferIPv4Stack=true",
            "-cp",
            os.pathsep.join(testcluster_classpath()),
            MAIN_CLASS,
            "--conf-dir",
            str(self.conf_dir),
            "--node-managers",
            str(self.node_managers),
            "--node-memory-mb",
            str(self.node_memory_mb),
        ]
        # Containers inherit these from the NodeManager: their `java` is $JAVA_HOME/bin/java, and Spark in them
        # binds loopback.
        env = {**os.environ, "JAVA_HOME": str(java_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
        for name in ("HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_HOME", "CLASSPATH"):
            env.pop(name, None)
        log = open(self.home / "cluster.log", "wb")
        self.process = subprocess.Popen(
            cmd,
            cwd=self.home,  # the mini clusters write ./target
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        if not lines or not lines[0].startswith("READY"):
            tail = (self.home / "cluster.log").read_text(errors="replace")[-3000:]
            raise SparkError(f"The YARN/HDFS mini clusters did not start within {self.start_timeout:.0f} s:\n{tail}")
        self.ready_line = lines[0].strip()

    def container_pids(self) -> list[int]:
        """Processes YARN started (ApplicationMasters, executors): their command lines name this cluster's folder."""
        marker, found = str(self.home).encode(), []
        own = {os.getpid(), self.process.pid if self.process else -1}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in own:
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.stdin.close()  # the cluster's signal to stop (its shutdown hook stops YARN and HDFS)
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while (left := self.container_pids()) and time.monotonic() < deadline:
            for pid in left:
                signal_process(pid, signal.SIGKILL)
            time.sleep(0.2)
        shutil.rmtree(self.home, ignore_errors=True)
