"""A Python application that uses bridge, started by spark-submit (client deploy mode):

    spark-submit --master yarn --conf spark.executor.memory=2g --name mnist train.py

spark-submit runs train.py with the settings in its own JVM (as system properties) and a py4j gateway to that JVM
in $PYSPARK_GATEWAY_PORT / $PYSPARK_GATEWAY_SECRET, which is where pyspark.SparkContext() finds them. Spark's driver
is then bridge's JVM (this process's, through JPype), not spark-submit's: bridge.spark.session() with no master
reads spark-submit's settings through the gateway once and starts its context with them. spark-submit's own JVM only
waits for the script to end.
"""

from __future__ import annotations

import os

from ..errors import SetupError, SparkError

__all__ = ["submitted_settings", "GATEWAY_VARIABLES"]

GATEWAY_VARIABLES = ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")
# Settings of spark-submit's own process that must not reach bridge's context.
_NOT_FORWARDED = (
    "spark.submit.pyFiles",
    "spark.yarn.isPython",  # executors run no Python for bridge
    "spark.driver.extraClassPath",
    "spark.repl.local.jars",
)


def submitted_settings(environ=None) -> dict[str, str] | None:
    """spark-submit's settings (spark.master, spark.app.name, every --conf and spark-defaults.conf entry), or None
    when this process was not started by spark-submit. Needs the py4j package (pyspark brings it)."""
    environ = os.environ if environ is None else environ
    if not all(environ.get(name) for name in GATEWAY_VARIABLES):
        return None
    try:
        from py4j.java_gateway import GatewayParameters, JavaGateway
    except ImportError as exc:
        raise SetupError(
            "This script runs under spark-submit, whose settings bridge reads through py4j: pip install py4j "
            "(or pyspark, which brings it)."
        ) from exc
    parameters = GatewayParameters(
        address="127.0.0.1",
        port=int(environ["PYSPARK_GATEWAY_PORT"]),
        auth_token=environ["PYSPARK_GATEWAY_SECRET"],
        auto_convert=True,
    )
    gateway = JavaGateway(gateway_parameters=parameters)
    try:
        pairs = gateway.jvm.org.apache.spark.SparkConf(True).getAll()
        settings = {str(pair._1()): str(pair._2()) for pair in pairs}
    except Exception as exc:  # py4j's own errors: the gateway is gone or refuses
        raise SparkError(f"Could not read spark-submit's settings through its gateway ({exc}).") from exc
    finally:
        gateway.close()
    return {k: v for k, v in settings.items() if k not in _NOT_FORWARDED}
