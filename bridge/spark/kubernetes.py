"""spark="k8s://https://HOST:PORT": the executors' image (deploy/k8s/Dockerfile) and what the session submits.

Client deploy mode only: the driver is this process's JVM, so the pods must reach its address (SPARK_LOCAL_IP or
spark.driver.host), and executors are pods of an image that holds this project's jars at IMAGE_JARS.

    python -m bridge.spark.kubernetes deploy/k8s   # fills deploy/k8s/jars/, then: docker build deploy/k8s
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .jars import shipped_jars

__all__ = ["IMAGE_JARS", "IMAGE_KEY", "image_context"]

IMAGE_KEY = "spark.kubernetes.container.image"
IMAGE_JARS = "/opt/dl4j-bridge/jars"  # deploy/k8s/Dockerfile copies the jars here


def image_context(folder: str | os.PathLike) -> Path:
    """Copy the executors' jars (bridge.spark.jars.shipped_jars) into FOLDER/jars, beside deploy/k8s/Dockerfile,
    replacing what an earlier call put there. Returns the jars folder."""
    jars = Path(folder) / "jars"
    shutil.rmtree(jars, ignore_errors=True)
    jars.mkdir(parents=True)
    for jar in shipped_jars():
        shutil.copy2(jar, jars / Path(jar).name)
    return jars


if __name__ == "__main__":
    target = image_context(sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s")
    print(
        f"{len(list(target.iterdir()))} jars in {target}: docker build -t REGISTRY/dl4j-bridge-executor {target.parent}"
    )
