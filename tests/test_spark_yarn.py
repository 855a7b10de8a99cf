"""spark="yarn" against a real YARN and HDFS (Hadoop's MiniYARNCluster and MiniDFSCluster, in a `java` process of
their own: bridge.spark.minicluster), in client deploy mode, as a Spark user runs it: HADOOP_CONF_DIR names the
cluster's client configuration, the jars reach the ApplicationMaster and executors through HDFS, and a Python
application is submitted with spark-submit (Spark's own launcher, org.apache.spark.deploy.SparkSubmit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import bridge
from bridge import nets, spark
from bridge.jvm import JAVA17_MODULE_FLAGS, REPO_JAVA_DIR, classpath, java_home
from bridge.spark.minicluster import YarnMiniCluster, hostname_is_loopback

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
]  # HDFS + YARN mini clusters; a YARN application takes ~30 s to get its executors

EXECUTORS = {"spark.executor.instances": "2", "spark.executor.cores": "1"}
MEMORY = {"executor_memory": "1g", "executor_off_heap": "1g"}


@pytest.fixture(scope="module")
def yarn_cluster():
    reason = hostname_is_loopback()
    if reason:
        pytest.skip(f"the mini clusters bind to loopback only, but the {reason}")
    with YarnMiniCluster(node_memory_mb=6144) as cluster:
        yield cluster
    assert not cluster.home.exists(), "the cluster's folder was left behind"
    assert cluster.container_pids() == [], "YARN containers left running"


@pytest.fixture
def hadoop_env(yarn_cluster, monkeypatch):
    for key, value in yarn_cluster.environ.items():
        monkeypatch.setenv(key, value)
    return yarn_cluster


@pytest.fixture(scope="module")
def uploaded(yarn_cluster):
    """The executors' jars in the cluster's HDFS once, for every application of this module."""
    old = {k: os.environ.get(k) for k in yarn_cluster.environ}
    os.environ.update(yarn_cluster.environ)
    try:
        return spark.yarn.upload_jars()
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def test_the_client_configuration_is_what_an_administrator_hands_out(yarn_cluster):
    """Addresses only: no class of the mini clusters (StaticMapping) that a client's classpath lacks, and the
    training JVM's classpath holds none of the mini clusters' jars."""
    files = sorted(p.name for p in yarn_cluster.conf_dir.iterdir())
    assert files == ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"]
    text = "".join(p.read_text() for p in yarn_cluster.conf_dir.iterdir())
    assert "org.apache.hadoop" not in text and "yarn.resourcemanager.address" in text and "hdfs://" in text
    assert not any("minicluster" in jar or "testcluster" in jar for jar in classpath())


def test_yarn_client_mode_trains_and_the_result_exports_with_parity(hadoop_env, uploaded, mnist, tmp_path):
    x, y, xt, yt = mnist
    net = nets.mlp(seed=11)
    assert uploaded[spark.yarn.ARCHIVE_KEY].startswith("hdfs://")
    with spark.session("yarn", conf={**uploaded, **EXECUTORS}, **MEMORY) as session:
        context = session.context.sc()
        assert str(context.applicationId()).startswith("application_")
        deadline = time.monotonic() + 60
        while context.getExecutorMemoryStatus().size() < 3 and time.monotonic() < deadline:  # 2 executors + driver
            time.sleep(0.5)
        assert context.getExecutorMemoryStatus().size() == 3
        scripts = _launch_script_texts(hadoop_env.home)  # read now: YARN deletes them when the application ends
        history = bridge.fit(
            net, x, y, epochs=1, batch_size=32, seed=11, spark=session, validation=(xt, yt), progress=False
        )
    # The ApplicationMaster and the executors ran from the archive YARN localised, not from this machine's paths.
    assert len(scripts) >= 3, list(scripts)
    for text in scripts.values():
        assert "__spark_libs__" in text and ".m2/repository" not in text and str(REPO_JAVA_DIR) not in text
    assert history[0].val_accuracy > 0.8  # one epoch of the 4,000 digits; local training reaches ~0.9
    report = bridge.export_onnx(bridge.load(bridge.save(net, tmp_path / "m.zip")), tmp_path / "m.onnx", sample=xt[:64])
    assert report.max_abs_diff <= 1e-5


def _launch_script_texts(home: Path) -> dict[Path, str]:
    texts = {}
    for script in sorted(home.glob("target/**/launch_container.sh")):
        try:
            texts[script] = script.read_text()
        except FileNotFoundError:  # a container that ended between the listing and the read
            pass
    return texts


def test_a_python_application_submitted_with_spark_submit(hadoop_env, uploaded, tmp_path):
    """spark-submit --master yarn app.py: the application's bridge.spark.session() takes spark-submit's master and
    settings (--name, --conf) and trains on YARN; spark-submit's own JVM only waits for the script."""
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import json
            import bridge
            from bridge import data, nets, spark

            x, y, xt, yt = data.load("mnist")
            with spark.session(executor_memory="1g", executor_off_heap="1g") as s:
                net = nets.mlp(seed=3)
                bridge.fit(net, x[:2000], y[:2000], epochs=1, spark=s, progress=False)
                conf = s.context.getConf()
                print("RESULT", json.dumps({
                    "master": s.master,
                    "name": str(conf.get("spark.app.name")),
                    "app": str(s.context.sc().applicationId()),
                    "instances": str(conf.get("spark.executor.instances")),
                    "accuracy": bridge.evaluate(net, xt, yt).accuracy,
                }))
            """
        )
    )
    command = [
        str(java_home() / "bin" / "java"),
        "-Xmx512m",
        *JAVA17_MODULE_FLAGS,
        "-cp",
        os.pathsep.join(classpath()),
        "org.apache.spark.deploy.SparkSubmit",
        "--master",
        "yarn",
        "--deploy-mode",
        "client",
        "--name",
        "bridge-submitted",
        "--conf",
        "spark.executor.instances=1",
        "--conf",
        f"{spark.yarn.ARCHIVE_KEY}={uploaded[spark.yarn.ARCHIVE_KEY]}",
        str(app),
    ]
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        # spark-submit ships pyspark's archives to YARN for Python applications; executors here run no Python.
        "PYSPARK_ARCHIVES_PATH": "local:/nonexistent/pyspark.zip",
    }
    env.pop("SPARK_HOME", None)
    start = time.monotonic()
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=420, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.split("RESULT", 1)[1])
    print("spark-submit on YARN:", result, f"{time.monotonic() - start:.0f} s")
    assert result["master"] == "yarn" and result["name"] == "bridge-submitted" and result["instances"] == "1"
    assert result["app"].startswith("application_") and result["accuracy"] > 0.6
