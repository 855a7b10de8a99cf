"""Scoring on a standalone cluster (a master and two workers on 127.0.0.1, each executor its own JVM): the model
reaches the executors as a broadcast, never as a driver path, and each executor loads its own ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

import bridge
from bridge import spark
from bridge.jvm import jclass
from bridge.spark.cluster import StandaloneCluster

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # a cluster of three JVMs and its executors

TOLERANCE = 1e-5


def test_executors_of_a_cluster_score_as_onnx_model(mnist, tmp_path):
    x = mnist[2][:400]
    model = tmp_path / "copy" / "mlp.onnx"  # a path only the driver has: executors must get the bytes
    model.parent.mkdir()
    model.write_bytes(open("models/vectors/mlp/model.onnx", "rb").read())
    reference = bridge.OnnxModel(model).predict(x)
    with StandaloneCluster(workers=2) as cluster:
        with spark.session(cluster.master_url, executor_memory="1g", executor_off_heap="1g") as session:
            df = spark.dataframe(session, x, partitions=4)
            scoring = jclass("ai.dl4jbridge.spark.OnnxScoring").builder()
            scoring = scoring.setModel(jclass("java.nio.file.Paths").get(str(model))).build()
            model.unlink()  # read once on the driver; nothing later looks for the file
            scored = scoring.transform(df)
            probabilities = spark.to_numpy(scored, "probabilities")
            used = sorted(str(p) for p in scoring.providersUsed())
            scoring.close()
    assert float(np.abs(probabilities - reference).max()) <= TOLERANCE
    executors = {u.split(":")[0] for u in used}
    assert len(executors) == 2 and "executor driver" not in executors, used  # two executor JVMs, not the driver
    assert all("CPU (auto: " in u for u in used), used  # the provider each chose, and why
