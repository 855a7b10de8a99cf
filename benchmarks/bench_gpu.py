"""GPU inference: ONNX Runtime's CUDA (and TensorRT, when its libraries load) execution providers vs
its CPU provider on the same machine, for the shared-vector MLP and LeNet, in one run.

Run where an NVIDIA driver and onnxruntime-gpu are installed (no JVM needed):
    python -m benchmarks.bench_gpu [--quick] [--out FILE.md]
Without a driver it says so and leaves BENCHMARKS.md as it is: the GPU section keeps the figures of the
last GPU machine that ran it.

How it ran on the lent H100 (no JDK, no network, 64 MiB per call there): the onnxruntime-gpu wheel for
Python 3.12 unpacked and re-packed as tar.xz (255 MB -> 204 MB), split into 54 MB parts, each part in its own
folder ignored through .git/info/exclude and carried by one `run`, concatenated under /tmp; the last call
unpacks it into /tmp/site with pytest's wheels, sets PYTHONPATH=/tmp/site:$PWD, and runs
`python -m pytest tests/test_gpu.py` and `python -m benchmarks.bench_gpu --out $OUT/gpu.md`.
The CNN families (ResNet-50, Xception, MobileNet, TinyYOLO, U-Net) have their own prepared check, with the
device calls in its docstring: benchmarks/gpu_check.py.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .common import machine, measure, percentiles, write_section

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
BATCHES = (1, 256, 4096)


def _digits(n: int) -> np.ndarray:
    raw = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 784).astype(np.float32) / np.float32(255)
    return np.resize(raw, (n, 784))  # repeats the 1,000 real digits to fill large batches


def _latency(model, rows: np.ndarray, calls: int) -> dict[int, float]:
    for i in range(100):
        model.predict(rows[i % len(rows)][None])
    samples = []
    for i in range(calls):
        row = rows[i % len(rows)][None]
        start = time.perf_counter()
        model.predict(row)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def _gpu_name() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return out or "unknown GPU"
    except (OSError, subprocess.SubprocessError):
        return "unknown GPU"


def _engines(model_path: Path) -> dict[str, object]:
    from bridge import OnnxModel

    engines = {"CPU": OnnxModel(model_path, providers="cpu")}
    for name, providers in (("CUDA", "cuda"), ("TensorRT", "tensorrt")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                engines[name] = OnnxModel(model_path, providers=providers)
        except Exception as exc:  # a provider that cannot run here is reported, not fatal
            engines[name] = f"not measured: {exc}"
    return engines


def run(quick: bool) -> tuple[str, bool]:
    from bridge.serve.runtime import _gpu_driver_missing

    missing = _gpu_driver_missing()
    if missing:
        return f"GPU inference: not measured on this machine ({missing}).", False
    import onnxruntime as ort

    calls, repeats = (300, 5) if quick else (3000, 20)
    digits = _digits(max(BATCHES))
    rows, notes = [], []
    for model_name in ("mlp", "lenet"):
        engines = _engines(VECTORS / model_name / "model.onnx")
        reference = engines["CPU"].predict(digits[:1000])
        cpu_latency = cpu_rate = None
        for name, engine in engines.items():
            if isinstance(engine, str):
                notes.append(f"{model_name}, {name}: {engine}")
                continue
            diff = float(np.max(np.abs(engine.predict(digits[:1000]) - reference)))
            latency = _latency(engine, digits[:1000], calls)
            rates = [
                batch / measure(lambda b=batch: engine.predict(digits[:b], batch_size=b), repeats, warmup=3).median
                for batch in BATCHES[1:]
            ]
            if name == "CPU":
                cpu_latency, cpu_rate = latency[50], rates
            rows.append(
                f"| {model_name} | {name} ({engine.providers[0]}) | {latency[50] * 1e3:.3f} | {latency[99] * 1e3:.3f} | "
                + " | ".join(f"{r:,.0f}" for r in rates)
                + f" | {cpu_latency / latency[50]:.2f}x | {rates[-1] / cpu_rate[-1]:.1f}x | {diff:.1e} |"
            )
    table = "\n".join(rows)
    extra = "\n".join(f"- {n}" for n in notes)
    section = f"""## GPU inference: ONNX Runtime CUDA / TensorRT vs CPU

Command (on the GPU machine, no JVM needed): `python -m benchmarks.bench_gpu{" --quick" if quick else ""}`.
Machine: {machine()}; GPU: {_gpu_name()}; onnxruntime-gpu {ort.__version__}. Shared-vector models
(models/vectors), real MNIST digits (repeated to fill batch 4096); batch-1 latency over {calls} calls after
warm-up, throughput median of {repeats} runs; ratios against the CPU provider of the same machine in the same run.
CUDA runs with TF32 off (bridge.OnnxModel's default) so that outputs stay within 1e-5 of the CPU.
On a machine without a GPU `python -m benchmarks` leaves this section as the last GPU machine wrote it.

| model | engine | batch-1 p50 ms | batch-1 p99 ms | batch-256 samples/s | batch-4096 samples/s | latency vs CPU | batch-4096 vs CPU | max abs diff vs CPU |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{table}
{extra}
"""
    return section, True


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    section, measured = run("--quick" in args)
    print(section)
    if "--out" in args:
        Path(args[args.index("--out") + 1]).write_text(section)
    elif measured:
        write_section("gpu", section)


if __name__ == "__main__":
    main()
