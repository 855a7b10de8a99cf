"""The jars a cluster's executors need: this project's classpath, shipped by Spark (spark.jars on a standalone
cluster, spark.yarn.archive on YARN) or baked into the executors' image (Kubernetes), never looked for at the
driver machine's paths on the executors' machines."""

from __future__ import annotations

import re
from pathlib import Path

from ..jvm import classpath, jclass, jvm_options, start_jvm

__all__ = ["shipped_jars", "spark_install_jars"]

ND4J_NATIVE = r"nd4j-native-\d"  # nd4j-native-1.0.0-M2.1-linux-x86_64[-onednn-avx2].jar, not nd4j-native-preset
PLATFORM = "-linux-x86_64"  # java/train/pom.xml's nd4j.classifier
# What a Spark installation lacks: DL4J, ND4J, DataVec, JavaCPP builds, this project's jar.
PROJECT_GROUPS = ("/org/deeplearning4j/", "/org/nd4j/", "/org/datavec/", "/org/bytedeco/")
PROJECT_PREFIXES = ("deeplearning4j-", "dl4j-", "nd4j-", "datavec-", "javacpp-", "openblas-")


def shipped_jars() -> list[str]:
    """bridge.jvm.classpath() less the nd4j-native builds this driver does not load (~90 MB each): executors load
    the driver's build (bridge.jvm.nd4j_build; session() passes its -Dorg.bytedeco.javacpp.platform.extension)."""
    if jvm_options() is None:
        start_jvm()
    extension = jclass("java.lang.System").getProperty("org.bytedeco.javacpp.platform.extension") or ""
    jars = []
    for jar in classpath():
        name = Path(jar).name
        native_build = re.match(ND4J_NATIVE, name) is not None and PLATFORM in name
        if not native_build or name.endswith(f"{PLATFORM}{extension}.jar"):
            jars.append(jar)
    return jars


def _is_project_jar(jar: str) -> bool:
    return any(group in jar for group in PROJECT_GROUPS) or Path(jar).name.startswith(PROJECT_PREFIXES)


def spark_install_jars() -> list[str]:
    """The jars a Spark 3.5 installation's jars/ folder holds, roughly: the classpath less DL4J's, ND4J's, DataVec's,
    JavaCPP's and dl4j-bridge's own. What the test clusters' SPARK_HOME links."""
    return [jar for jar in classpath() if not _is_project_jar(jar)]
