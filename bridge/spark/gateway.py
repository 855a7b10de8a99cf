"""PySpark on the bridge's own JVM: a real pyspark.sql.SparkSession over the SparkContext of bridge.spark.session().

PySpark normally starts a JVM of its own through spark-submit and talks to it over py4j. Here the JVM is already
running in this process (JPype), with Spark on its classpath: Spark's own py4j server (Py4JServer, as
spark-submit's PythonGatewayServer starts it: loopback only, a random secret) is started inside it, PySpark's client
connects to it, and SparkContext(gateway=..., jsc=...) wraps the bridge's JavaSparkContext. A Java object crosses
between py4j and JPype by py4j's object id, without a copy: a PySpark DataFrame handed to bridge.fit is the same Java
Dataset the bridge trains from.

Shutdown: py4j's server threads are not daemons and would keep the JVM (and so the process) alive after the
SparkContext stops, so the session's stop() and an exit handler shut the server and the client down.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

from ..errors import SetupError, SparkError
from ..jvm import jclass

__all__ = ["PySparkGateway", "java_object", "active_gateway"]

# The imports of pyspark/java_gateway.py's launch_gateway: the names PySpark expects on gateway.jvm.
_JAVA_IMPORTS = (
    "org.apache.spark.SparkConf",
    "org.apache.spark.api.java.*",
    "org.apache.spark.api.python.*",
    "org.apache.spark.ml.python.*",
    "org.apache.spark.mllib.api.python.*",
    "org.apache.spark.resource.*",
    "org.apache.spark.sql.*",
    "org.apache.spark.sql.api.python.*",
    "org.apache.spark.sql.hive.*",
    "scala.Tuple2",
)

_lock = threading.Lock()
_active: PySparkGateway | None = None


def _pyspark(context):
    """pyspark, checked against the Spark jars of this JVM (the `spark` extra installs the matching version)."""
    try:
        import pyspark
    except ImportError as exc:
        raise SetupError(
            "bridge.spark.session(...).pyspark needs PySpark: pip install 'dl4j-bridge[spark]' (the pyspark "
            "version matching the bridge's Spark jars)."
        ) from exc
    jars = str(context.version())
    if pyspark.__version__.split(".")[:2] != jars.split(".")[:2]:
        raise SetupError(
            f"pyspark {pyspark.__version__} is installed, but the bridge's JVM runs Spark {jars}: their Python and "
            f"Java halves must match. pip install 'pyspark=={jars}' (or 'dl4j-bridge[spark]')."
        )
    return pyspark


class PySparkGateway:
    """Spark's py4j server in this JVM, PySpark's client connected to it, and the PySpark session over `context`."""

    def __init__(self, context, java_session):
        pyspark = _pyspark(context)
        from py4j.java_gateway import JavaObject, java_import
        from pyspark import SparkConf, SparkContext
        from pyspark.sql import SparkSession

        with _lock:
            if _active is not None:
                raise SparkError(
                    "A PySpark session on this JVM is already open (one SparkContext per JVM): use it, or stop "
                    "its bridge.spark session first."
                )
            if SparkContext._active_spark_context is not None:
                raise SparkError(
                    "PySpark already has a SparkContext in this process (started by pyspark itself, in another "
                    "JVM): stop it, and create DataFrames from bridge.spark.session(...).pyspark instead."
                )
            self.server = jclass("org.apache.spark.api.python.Py4JServer")(context.getConf())
            self.server.start()
            self.client = None
            try:
                # Spark's server is a py4j ClientServer (pinned threads, PySpark's default) or a GatewayServer
                # (PYSPARK_PIN_THREAD=false); PySpark's client must be the matching kind.
                java_server = self.server.server()
                pinned = hasattr(java_server, "getJavaServer")
                self._objects = (java_server.getJavaServer() if pinned else java_server).getGateway()
                self.client = _client(int(self.server.getListeningPort()), str(self.server.secret()), pinned)
                for name in _JAVA_IMPORTS:
                    java_import(self.client.jvm, name)
                jsc = self.to_py4j(context, JavaObject)
                previous_sigint = signal.getsignal(signal.SIGINT)
                sc = SparkContext(gateway=self.client, jsc=jsc, conf=SparkConf(_jconf=jsc.getConf()))
                self._sigint = previous_sigint
                # Python UDFs run in workers the executors start: with this interpreter (its packages), unless the
                # user names another (PYSPARK_PYTHON). Training and scoring never need them.
                if "PYSPARK_PYTHON" not in os.environ:
                    sc.pythonExec = sys.executable
                self.session = SparkSession(sc, self.to_py4j(java_session, JavaObject))
            except BaseException:
                self._shutdown()
                raise
            self.pyspark_version = pyspark.__version__
            _set_active(self)

    def to_py4j(self, java, java_object_class=None):
        """A Java object held by JPype, as a py4j reference for PySpark (the same object)."""
        if java_object_class is None:
            from py4j.java_gateway import JavaObject as java_object_class
        return java_object_class(str(self._objects.putNewObject(java)), self.client._gateway_client)

    def to_java(self, py4j_object):
        """A py4j reference (a PySpark object's `_jdf`, `_jsc`, ...) as the Java object itself, through JPype."""
        if getattr(py4j_object, "_gateway_client", None) is not self.client._gateway_client:
            raise SparkError(
                "This PySpark object lives in another JVM (a PySpark session started by pyspark itself): create "
                "DataFrames from bridge.spark.session(...).pyspark, which runs on the bridge's JVM."
            )
        found = self._objects.getObject(py4j_object._target_id)
        if found is None:
            raise SparkError(f"py4j object {py4j_object._target_id} is gone (its PySpark session was stopped).")
        return found

    def stop(self) -> None:
        """Stop the PySpark session (which stops the SparkContext), then py4j's client and server."""
        try:
            if getattr(self, "session", None) is not None:
                self.session.stop()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        if self.client is not None:
            self.client.shutdown()
            self.client = None
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        # PySpark keeps its gateway and session at class level; a later session of the bridge connects anew.
        with SparkContext._lock:
            SparkContext._gateway = None
            SparkContext._jvm = None
            SparkContext._active_spark_context = None
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None
        sigint = getattr(self, "_sigint", None)
        if sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, sigint)  # PySpark's handler cancels jobs of a context now stopped
        _set_active(None, only=self)


