"""Several machines on one: Linux network namespaces on a private bridge, a Spark standalone master and workers
each in its own, with its own address, SPARK_HOME, work, scratch and temporary folders, HOME and JavaCPP cache
(nothing shared but the read-only Maven jars that each SPARK_HOME links). For tests and measurements; needs root.

    with Network(["master", "worker-0", "worker-1", "driver"]) as net, MachineCluster(net, workers=2) as cluster:
        net.run("driver", [python, "train.py"], env={"SPARK_LOCAL_IP": net.address("driver")})

The driver runs in a namespace too (a process started with `ip netns exec`), so every packet goes between the
namespaces' own addresses: nothing reaches this machine's interfaces or any other address. A machine's link is cut
with `ip link set eth0 down` inside its namespace (cut()); kill_worker() ends a worker and its executors at once.

Ports (fixed, the same on every machine, each on its own address):
    master 7077 (web UI 8080), worker 7078 (web UI 8081), driver 7079, block managers 7080 (driver and executors;
    a second executor on one machine takes 7081), the driver serves the jars over its RPC port.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import SetupError, SparkError
from ..jvm import JAVA17_MODULE_FLAGS, java_home, set_native_thread_defaults
from ..jvm.javaproc import signal_group, signal_process
from .jars import spark_install_jars

__all__ = ["Network", "MachineCluster", "namespaces_missing", "PORTS", "spark_ports"]

PORTS = {"master": 7077, "master_ui": 8080, "worker": 7078, "worker_ui": 8081, "driver": 7079, "block_manager": 7080}
SUBNET = "10.213.0"  # a private /24 that exists only inside the namespaces this module creates
COMMAND_TIMEOUT = 30.0
_LOG4J = """rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def spark_ports() -> dict[str, str]:
    """The driver's fixed ports, as session conf: what a firewall between driver and workers must let through."""
    return {"spark.driver.port": str(PORTS["driver"]), "spark.blockManager.port": str(PORTS["block_manager"])}


def namespaces_missing() -> str | None:
    """None where this process may create network namespaces and veth pairs on a bridge; else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    probe = f"dlb-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "add", "br0", "type", "bridge")
    except SetupError as exc:
        return f"cannot create a network namespace with a bridge: {exc}"
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=COMMAND_TIMEOUT)
    return None


def _ip(*args: str) -> str:
    try:
        run = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"`ip {' '.join(args)}` failed: {exc}") from exc
    if run.returncode != 0:
        raise SetupError(f"`ip {' '.join(args)}` failed: {run.stderr.strip()}")
    return run.stdout


class Network:
    """One namespace per machine (eth0 at SUBNET.N/24), all on a bridge inside a namespace of its own."""

    def __init__(self, machines: list[str], tag: str | None = None):
        self.machines = list(machines)
        self.tag = tag or f"dlb{os.getpid() % 100000}"
        self.switch = f"{self.tag}-switch"
        self.created: list[str] = []

    def namespace(self, machine: str) -> str:
        return f"{self.tag}-{machine}"

    def address(self, machine: str) -> str:
        return f"{SUBNET}.{self.machines.index(machine) + 1}"

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.delete()
        return False

    def create(self) -> Network:
        try:
            self._add(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for index, machine in enumerate(self.machines):
                ns, port = self.namespace(machine), f"port{index}"
                self._add(ns)
                _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch)
                _ip("-n", self.switch, "link", "set", port, "master", "br0")
                _ip("-n", self.switch, "link", "set", port, "up")
                _ip("-n", ns, "addr", "add", f"{self.address(machine)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise
        return self

    def _add(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.created.append(ns)

    def cut(self, machine: str) -> None:
        """Pull the machine's cable: its eth0 goes down, its processes keep running."""
        _ip("-n", self.namespace(machine), "link", "set", "eth0", "down")

    def restore(self, machine: str) -> None:
        _ip("-n", self.namespace(machine), "link", "set", "eth0", "up")

    def command(self, machine: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace(machine), *argv]

    def pids(self, machine: str) -> list[int]:
        try:
            return [int(p) for p in _ip("netns", "pids", self.namespace(machine)).split()]
        except SetupError:
            return []

    def delete(self) -> None:
        """Kill what still runs in the namespaces (processes started there, by id), then delete them."""
        for ns in reversed(self.created):
            machine = ns[len(self.tag) + 1 :]
            for pid in self.pids(machine):
                signal_process(pid, signal.SIGKILL)
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=COMMAND_TIMEOUT)
        self.created = []

    def existing(self) -> list[str]:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        return [line.split()[0] for line in listed.stdout.splitlines() if line.startswith(f"{self.tag}-")]


