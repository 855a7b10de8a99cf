"""What a bridge Spark session submits to each cluster manager, checked without a cluster: Kubernetes (none here:
the settings and the image recipe), YARN's client configuration, the jars a standalone cluster is sent, the master
URLs accepted, and the driver's address (a local session on a machine whose hostname resolves to a non-loopback
address, in a network namespace). The clusters themselves: tests/test_spark_yarn.py, tests/test_spark_machines.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from bridge.errors import DataError, SparkError
from bridge.jvm import REPO_JAVA_DIR, classpath
from bridge.spark import jars, kubernetes, managers, session, session_settings, submit, yarn
from bridge.spark.cluster import free_port
from bridge.spark.namespaces import Network, namespaces_missing

REPO = REPO_JAVA_DIR.parent
K8S = "k8s://https://10.96.0.1:6443"
IMAGE = {"spark.kubernetes.container.image": "registry.example/dl4j-bridge-executor:0.1.0"}
DRIVER = {"spark.driver.host": "10.1.2.3", "spark.driver.bindAddress": "10.1.2.3"}


def test_kubernetes_settings_name_the_image_and_ship_nothing():
    master, name, settings = session_settings(K8S, conf={**IMAGE, **DRIVER}, executor_memory="2g")
    assert (master, name) == (K8S, "dl4j-bridge")
    assert settings["spark.kubernetes.container.image"] == IMAGE["spark.kubernetes.container.image"]
    assert settings["spark.submit.deployMode"] == "client"
    assert settings["spark.driver.host"] == "10.1.2.3"
    # The jars are the image's (deploy/k8s/Dockerfile), at its own path; nothing at the driver machine's paths.
    assert settings["spark.executor.extraClassPath"] == f"{kubernetes.IMAGE_JARS}/*"
    assert "spark.jars" not in settings and "spark.yarn.archive" not in settings
    # Pods are killed when they outgrow heap + overhead: the overhead covers ND4J's off-heap arrays (3g default).
    assert settings["spark.executor.memoryOverhead"] == f"{3 * 1024 + 384}m"
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in settings["spark.executor.extraJavaOptions"]
    assert settings["spark.executorEnv.GOMP_SPINCOUNT"] and settings["spark.kryo.registrator"]


@pytest.mark.parametrize(
    "conf, message",
    [({**DRIVER}, "image"), ({**IMAGE}, "no pod reaches")],
    ids=["no-image", "loopback-driver"],
)
def test_kubernetes_refuses_what_cannot_work(conf, message, monkeypatch):
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    monkeypatch.delenv("DL4J_BRIDGE_K8S_IMAGE", raising=False)
    with pytest.raises(DataError, match=message):
        session_settings(K8S, conf=conf)


def test_an_unreachable_kubernetes_api_server_fails_fast():
    start = time.monotonic()
    with pytest.raises(SparkError, match="Kubernetes API server .* unreachable"):
        session(f"k8s://https://127.0.0.1:{free_port()}", conf={**IMAGE, **DRIVER})
    assert time.monotonic() - start < 10


def test_the_image_recipe_matches_the_pinned_spark():
    dockerfile = (REPO / "deploy" / "k8s" / "Dockerfile").read_text()
    pinned = re.search(r"<spark.version>([^<]+)</spark.version>", (REPO_JAVA_DIR / "pom.xml").read_text()).group(1)
    base = re.search(r"ARG SPARK_IMAGE=(\S+)", dockerfile).group(1)
    assert base.startswith(f"apache/spark:{pinned}-scala2.12-java17"), (base, pinned)
    assert f"COPY jars/ {kubernetes.IMAGE_JARS}/" in dockerfile


def test_the_image_context_holds_the_shipped_jars(tmp_path):
    folder = kubernetes.image_context(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(j).name for j in jars.shipped_jars())


def test_executors_get_the_drivers_nd4j_build_only():
    shipped = {Path(j).name for j in jars.shipped_jars()}
    builds = sorted(n for n in shipped if re.match(r"nd4j-native-\d.*-linux-x86_64", n))
    assert len(builds) == 1, builds
    assert len(shipped) == len(classpath()) - 1


def test_a_standalone_master_gets_the_jars_by_spark_not_by_local_paths(monkeypatch):
    # session_settings probes nothing: the master need not exist
    _, _, settings = session_settings("spark://127.0.0.1:7077")
    assert settings["spark.jars"].split(",") == jars.shipped_jars()
    assert "spark.executor.extraClassPath" not in settings


def _conf_dir(folder: Path, rm: str = "127.0.0.1:8032") -> Path:
    folder.mkdir()
    site = "<configuration><property><name>{}</name><value>{}</value></property></configuration>"
    (folder / "core-site.xml").write_text(site.format("fs.defaultFS", "hdfs://127.0.0.1:8020"))
    (folder / "yarn-site.xml").write_text(site.format("yarn.resourcemanager.address", rm))
    return folder


@pytest.mark.slow  # the first call writes the jars' archive (~0.4 GB) into the cache folder
def test_yarn_settings_carry_the_client_configuration_and_the_jars_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("HADOOP_CONF_DIR", str(_conf_dir(tmp_path / "conf")))
    monkeypatch.delenv("YARN_CONF_DIR", raising=False)
    _, _, settings = session_settings("yarn", executor_memory="1g", executor_off_heap="1g")
    assert settings["spark.hadoop.yarn.resourcemanager.address"] == "127.0.0.1:8032"
    assert settings["spark.hadoop.fs.defaultFS"] == "hdfs://127.0.0.1:8020"
    assert settings["spark.executor.memoryOverhead"] == "1408m"
    archive = Path(settings["spark.yarn.archive"].removeprefix("file://"))
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted(Path(j).name for j in jars.shipped_jars())
        assert "spark-yarn_2.12-" in " ".join(zf.namelist())  # the ApplicationMaster's main class lives there
    # A caller's own jars setting replaces the archive (Spark would prefer the archive over spark.yarn.jars).
    _, _, own = session_settings("yarn", conf={"spark.yarn.jars": "hdfs:///jars/*.jar"})
    assert "spark.yarn.archive" not in own


@pytest.mark.parametrize(
    "environ, message",
    [({}, "HADOOP_CONF_DIR nor YARN_CONF_DIR"), ({"HADOOP_CONF_DIR": "/nonexistent"}, "not a folder")],
    ids=["unset", "missing"],
)
def test_yarn_without_a_client_configuration_is_refused(environ, message):
    with pytest.raises(DataError, match=message):
        yarn.hadoop_configuration(environ)


def test_yarn_configuration_without_a_resourcemanager_is_refused(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "core-site.xml").write_text("<configuration></configuration>")
    with pytest.raises(DataError, match="ResourceManager"):
        yarn.hadoop_configuration({"YARN_CONF_DIR": str(folder)})


def test_outside_spark_submit_there_are_no_submitted_settings():
    assert submit.submitted_settings({}) is None


@pytest.mark.parametrize(
    "master, kind",
    [
        ("local[2]", "local"),
        ("spark://10.0.0.1:7077", "standalone"),
        ("yarn", "yarn"),
        ("k8s://https://host:6443", "k8s"),
        ("k8s://host:6443", "k8s"),
    ],
)
def test_master_forms(master, kind):
    managers.check_master(master, probe=False)
    assert managers.manager(master) == kind


ELSEWHERE = "10.1.2.3"


@pytest.mark.parametrize(
    "master, environ, conf, expected",
    [
        ("local[2]", None, {}, ("127.0.0.1", "127.0.0.1")),
        ("local[*]", ELSEWHERE, {}, (ELSEWHERE, ELSEWHERE)),
        # local: everything is in this JVM, so the bind address follows a host the user names
        ("local[2]", None, {"spark.driver.host": ELSEWHERE}, (ELSEWHERE, ELSEWHERE)),
        ("local[2]", None, {"spark.driver.bindAddress": "0.0.0.0"}, ("127.0.0.1", "0.0.0.0")),
        ("local", ELSEWHERE, {"spark.driver.host": "127.0.0.1"}, ("127.0.0.1", "127.0.0.1")),
        # a cluster's driver behind NAT: it advertises the host it is given and binds on its own address
        ("spark://10.0.0.1:7077", "192.168.1.5", {"spark.driver.host": ELSEWHERE}, (ELSEWHERE, "192.168.1.5")),
        ("spark://10.0.0.1:7077", None, {}, ("127.0.0.1", "127.0.0.1")),
    ],
    ids=["local-default", "env", "conf-host", "conf-bind", "conf-over-env", "nat", "standalone-default"],
)
def test_the_driver_address_is_loopback_unless_the_user_names_one(master, environ, conf, expected, monkeypatch):
    if environ is None:
        monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    else:
        monkeypatch.setenv("SPARK_LOCAL_IP", environ)
    _, _, settings = session_settings(master, conf=conf)
    assert (settings["spark.driver.host"], settings["spark.driver.bindAddress"]) == expected


LOCAL_SESSIONS = """
import json, os, subprocess, sys
import numpy as np
from bridge import spark
from bridge.jvm import jclass

