"""What each cluster manager needs from a bridge Spark session, beyond the settings every session gets.

    local[N]                 nothing: the executors are threads of this JVM
    spark://HOST:PORT        the executors' jars, served by the driver (spark.jars)
    yarn                     the Hadoop client configuration ($HADOOP_CONF_DIR / $YARN_CONF_DIR) as spark.hadoop.*,
                             the executors' jars, Spark's included, as one archive (spark.yarn.archive), container
                             memory for ND4J's off-heap arrays
    k8s://https://HOST:PORT  the executors' image (deploy/k8s/Dockerfile holds the jars), pod memory for ND4J

The driver is always this process's JVM (client deploy mode). Executors never look for the jars at the paths they
have on the driver's machine: a real cluster has no such paths.
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import urlparse

from ..errors import DataError, SparkError
from ..jvm import GOMP_SPINCOUNT, JAVA17_MODULE_FLAGS
from ..jvm.process import OPENBLAS_THREAD_TIMEOUT
from .jars import shipped_jars
from .kubernetes import IMAGE_JARS, IMAGE_KEY
from .yarn import ARCHIVE_KEY, hadoop_settings, jars_archive

__all__ = ["MASTER_FORMS", "check_master", "manager", "manager_settings", "overhead"]

MASTER_FORMS = "local, local[N], local[*], spark://HOST:PORT, yarn or k8s://https://HOST:PORT"
_MASTER = re.compile(r"^(local(\[(\*|\d+)\])?|spark://[\w.\-]+:\d+|yarn|k8s://(https?://)?[\w.\-]+(:\d+)?)$")
MASTER_PROBE_SECONDS = 5.0


def manager(master: str) -> str:
    """'local', 'standalone', 'yarn' or 'k8s'."""
    if master.startswith("local"):
        return "local"
    if master.startswith("spark://"):
        return "standalone"
    return "k8s" if master.startswith("k8s://") else "yarn"


def check_master(master: str, probe: bool = True) -> None:
    """A master URL of a form bridge runs; with probe, its service (a standalone master, a Kubernetes API server)
    answers a TCP connection within MASTER_PROBE_SECONDS, else SparkError."""
    if not isinstance(master, str) or not _MASTER.match(master):
        raise DataError(
            f"Received an invalid value for `master`. Received: master={master!r}. Expected {MASTER_FORMS}."
        )
    kind = manager(master)
    if probe and kind == "standalone":
        host, port = master[len("spark://") :].rsplit(":", 1)
        _probe(master, host, int(port), "Spark master")
    elif probe and kind == "k8s":
        url = urlparse(k8s_api_server(master))
        _probe(master, url.hostname, url.port or 443, "Kubernetes API server")


def k8s_api_server(master: str) -> str:
    """k8s://https://HOST:PORT -> https://HOST:PORT; k8s://HOST:PORT means https, as in Spark."""
    rest = master[len("k8s://") :]
    return rest if "://" in rest else f"https://{rest}"


def _probe(master: str, host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=MASTER_PROBE_SECONDS).close()
    except OSError as exc:
        raise SparkError(f"{what} {master} is unreachable ({exc}); is it running, and is the port right?") from exc


def overhead(executor_memory: str, executor_off_heap: str) -> str:
    """The memory a container or pod needs beyond the heap: ND4J's off-heap arrays, plus what Spark itself adds
    (10% of the heap, at least 384 MiB). YARN and Kubernetes kill an executor that outgrows heap + overhead."""
    heap, off_heap = _mib(executor_memory), _mib(executor_off_heap)
    return f"{off_heap + max(384, heap // 10)}m"


def _mib(size: str) -> int:
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgt])b?", str(size).strip().lower())
    if not match:
        raise DataError(f"Received an invalid memory size {size!r}: expected a number with k, m, g or t (e.g. '2g').")
    return int(float(match.group(1)) * units[match.group(2)])


def executor_environment() -> dict[str, str]:
    """How the executors' native threads wait (bridge.jvm.set_native_thread_defaults), as spark.executorEnv.*."""
    env = {"GOMP_SPINCOUNT": GOMP_SPINCOUNT, "OPENBLAS_THREAD_TIMEOUT": OPENBLAS_THREAD_TIMEOUT}
    return {f"spark.executorEnv.{k}": v for k, v in env.items()}


def manager_settings(master: str, executor_memory: str, executor_off_heap: str, conf: dict | None = None) -> dict:
    """The settings `master`'s cluster manager needs (the caller's `conf` wins over each of them)."""
    conf = conf or {}
    kind = manager(master)
    if kind == "local":
        return {}
    settings = {**executor_environment(), "spark.executor.memoryOverhead": overhead(executor_memory, executor_off_heap)}
    if kind == "standalone":
        # The driver serves the jars; each executor fetches them once into its own folder.
        return {**settings, "spark.jars": ",".join(shipped_jars())}
    if kind == "yarn":
        settings.update(hadoop_settings())
        settings.update(
            {
                "spark.submit.deployMode": "client",
                "spark.yarn.am.memory": "512m",
                "spark.yarn.am.extraJavaOptions": " ".join(JAVA17_MODULE_FLAGS),
                "spark.yarn.maxAppAttempts": "1",
            }
        )
        if not conf.get(ARCHIVE_KEY) and not conf.get("spark.yarn.jars"):
            # The ApplicationMaster (spark-yarn's ExecutorLauncher) and the executors run from these jars, which
            # Spark uploads into the application's staging folder (yarn.upload_jars(): into HDFS once).
            settings[ARCHIVE_KEY] = jars_archive().as_uri()
        return settings
    image = conf.get(IMAGE_KEY) or os.environ.get("DL4J_BRIDGE_K8S_IMAGE")
    if not image:
        raise DataError(
            f"Received master={master!r} without the executors' image: pass conf={{{IMAGE_KEY!r}: "
            "'REGISTRY/dl4j-bridge-executor:TAG'}} (built from deploy/k8s/Dockerfile) or set DL4J_BRIDGE_K8S_IMAGE."
        )
    return {
        **settings,
        "spark.submit.deployMode": "client",
        IMAGE_KEY: image,
        "spark.kubernetes.namespace": "default",
        "spark.kubernetes.executor.podNamePrefix": "dl4j-bridge",
        # The image's own path (deploy/k8s/Dockerfile), ahead of its Spark's jars: nothing is looked up on the
        # driver's machine, and nothing is shipped at each executor start.
        "spark.executor.extraClassPath": f"{IMAGE_JARS}/*",
    }
