"""Build the JVM side with the Maven wrapper, in a checkout or from the sources inside the wheel."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import SetupError
from .jvm import CACHE_DIR, REPO_JAVA_DIR, VERSION, java_home

__all__ = ["setup"]


def _java_sources() -> tuple[Path, bool]:
    """The java/ tree to build and whether it is a checkout (built in place)."""
    if (REPO_JAVA_DIR / "pom.xml").is_file():
        return REPO_JAVA_DIR, True
    packaged = Path(__file__).resolve().parent / "_java"
    if (packaged / "pom.xml").is_file():
        return packaged, False
    raise SetupError("The JVM sources are missing from this installation (no java/pom.xml). Reinstall dl4j-bridge.")


def setup(quiet: bool = False) -> Path:
    """Resolve the jars with Maven and write the classpath where bridge.jvm looks for it.

    In a checkout that is java/train/target; for an installed package, the cache folder
    (~/.cache/dl4j-bridge/VERSION, or $DL4J_BRIDGE_CACHE/VERSION).
    """
    home = java_home()
    if not (home / "bin" / "javac").exists():
        raise SetupError(f"{home} is a JRE without javac: install a JDK (apt-get install openjdk-17-jdk-headless).")
    sources, in_place = _java_sources()
    build_dir = sources if in_place else CACHE_DIR / "build"
    if not in_place:
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.copytree(sources, build_dir, ignore=shutil.ignore_patterns("__pycache__", "target"))
        (build_dir / "mvnw").chmod(0o755)
    # train: what Python drives; runtime: the ONNX Runtime Java service jar that `dl4j-bridge serve` runs.
    cmd = ["./mvnw", "-B", *(["-q"] if quiet else []), "package", "-DskipTests", "-pl", "train,runtime", "-am"]
    env = {**os.environ, "JAVA_HOME": str(home)}
    result = subprocess.run(cmd, cwd=build_dir, env=env)
    if result.returncode != 0:
        raise SetupError(f"Maven build failed (exit {result.returncode}) in {build_dir}: see its output above.")
    target = build_dir / "train" / "target"
    if in_place:
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("classpath.txt", f"dl4j-bridge-train-{VERSION}.jar"):
        shutil.copy2(target / name, CACHE_DIR / name)
    service = f"dl4j-bridge-runtime-{VERSION}-service.jar"
    shutil.copy2(build_dir / "runtime" / "target" / service, CACHE_DIR / service)
    return CACHE_DIR
