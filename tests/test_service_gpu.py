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
    done = subprocess.run([str(JAVA / "mvnw"), "-B", "-q", "-Pgpu", "dependency:build-classpath", "-pl", "runtime",
                           f"-Dmdep.outputFile={classpath_file}"], cwd=JAVA, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "JAVA_HOME": str(java_home())})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    classpath = classpath_file.read_text().strip()
    assert "onnxruntime_gpu-" in classpath and "/onnxruntime-1" not in classpath, classpath
    classes = JAVA / "runtime" / "target" / "classes"
    assert (classes / "ai" / "dl4jbridge" / "runtime" / "service" / "PredictionServer.class").is_file()
    process = subprocess.Popen([str(java_home() / "bin" / "java"), "-cp", f"{classes}:{classpath}",
                                "ai.dl4jbridge.runtime.service.PredictionServer", "--model", str(LENET), "--port", "0",
                                "--provider", "cuda"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if _gpu_usable():
            line = process.stdout.readline()
            assert "listening on" in line and "provider=cuda" in line, line
        else:
            _, stderr = process.communicate(timeout=180)
            lines = stderr.strip().splitlines()
            assert process.returncode == 1 and len(lines) == 1, stderr
            assert "CUDA" in lines[0] and "Not falling back to the CPU" in lines[0], lines[0]
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