class MachineCluster:
    """A standalone master on machine "master" and workers on "worker-0", "worker-1", ... of a Network."""

    def __init__(self, network: Network, workers: int = 2, cores: int = 1, memory: str = "2g", worker_timeout=15):
        self.network, self.workers, self.cores, self.memory = network, workers, cores, memory
        self.worker_timeout = worker_timeout  # seconds without a heartbeat before the master drops a worker
        self.root = Path(tempfile.mkdtemp(prefix="dl4j-bridge-machines-"))
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def master_url(self) -> str:
        return f"spark://{self.network.address('master')}:{PORTS['master']}"

    def home(self, machine: str) -> Path:
        """The machine's own disk: SPARK_HOME, work and scratch folders, HOME, /tmp."""
        folder = self.root / machine
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self) -> MachineCluster:
        try:
            master = self.network.address("master")
            self._launch(
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", master, "--port", str(PORTS["master"]), "--webui-port", str(PORTS["master_ui"])],
            )
            for index in range(self.workers):
                self.start_worker(index)
            self.wait_for_workers(self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, index: int) -> None:
        name = f"worker-{index}"
        args = ["--host", self.network.address(name), "--port", str(PORTS["worker"])]
        args += ["--webui-port", str(PORTS["worker_ui"]), "--cores", str(self.cores), "--memory", self.memory]
        self._launch(
            name,
            "org.apache.spark.deploy.worker.Worker",
            [*args, "--work-dir", str(self.home(name) / "work"), self.master_url],
        )

    def machine_environment(self, machine: str) -> dict[str, str]:
        """The environment of a process on `machine`: its address, and its own folders for everything."""
        home = self.home(machine)
        for folder in ("tmp", "local", "work", "javacpp"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "SPARK_LOCAL_IP": self.network.address(machine),
            "SPARK_LOCAL_DIRS": str(home / "local"),
            "OMP_NUM_THREADS": "1",
            # Every JVM of the machine (daemons, executors, the driver's): its own temp folder and JavaCPP cache.
            "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={home / 'tmp'} -Dorg.bytedeco.javacpp.cachedir={home / 'javacpp'}",
        }
        set_native_thread_defaults(env)
        for name in ("SPARK_HOME", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "CLASSPATH", "PYSPARK_GATEWAY_PORT"):
            env.pop(name, None)
        return env

    def _spark_home(self, machine: str) -> Path:
        spark_home = self.home(machine) / "spark"
        if not spark_home.exists():
            (spark_home / "jars").mkdir(parents=True)
            for index, jar in enumerate(spark_install_jars()):
                (spark_home / "jars" / f"{index:03d}-{Path(jar).name}").symlink_to(jar)
            (spark_home / "RELEASE").write_text("Spark 3.5 jars linked by dl4j-bridge\n")
            (spark_home / "conf").mkdir()
            (spark_home / "conf" / "log4j2.properties").write_text(_LOG4J)
        return spark_home

    def _launch(self, machine: str, main_class: str, args: list[str]) -> None:
        spark_home = self._spark_home(machine)
        env = {**self.machine_environment(machine), "SPARK_HOME": str(spark_home), "SPARK_SCALA_VERSION": "2.12"}
        java = str(java_home() / "bin" / "java")
        flags = ["-Xmx512m", *JAVA17_MODULE_FLAGS, f"-Dspark.worker.timeout={self.worker_timeout}"]
        cmd = [java, *flags, "-cp", f"{spark_home}/conf:{spark_home}/jars/*", main_class, *args]
        log = open(self.home(machine) / "daemon.log", "ab")
        # Its own process group: kill_worker() ends the worker and the executors it started together.
        self.processes[machine] = subprocess.Popen(
            self.network.command(machine, cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive_workers(self) -> int:
        """Workers the master counts alive, asked from the master's own namespace (bounded: one 3 s request)."""
        url = f"http://{self.network.address('master')}:{PORTS['master_ui']}/json/"
        code = f"import json,urllib.request;print(json.load(urllib.request.urlopen({url!r},timeout=3))['aliveworkers'])"
        try:
            run = subprocess.run(
                self.network.command("master", ["python3", "-c", code]), capture_output=True, text=True, timeout=10
            )
            return int(run.stdout.strip() or 0)
        except (subprocess.TimeoutExpired, ValueError):
            return 0

    def wait_for_workers(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["master"].poll() is not None:
                raise SparkError(f"the Spark master exited: see {self.home('master') / 'daemon.log'}")
            if self.alive_workers() >= count:
                return
            time.sleep(1)
        raise SparkError(f"{count} workers did not register within {timeout:.0f} s: see the logs under {self.root}")

    def kill_worker(self, index: int) -> None:
        """The machine dies: the worker and its executors are killed at once (SIGKILL)."""
        process = self.processes[f"worker-{index}"]
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=COMMAND_TIMEOUT)

    def logs(self, machine: str) -> str:
        found = sorted(self.home(machine).glob("**/stderr")) + [self.home(machine) / "daemon.log"]
        return "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in found if p.is_file())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                signal_group(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            signal_group(process.pid, signal.SIGKILL)  # executors left in the group, if any
        shutil.rmtree(self.root, ignore_errors=True)
