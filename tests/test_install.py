"""The package as a user gets it: the wheel built without warnings, installed in a fresh virtualenv outside the
checkout (dependencies resolved from pyproject's ranges, pinned by constraints.txt), `dl4j-bridge setup`, then
the README's install snippet, unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def readme_install_snippet() -> str:
    """The ```python block that follows the README's "install test runs this" marker."""
    text = (REPO / "README.md").read_text()
    marker = text.index("<!-- tests/test_install.py runs this block -->")
    return re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)


def readme_install_wheel() -> str:
    """The wheel the README's install lines build with `make wheel` and then install: dist/dl4j_bridge-....whl."""
    found = re.search(
        r"^make wheel\b.*\npip install (dist/dl4j_bridge-\S+\.whl)", (REPO / "README.md").read_text(), re.M
    )
    assert found, "README.md: no `make wheel` line followed by `pip install dist/dl4j_bridge-...whl`"
    return found.group(1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`make wheel`, the command the README's install section gives, into a folder of the test's (DIST)."""
    dist = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS")}
    done = subprocess.run(
        ["make", "-C", str(REPO), "wheel", f"DIST={dist}", f"WHEEL_PYTHON={sys.executable}", "WHEEL_OPTS=-v"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dist, done


def test_make_wheel_builds_the_file_the_readme_installs_without_warnings(built):
    dist, done = built
    named = Path(readme_install_wheel())
    assert [p.name for p in dist.glob("*.whl")] == [named.name]
    assert f"built {dist / named.name}" in done.stdout
    warnings = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if re.search(r"warning", line, re.I) and "pip" not in line.lower()
    ]
    assert warnings == [], "\n".join(warnings)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, built):
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    wheel = next(built[0].glob("dl4j_bridge-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "constraints.txt"), str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "DL4J_BRIDGE_CACHE": str(root / "cache")}
    env.pop("PYTHONPATH", None)
    return root, venv, wheel, env


def test_the_wheel_carries_the_license_the_digits_and_ranges_not_pins(installed):
    _, _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "bridge/data/datasets/mnist_5k.csv.gz" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert requires and not [r for r in requires if "==" in r.split(";")[0]], requires  # ranges, no pins
    assert any(r.startswith("Requires-Dist: onnxruntime-gpu") and "x86_64" in r for r in requires)
    assert any(re.match(r"Requires-Dist: onnxruntime[<>]", r) and "x86_64" in r for r in requires)


def test_wheel_needs_setup_then_the_readme_snippet_runs_outside_the_checkout(installed):
    root, venv, _, env = installed
    python = str(venv / "bin" / "python")
    before = subprocess.run(
        [python, "-c", "import bridge; print(bridge.__file__); bridge.start_jvm()"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert str(venv) in before.stdout and "dl4j-bridge setup" in before.stderr, before.stdout + before.stderr

    setup = subprocess.run(
        [str(venv / "bin" / "dl4j-bridge"), "setup"], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    cache = root / "cache" / "0.1.0"
    assert (cache / "classpath.txt").is_file() and (cache / "dl4j-bridge-train-0.1.0.jar").is_file()
    assert (cache / "dl4j-bridge-runtime-0.1.0-service.jar").is_file()
    # Quiet: a progress line and the result, Maven's log in a file
    assert len((setup.stdout + setup.stderr).strip().splitlines()) <= 3, setup.stdout + setup.stderr
    assert "BUILD SUCCESS" in (cache / "maven.log").read_text()

    snippet = readme_install_snippet()
    run = subprocess.run([python, "-c", snippet], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    accuracy = float(re.search(r"accuracy (\S+)", run.stdout).group(1))
    assert accuracy > 0.8, run.stdout
    assert (root / "model.zip").is_file() and (root / "model.onnx").is_file()