address = sys.argv[1]
x = np.random.default_rng(0).random((2000, 784), dtype=np.float32)  # 3 MB a task: results come by block manager


def listening():
    lines = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return sorted({line.split()[3].rsplit(":", 1)[0] for line in lines})


def run(case, conf):
    with spark.session("local[2]", conf=conf) as s:
        spark_conf = s.context.getConf()
        block_manager = jclass("org.apache.spark.SparkEnv").get().blockManager().blockManagerId()
        return {
            "case": case,
            "host": str(spark_conf.get("spark.driver.host")),
            "bind": str(spark_conf.get("spark.driver.bindAddress")),
            "block_manager": str(block_manager.host()),
            "listening": listening(),
            "round_trip": bool(np.array_equal(spark.to_numpy(spark.dataframe(s, x), "features"), x)),
        }


os.environ.pop("SPARK_LOCAL_IP", None)
results = [{"hostname_resolves_to": str(jclass("java.net.InetAddress").getLocalHost().getHostAddress())}]
results.append(run("default", {}))
results.append(run("conf-host", {"spark.driver.host": address}))
os.environ["SPARK_LOCAL_IP"] = address
results.append(run("env", {}))
print(json.dumps(results))
"""


@pytest.mark.slow  # a JVM and three local Spark sessions
def test_local_sessions_bind_to_loopback_where_the_hostname_resolves_elsewhere(tmp_path):
    """A machine like the CI's, whose hostname resolves to a non-loopback address of its own (here 10.213.0.1 on
    eth0 of a network namespace, /etc/hosts replaced in a mount namespace): local[2] with nothing set advertises and
    binds 127.0.0.1 only (every listening socket of the namespace is on loopback), and task results bigger than
    Spark's direct limit come back through the block manager. The user's spark.driver.host or SPARK_LOCAL_IP moves
    both, and works too."""
    reason = namespaces_missing() or (None if shutil.which("unshare") and shutil.which("ss") else "no unshare/ss")
    if reason:
        pytest.skip(f"a machine whose hostname resolves elsewhere needs a network namespace: {reason}")
    hostname = socket.gethostname()
    script = tmp_path / "sessions.py"
    script.write_text(textwrap.dedent(LOCAL_SESSIONS))
    with Network(["ci"], tag=f"dlh{time.time_ns() % 100000}") as net:
        address = net.address("ci")
        hosts = tmp_path / "hosts"
        hosts.write_text(f"127.0.0.1 localhost\n{address} {hostname}\n")
        inner = f"mount --bind {hosts} /etc/hosts && exec {sys.executable} {script} {address}"
        env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's bridge
        command = net.command("ci", ["unshare", "-m", "sh", "-c", inner])
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    machine, *cases = json.loads(run.stdout.strip().splitlines()[-1])
    print(machine, *cases, sep="\n")
    assert machine["hostname_resolves_to"] == address
    loopback = {"127.0.0.1", "[::ffff:127.0.0.1]"}
    default, conf_host, env = cases
    assert (default["host"], default["bind"], default["block_manager"]) == ("127.0.0.1",) * 3
    assert set(default["listening"]) <= loopback, default["listening"]
    for case in (conf_host, env):
        assert (case["host"], case["bind"], case["block_manager"]) == (address,) * 3, case
        assert address in " ".join(case["listening"]), case
    assert all(case["round_trip"] for case in cases), cases
