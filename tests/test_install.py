"""The package outside the checkout: a wheel installed elsewhere builds its JVM side with `dl4j-bridge setup`."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    wheel_dir, site = root / "wheel", root / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(REPO)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wheel = next(wheel_dir.glob("dl4j_bridge-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site), "DL4J_BRIDGE_CACHE": str(root / "cache")}
    return root, env


def _python(code: str, root: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=900)


def test_wheel_needs_setup_then_trains_outside_the_checkout(installed):
    root, env = installed
    before = _python("import bridge; print(bridge.__file__); bridge.start_jvm()", root, env)
    assert str(root / "site") in before.stdout, before.stdout + before.stderr
    assert "dl4j-bridge setup" in before.stderr  # the error says what to run

    setup = subprocess.run([sys.executable, "-m", "bridge", "setup"], cwd=root, env=env, capture_output=True,
                           text=True, timeout=900)
    assert setup.returncode == 0, setup.stderr[-3000:]
    cache = root / "cache" / "0.1.0"
    assert (cache / "classpath.txt").is_file() and (cache / "dl4j-bridge-train-0.1.0.jar").is_file()
    assert (cache / "dl4j-bridge-runtime-0.1.0-service.jar").is_file()

    after = _python("import bridge, numpy as np\n"
                    "x = np.random.default_rng(0).random((64, 784), dtype=np.float32)\n"
                    "net = bridge.nets.mlp()\n"
                    "bridge.fit(net, x, np.arange(64) % 10, progress=False)\n"
                    "print('OUTPUT', bridge.predict(net, x[:2]).shape, bridge.jvm.classpath()[0])", root, env)
    assert "OUTPUT (2, 10)" in after.stdout and str(cache) in after.stdout, after.stderr[-3000:]