def _client(port: int, secret: str, pinned: bool):
    """PySpark's py4j client for Spark's server in this JVM, as pyspark/java_gateway.py connects (on loopback)."""
    if pinned:
        from py4j.clientserver import ClientServer, JavaParameters, PythonParameters

        return ClientServer(
            java_parameters=JavaParameters(address="127.0.0.1", port=port, auth_token=secret, auto_convert=True),
            python_parameters=PythonParameters(address="127.0.0.1", port=0, eager_load=False),
        )
    from py4j.java_gateway import GatewayParameters, JavaGateway

    return JavaGateway(
        gateway_parameters=GatewayParameters(address="127.0.0.1", port=port, auth_token=secret, auto_convert=True)
    )


def _set_active(gateway: PySparkGateway | None, only: PySparkGateway | None = None) -> None:
    global _active
    if only is None or _active is only:
        _active = gateway


def active_gateway() -> PySparkGateway | None:
    return _active


def java_object(py4j_object):
    """The Java object behind a py4j reference of the bridge's PySpark session (SparkError if it has none)."""
    if _active is None:
        raise SparkError(
            "This PySpark object does not belong to the bridge's JVM: create DataFrames from "
            "bridge.spark.session(...).pyspark (PySpark on the bridge's own SparkContext)."
        )
    return _active.to_java(py4j_object)


@atexit.register
def _stop_at_exit() -> None:
    """Registered after JPype's own exit handler (bridge imports jpype first), so it runs before the JVM shuts down:
    py4j's non-daemon threads would otherwise keep the JVM from shutting down."""
    gateway = _active
    if gateway is not None:
        try:
            gateway.stop()
        except Exception:  # noqa: BLE001 - exiting anyway; nothing left to report to
            gateway._shutdown()
