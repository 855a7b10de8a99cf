"""The service built against ONNX Runtime's CUDA artifact (the runtime's Maven profile -Pgpu): on a machine
without a usable GPU it refuses --provider cuda by name, in one line, and never falls back to the CPU;
with one it reports provider=cuda. The 640 MB jar comes from Maven Central once (then ~/.m2)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bridge.jvm import java_home

ROOT = Path(__file__).resolve().parent.parent
JAVA = ROOT / "java"
LENET = ROOT / "models" / "vectors" / "lenet" / "model.onnx"


def _gpu_usable() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi], capture_output=True, timeout=30).returncode == 0


def test_gpu_profile_reports_or_refuses_cuda_by_name(tmp_path):
    classpath_file = tmp_path / "gpu-classpath.txt"
    done = subprocess.run(
        [
            str(JAVA / "mvnw"),
            "-B",
            "-q",
            "-Pgpu",
            "dependency:build-classpath",
            "-pl",
            "runtime",
            f"-Dmdep.outputFile={classpath_file}",
        ],
        cwd=JAVA,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "JAVA_HOME": str(java_home())},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    classpath = classpath_file.read_text().strip()
    assert "onnxruntime_gpu-" in classpath and "/onnxruntime-1" not in classpath, classpath
    classes = JAVA / "runtime" / "target" / "classes"
    assert (classes / "ai" / "dl4jbridge" / "runtime" / "service" / "PredictionServer.class").is_file()
    process = subprocess.Popen(
        [
            str(java_home() / "bin" / "java"),
            "-cp",
            f"{classes}:{classpath}",
            "ai.dl4jbridge.runtime.service.PredictionServer",
            "--model",
            str(LENET),
            "--port",
            "0",
            "--provider",
            "cuda",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if _gpu_usable():
            line = process.stdout.readline()
            assert "listening on" in line and "provider=cuda" in line, line
        else:
            _, stderr = process.communicate(timeout=180)
            # ONNX Runtime's own native log may come first (it names the missing library); the service's word
            # is one line, last, and no Java stack trace.
            lines = [line for line in stderr.strip().splitlines() if line.strip() and line.strip() != "\x1b[m"]
            assert process.returncode == 1 and lines, stderr
            assert lines[-1].startswith("dl4j-bridge service: CUDA was requested"), stderr
            assert "Not falling back to the CPU" in lines[-1] and "\tat " not in stderr, stderr
            assert all("onnxruntime" in line for line in lines[:-1]), stderr
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
