"""What a bridge Spark session submits to each cluster manager, checked without a cluster: Kubernetes (none here:
the settings and the image recipe), YARN's client configuration, the jars a standalone cluster is sent, and the
master URLs accepted. The clusters themselves: tests/test_spark_yarn.py, tests/test_spark_machines.py."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import pytest

from bridge.errors import DataError, SparkError
from bridge.jvm import REPO_JAVA_DIR, classpath
from bridge.spark import jars, kubernetes, managers, session, session_settings, submit, yarn
from bridge.spark.cluster import free_port

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
