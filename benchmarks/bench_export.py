"""Exporting a realistic graph: DL4J's zoo ResNet-50 (25.6 M parameters, 3x224x224, built with DL4J's own
Java builder): export time (to_onnx + write, and with the DL4J-vs-ONNX Runtime check), peak Python memory
during export (tracemalloc) and the process's RSS growth, as ratios to the parameter bytes; then DL4J
output() vs ONNX Runtime (Python, CPU) on the exported file at batch 1 and batch 32, in the same run.

Run: .venv/bin/python -m benchmarks.bench_export [--quick]
Goals: export under 10 s, peak Python memory under 3x the parameter bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

from .common import machine, measure, write_section

TESTS = Path(__file__).resolve().parent.parent / "tests"
SHAPE = (3, 224, 224)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    """The process's peak RSS while the block runs, polled every 5 ms (JVM and native memory included)."""

    def __enter__(self):
        self.before = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _resnet50():
    sys.path.insert(0, str(TESTS))  # the families' builders and weight calibration live with the tests
    from dl4j_families import calibrate_head, images, perturb_batch_norm, zoo

    net = zoo("ResNet50", SHAPE, 1000)
    # The zoo's N(0, 0.5) initialisation overflows to NaN under fixed batch-norm statistics: calibrate them,
    # as training would, so that the verification compares numbers.
    perturb_batch_norm(net, seed=1, calibrate=images(4, SHAPE, seed=99))
    calibrate_head(net, images(8, SHAPE, seed=98))
    return net, images


def _export_figures(net, path: Path, repeats: int) -> dict:
    from bridge.onnx import export_onnx

    params = int(net.numParams())
    # Memory first: the process's first export, so that RSS is not served from what earlier exports freed.
    with _PeakRss() as rss:
        tracemalloc.start()
        export_onnx(net, path, input_shape=SHAPE, verify=False)
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    plain = measure(lambda: export_onnx(net, path, input_shape=SHAPE, verify=False), repeats=repeats, warmup=0)
    verified = measure(
        lambda: export_onnx(net, path, input_shape=SHAPE),
        repeats=max(1, repeats - 1),
        warmup=0,
    )
    report = export_onnx(net, path, input_shape=SHAPE)
    return {
        "params": params,
        "param_bytes": params * 4,
        "plain": plain,
        "verified": verified,
        "diff": report.max_abs_diff,
        "python_peak": python_peak,
        "rss_growth": rss.peak - rss.before,
        "file_bytes": path.stat().st_size,
    }


def _multiply_adds(path: Path) -> int:
    """Multiply-adds per image of the exported graph's Conv and Gemm nodes (ONNX shape inference)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    dims = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim][1:]
        for v in (*model.graph.value_info, *model.graph.output)
    }
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            total += int(np.prod(dims[node.output[0]])) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            total += int(np.prod(weights[node.input[1]]))
    return total


def _latency(net, path: Path, images, batches: dict[int, int]) -> list[tuple]:
    """Per batch size and engine: its Timing after 3 warm-up calls (one engine's block, then the other's),
    and DL4J's median time / its median."""
    import onnxruntime as ort

    import bridge

    onnx_model = bridge.OnnxModel(path, providers="cpu")
    engines = {
        "DL4J `output()` via dl4j-bridge": lambda x: bridge.predict(net, x),
        f"ONNX Runtime {ort.__version__} (Python, CPU)": onnx_model.predict,
    }
    rows = []
    for batch, repeats in batches.items():
        x = images(batch, SHAPE, seed=7)
        timings = {
            name: measure(lambda call=call: call(x), repeats=repeats, warmup=3) for name, call in engines.items()
        }
        dl4j = next(iter(timings.values()))
        for name, timing in timings.items():
            rows.append((batch, name, timing, batch / timing.median, dl4j.median / timing.median, repeats))
    return rows


def run(quick: bool) -> str:
    import bridge

    bridge.start_jvm()
    start = time.perf_counter()
    net, images = _resnet50()
    built = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resnet50.onnx"
        figures = _export_figures(net, path, 2 if quick else 4)
        macs = _multiply_adds(path)
        rows = _latency(net, path, images, {1: 5, 32: 2} if quick else {1: 15, 32: 5})
    f, mib = figures, 2**20
    table = "\n".join(
        f"| {batch} | {name} | {t.fmt(1e3, 'ms')} | {rate:.1f} | {rate * macs / 1e9:.0f} | {speedup:.2f}x | {n} |"
        for batch, name, t, rate, speedup, n in rows
    )
    return f"""## Export of a 25 M-parameter graph: DL4J's zoo ResNet-50

Command: `.venv/bin/python -m benchmarks.bench_export{" --quick" if quick else ""}` — {machine()}

DL4J's `org.deeplearning4j.zoo.model.ResNet50` (built with DL4J's Java builder through JPype, random weights,
batch-norm statistics calibrated), {f["params"]:,} parameters ({f["param_bytes"] / mib:.0f} MiB as float32), input
3x224x224, opset 17; the JVM already up and the network built ({built:.0f} s, not counted). ONNX file
{f["file_bytes"] / mib:.0f} MiB. Median (min–max) of the runs.

| export | time | goal |
| --- | --- | --- |
| `export_onnx(verify=False)`: scan, convert, serialise, write | {f["plain"].fmt()} | < 10 s |
| `export_onnx()` with the parity check (2 random images: ONNX Runtime, DL4J float32 and float64; max abs diff vs DL4J float32 {f["diff"]:.2g}) | {f["verified"].fmt()} | |

| memory during `export_onnx(verify=False)` | bytes | / parameter bytes | goal |
| --- | --- | --- | --- |
| peak Python allocations (tracemalloc: Python objects and numpy arrays; not protobuf's C++ buffers) | {f["python_peak"] / mib:.0f} MiB | {f["python_peak"] / f["param_bytes"]:.2f}x | < 3x |
| process RSS growth (peak, polled every 5 ms; protobuf, JVM and native memory included; first export of the process) | {f["rss_growth"] / mib:.0f} MiB | {f["rss_growth"] / f["param_bytes"]:.2f}x | |

Inference on the exported file, random images, default threads (ONNX Runtime's and ND4J's pools both
size themselves to the cores), each engine's calls in one block after 3 warm-up calls; speed-up: DL4J's
median time / the engine's, in the same run. The graph does
{macs / 1e9:.2f} G multiply-adds per image (its Conv and Gemm nodes): DL4J's zoo ResNet-50 has stride 2 in
res2a as well as in res3a..res5a, so its stages run at 28/14/7/4 pixels, not the usual 56/28/14/7, about
a quarter of the usual ResNet-50's ~4 G at 224x224, with the same 25.6 M parameters.

| batch | engine | time per call | images/s | G multiply-adds/s | speed-up | runs |
| --- | --- | --- | --- | --- | --- | --- |
{table}

On this 2-core machine, runs of the whole benchmark varied 2-4x in the absolute figures when other jobs
shared the cores (the min-max columns show a run's own spread); the speed-ups varied less.
"""


def main(argv=None) -> None:
    section = run("--quick" in (argv if argv is not None else sys.argv[1:]))
    print(section)
    write_section("export", section)


if __name__ == "__main__":
    main()
