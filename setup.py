"""The version and the Python packages of the wheel, the Java sources among them (java/ is shipped as bridge._java, so that
`dl4j-bridge setup` can build the jars anywhere). Each Java source folder is listed as a package of
bridge._java: setuptools warns about data folders that look like packages otherwise. Everything else is in
pyproject.toml. The version is written once, as the `revision` of java/pom.xml (bridge.jvm.locate reads it too)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

JAVA = Path(__file__).resolve().parent / "java"


def java_source_packages() -> list[str]:
    """bridge._java.<folder> for every folder under java/ that holds files, except build output."""
    names = []
    for folder in sorted(p for p in JAVA.rglob("*") if p.is_dir()):
        parts = folder.relative_to(JAVA).parts
        if (
            "target" in parts
            or "test" in parts
            or any(part.startswith(".") for part in parts)
            or not all(p.isidentifier() for p in parts)
        ):
            continue
        if any(f.is_file() for f in folder.iterdir()):
            names.append(".".join(("bridge._java", *parts)))
    return names


def version() -> str:
    return re.search(r"<revision>([^<]+)</revision>", (JAVA / "pom.xml").read_text()).group(1).strip()


setup(
    version=version(),
    packages=[*find_packages(include=["bridge", "bridge.*"]), "bridge._java", *java_source_packages()],
)
