"""Distributed training on Apache Spark (DL4J's SparkDl4jMultiLayer or SparkComputationGraph, parameter averaging).

    with bridge.spark.session("local[2]") as spark:           # or "spark://host:7077", "yarn", "k8s://https://..."
        bridge.fit(net, x, y, epochs=2, spark=spark)
        bridge.fit(net, spark.read_parquet(path), features="features", label="label")  # rows stay on executors
        df = spark.pyspark.read.parquet(path).filter("label < 5")  # PySpark on this JVM; bridge.fit(net, df) too
    bridge.fit(net, x, y, epochs=2, spark="local[2]")        # a session for just this call
    scored = bridge.spark.score("model.onnx", df)            # probabilities, prediction: on the executors

The Spark driver lives in this process's JVM (JPype); executors get the same jars (shipped by Spark) and the
Java 17 flags. The trained network is an ordinary DL4J network: evaluate, save and export it as any other.
"""

from . import yarn
from .arrays import dataframe, to_numpy
from .scoring import register_udf, score
from .session import SparkOptions, SparkSession, driver_address, session, session_settings
from .training import export_datasets, fit_files

__all__ = [
    "session",
    "session_settings",
    "driver_address",
    "SparkSession",
    "SparkOptions",
    "fit_files",
    "export_datasets",
    "score",
    "register_udf",
    "dataframe",
    "to_numpy",
    "yarn",
]
