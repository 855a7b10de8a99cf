"""Where dl4j-bridge's Java parts are: the JDK, and the jars of the three Maven modules Python uses.

Every module finds its jars here: the in-process JVM's classpath (java/train), the service's shaded jar
(java/runtime) and the training UI's classpath (java/ui). Each is looked for in this checkout's java/*/target
first, then in the cache folder that `dl4j-bridge setup` fills.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import SetupError

__all__ = ["VERSION", "CACHE_DIR", "REPO_JAVA_DIR", "java_home", "classpath", "service_jar", "ui_classpath"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A checkout's java/ beside the package; an installed wheel ships the same sources as bridge/_java.
REPO_JAVA_DIR = PACKAGE_DIR.parent / "java"
WHEEL_JAVA_DIR = PACKAGE_DIR / "_java"
MIN_JAVA = 11


def _version() -> str:
    """The project's version, written once: the `revision` property of java/pom.xml (setup.py reads it too)."""
    for pom in (REPO_JAVA_DIR / "pom.xml", WHEEL_JAVA_DIR / "pom.xml"):
        if pom.is_file():
            found = re.search(r"<revision>([^<]+)</revision>", pom.read_text())
            if found:
                return found.group(1).strip()
    raise SetupError(f"Cannot read the project version: no java/pom.xml beside {PACKAGE_DIR}.")


VERSION = _version()
CACHE_DIR = Path(os.environ.get("DL4J_BRIDGE_CACHE", Path.home() / ".cache" / "dl4j-bridge")) / VERSION


@dataclass(frozen=True)
class JarSet:
    """A module's main jar and the file listing its dependencies, as Maven writes them in target/ and as
    `dl4j-bridge setup` copies them into the cache folder."""

    module: str
    jar: str
    listing: str | None  # None: a shaded jar that carries its dependencies
    cached_listing: str | None = None

    def places(self) -> list[tuple[Path, Path | None]]:
        target = REPO_JAVA_DIR / self.module / "target"
        cached = self.cached_listing or self.listing
        return [
            (target / self.jar, target / self.listing if self.listing else None),
            (CACHE_DIR / self.jar, CACHE_DIR / cached if cached else None),
        ]

    def find(self) -> list[str]:
        """[main jar, dependencies...] from the first place that has them; SetupError naming the build step."""
        for jar, listing in self.places():
            if jar.is_file() and (listing is None or listing.is_file()):
                return [str(jar), *(_listed(listing) if listing else [])]
        raise SetupError(
            f"{self.jar} is not built (looked in {REPO_JAVA_DIR / self.module / 'target'} and {CACHE_DIR}). "
            "Run `dl4j-bridge setup` (in a checkout: `make setup`)."
        )


TRAIN = JarSet("train", f"dl4j-bridge-train-{VERSION}.jar", "classpath.txt")
SERVICE = JarSet("runtime", f"dl4j-bridge-runtime-{VERSION}-service.jar", None)
UI = JarSet("ui", f"dl4j-bridge-ui-{VERSION}.jar", "classpath.txt", "ui-classpath.txt")


def _listed(listing: Path) -> list[str]:
    entries = [_module_jar(e) for e in listing.read_text().strip().split(os.pathsep) if e]
    missing = [e for e in entries if not Path(e).exists()]
    if missing:
        raise SetupError(
            f"{len(missing)} jar(s) listed in {listing} are gone (first: {missing[0]}). Run `dl4j-bridge setup` again."
        )
    return entries


def _module_jar(entry: str) -> str:
    """A sibling module's jar for the java/MODULE/target/classes folder a Maven reactor build lists (a fresh
    `mvnw package` names folders where an installed build names jars): Spark ships jars to executors, not folders."""
    path = Path(entry)
    if path.name == "classes" and path.parent.name == "target":
        jar = path.parent / f"dl4j-bridge-{path.parent.parent.name}-{VERSION}.jar"
        if jar.is_file():
            return str(jar)
    return entry


def classpath() -> list[str]:
    """The in-process JVM's classpath: $DL4J_BRIDGE_CLASSPATH, else the train module's jar and its dependencies."""
    if os.environ.get("DL4J_BRIDGE_CLASSPATH"):
        return os.environ["DL4J_BRIDGE_CLASSPATH"].split(os.pathsep)
    return TRAIN.find()


def service_jar() -> Path:
    """The Java service's shaded jar (ONNX Runtime Java and Netty, no DL4J)."""
    return Path(SERVICE.find()[0])


def ui_classpath() -> list[str]:
    """The training UI server's jars (its own JVM: DL4J's Vert.x UI cannot share Spark's Netty)."""
    return UI.find()


def java_home() -> Path:
    """The JDK to use: $JAVA_HOME, else the `java` on PATH. Raises SetupError if none or too old."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    java = shutil.which("java")
    if java:
        candidates.append(Path(java).resolve().parent.parent)
    for home in candidates:
        version = _java_major_version(home)
        if version is None:
            continue
        if version < MIN_JAVA:
            raise SetupError(
                f"Java {version} at {home} is too old: dl4j-bridge needs Java {MIN_JAVA}+ (17 tested). "
                "Install it (apt-get install openjdk-17-jdk-headless) and set JAVA_HOME."
            )
        return home
    raise SetupError(
        "No JDK found (looked at $JAVA_HOME and `java` on PATH). Install OpenJDK 17 "
        "(apt-get install openjdk-17-jdk-headless) or set JAVA_HOME to a JDK 11+."
    )


def java_executable() -> str:
    return str(java_home() / "bin" / "java")


def _java_major_version(home: Path) -> int | None:
    release = home / "release"
    if release.is_file():
        for line in release.read_text(errors="replace").splitlines():
            if line.startswith("JAVA_VERSION="):
                return _major(line.split("=", 1)[1].strip().strip('"'))
    java = home / "bin" / "java"
    if not java.exists():
        return None
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60).stderr
    quoted = out.split('"')
    return _major(quoted[1]) if len(quoted) > 1 else None


def _major(version: str) -> int:
    parts = version.split(".")
    return int(parts[1]) if parts[0] == "1" else int(parts[0].split("-")[0].split("+")[0])


def libjvm(home: Path) -> str:
    for rel in ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so", "lib/server/libjvm.dylib"):
        if (home / rel).exists():
            return str(home / rel)
    raise SetupError(f"{home} has no libjvm: point JAVA_HOME at a full JDK 11+.")
