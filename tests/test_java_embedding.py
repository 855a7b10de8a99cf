"""The runtime as a Java team meets it: docs/java.md's install step (`mvn install` the library, then
`dependency:go-offline` on java/quickstart), then a fresh Maven project that depends only on the documented
coordinates (ai.dl4jbridge:dl4j-bridge-runtime:0.1.0), built offline (-o), embeds PredictionServer, serves LeNet and
predicts through HTTP; the answer equals Python ONNX Runtime's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge.jvm import java_home

ROOT = Path(__file__).resolve().parent.parent
JAVA = ROOT / "java"
LENET = ROOT / "models" / "vectors" / "lenet" / "model.onnx"
QUICKSTART = JAVA / "quickstart"  # the fresh project: its pom.xml names the runtime's coordinates only

pytestmark = pytest.mark.slow  # Maven builds; the first run after a change under java/ fills a repository (~220 MB)


def docs_install_step() -> str:
    """The ```sh block under docs/java.md's "Install it once", as written."""
    text = (ROOT / "docs" / "java.md").read_text()
    return re.search(r"```sh\n(.*?)```", text[text.index("Install it once") :], re.S).group(1)


def _sources_key(step: str) -> str:
    """What the install step's repository depends on: java/ (no build output) and the step itself."""
    digest = hashlib.sha256(step.encode())
    for folder, subfolders, files in os.walk(JAVA):
        subfolders[:] = sorted(d for d in subfolders if d != "target")
        for name in sorted(files):
            path = Path(folder) / name
            digest.update(str(path.relative_to(JAVA)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def installed_repository(tmp_path_factory) -> Path:
    """A Maven repository holding what docs/java.md's install step puts in ~/.m2 and nothing else: the step run
    as written (MAVEN_ARGS points Maven at the repository; the shared ~/.m2 is left alone) on an empty repository,
    in a copy of java/ (as from a fresh clone: the checkout's jars are not rewritten under running tests). Kept
    in java/target, keyed by java/'s sources and the step, since the offline build below never adds to it."""
    step = docs_install_step()
    repository = JAVA / "target" / "quickstart-repository" / _sources_key(step)
    if (repository / ".complete").is_file():
        return repository
    shutil.rmtree(repository.parent, ignore_errors=True)  # older keys: stale
    clone = tmp_path_factory.mktemp("clone")
    shutil.copytree(JAVA, clone / "java", ignore=shutil.ignore_patterns("target"))
    done = subprocess.run(
        ["bash", "-e", "-c", step],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "JAVA_HOME": str(java_home()), "MAVEN_ARGS": f"-Dmaven.repo.local={repository}"},
    )
    assert done.returncode == 0, f"docs/java.md's install step failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (repository / ".complete").touch()
    return repository


def _maven_offline(args: list[str], cwd: Path, repository: Path) -> None:
    done = subprocess.run(
        [str(JAVA / "mvnw"), "-B", "-q", "-o", f"-Dmaven.repo.local={repository}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "JAVA_HOME": str(java_home())},
    )
    assert done.returncode == 0, f"mvn -o {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_a_fresh_maven_project_builds_offline_after_the_install_step_and_serves(tmp_path, installed_repository):
    project = tmp_path / "embedded"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("target"))
    shutil.copytree(JAVA / ".mvn", project / ".mvn")  # the wrapper, and Maven Central as the only repository
    _maven_offline(
        ["package", "dependency:build-classpath", "-Dmdep.outputFile=classpath.txt"], project, installed_repository
    )

    _, _, x_test, _ = bridge.data.load("mnist")
    rows = np.ascontiguousarray(x_test[:3], dtype=np.float32)
    (tmp_path / "rows.json").write_text(json.dumps({"inputs": rows.tolist()}))
    classpath = f"{project / 'target' / 'classes'}:{(project / 'classpath.txt').read_text().strip()}"
    run = subprocess.run(
        [str(java_home() / "bin" / "java"), "-cp", classpath, "Main", str(LENET), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("ANSWER "))
    status, body = line[len("ANSWER ") :].split(" ", 1)
    assert status == "200", body
    probs = np.asarray(json.loads(body)["probabilities"], np.float32)
    expected = bridge.OnnxModel(str(LENET), providers="cpu").predict(rows)
    assert np.abs(probs - expected).max() <= 1e-5
