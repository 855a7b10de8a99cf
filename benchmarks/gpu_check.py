"""The CNN families on ONNX Runtime's CUDA provider vs its CPU provider, on a lent GPU machine: a batch sweep
with medians, and parity (GPU vs CPU in the same run, both vs DL4J's recorded outputs). One results file.

    python -m benchmarks.gpu_check --bundle .gpucheck --out $OUT/gpu_check.json      # on the GPU machine
    python -m benchmarks.gpu_check --bundle DIR --stand-in --batches 1 8              # anywhere, no GPU

--stand-in runs ONNX Runtime's CPU provider in the GPU's place: every figure then says "stand-in", the file
holds "stand_in": true, and nothing in it is a GPU measurement (it proves the command, not the GPU). Without
--stand-in a CUDA provider that cannot run is an error (exit 2) whose reason is in the results file.
Needs numpy, onnx, onnxruntime(-gpu) and bridge (which imports jpype; no JVM is started). Exit 0 when every
family's GPU output is within the tolerance (1e-4, max |a - b| / max(1, |b|) per element: absolute for
probabilities and masks, relative for YOLO's box sizes, which reach ~1000) of the CPU provider's and of DL4J's.

## On a lent GPU machine (what a session with the device tool does; 15 minutes of device time in all)

Not yet run on a GPU (2026-12): the task that prepared this had no device machine; only --stand-in ran.
Device calls send the checkout the *session* started in (not a helper's worktree): prepare there, on a branch
that has these files. What travels, 64 MiB per call at most: the working tree (tracked and unignored files:
8.5 MiB), the bundle `.gpucheck/` (2.1 MiB: the five families with seeded weights, DL4J's outputs, the JPype
wheel; benchmarks/gpu_bundle.py says why ResNet-50's 102 MB of weights need not travel) and onnxruntime-gpu for
Python 3.12 (340 MB of files, as a 203 MB tar.xz in 4 parts of 50.7 MB, in ignored folders `.whl1/` ..
`.whl4/`). Here, once (pip downloads the two wheels; xz -9 took 11 minutes on two shared cores):

    .venv/bin/python -m benchmarks.gpu_prepare --out .gpucheck --pack-ort

It ends by printing the calls with their sizes; measured here:

    1. run(command="mkdir -p /tmp/ort-parts && cp .whl1/* /tmp/ort-parts/ && ls -la /tmp/ort-parts",
           carry=[".whl1"], timeout_s=120)                                                    # 56.9 MiB
    2. the same with .whl2                                                                   # 56.9 MiB
    3. the same with .whl3                                                                   # 56.9 MiB
    4. run(command="bash benchmarks/gpu_device.sh .gpucheck", carry=[".whl4", ".gpucheck"],
           timeout_s=540)                                                                    # 58.9 MiB

No `kind` (an H100 or an H200: the results file names the card). A machine stays warm ~30 s after a call and
starts bare: make the calls back to back. gpu_device.sh checks the archive's SHA-256 (naming any missing part:
redo those calls), unpacks it into /tmp/site, installs the bundle's JPype wheel there, prints what ONNX Runtime
and `dl4j-bridge doctor` find, runs `pytest tests/test_gpu.py`, then this command (--budget-s 240, batches
1 8 64 256); under $OUT it writes gpu_check.json (device, driver, versions, providers with the reasons, per
family and batch the medians and the GPU/CPU ratio, every difference, a "markdown" rendering), providers.txt
and pytest_gpu.txt. The last call ran in 47 s here as a dry run (devsim: Python without JPype, a cp311 archive,
--stand-in, two families, batches 1 8). Estimated on the device: 1-2 min start, ~30 s per part call, ~5 min
for the last: 9-10 of the 15 minutes, room for one rerun of call 4 while the machine is warm; give_back after.
Then BENCHMARKS.md's GPU section gets the file's "markdown", with the command above.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from .gpu_bundle import BundleError, family_model, read_manifest, reference, seeded_images

BATCHES = (1, 8, 64, 256)
TOLERANCE = 1e-4
STAND_IN = "STAND-IN: ONNX Runtime's CPU provider ran in the GPU's place; no GPU was measured"


def scaled_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(1, |want|), per element: absolute below 1, relative above."""
    if got.shape != want.shape:
        raise AssertionError(f"output shape {got.shape} differs from the reference's {want.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want.astype(np.float64)))))


def max_abs(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got.astype(np.float64) - want)))


def timed(run, budget_s: float, warmup: int = 2, least: int = 3, most: int = 50) -> dict:
    """Seconds per run(): median, min, max of at least `least` runs after `warmup`, more while within budget."""
    for _ in range(warmup):
        run()
    samples, deadline = [], time.perf_counter() + budget_s
    while len(samples) < most and (len(samples) < least or time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return {"median_s": float(np.median(samples)), "low_s": min(samples), "high_s": max(samples), "runs": len(samples)}


def environment() -> dict:
    import onnx
    import onnxruntime as ort

    from .common import machine

    gpu = "none (nvidia-smi not found)"
    try:
        query = "--query-gpu=name,driver_version,memory.total"
        gpu = subprocess.run(["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        gpu = gpu.stdout.strip() or gpu.stderr.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "machine": machine(),
        "gpu": gpu,
        "onnxruntime": ort.__version__,
        "onnxruntime_device": ort.get_device(),
        "onnxruntime_providers_compiled": ort.get_available_providers(),
        "onnx": onnx.__version__,
        "numpy": np.__version__,
    }


def provider_report(model_path: Path) -> dict:
    """What `OnnxModel(providers="auto")` runs on and why it skipped the others; doctor's provider lines."""
    from bridge.cli.doctor import provider_status
    from bridge.serve.runtime import OnnxModel

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = OnnxModel(model_path)
    return {
        "auto_runs_on": auto.providers,
        "auto_skipped": auto.skipped,
        "auto_warnings": [str(w.message) for w in caught],
        "doctor": provider_status(),
    }


def gpu_engine(path: Path, stand_in: bool):
    from bridge.serve.runtime import OnnxModel

    return OnnxModel(path, providers="cpu" if stand_in else "cuda")


def check_family(name: str, family: dict, bundle: Path, work: Path, args) -> dict:
    from bridge.serve.runtime import OnnxModel

    path = work / f"{name}.onnx"
    path.write_bytes(family_model(bundle, family).SerializeToString())
    cpu, gpu = OnnxModel(path, providers="cpu"), gpu_engine(path, args.stand_in)
    x_ref, dl4j = reference(bundle, family)
    images = seeded_images(family["image_seed"], max(args.batches), family["input_shape"])
    if not np.array_equal(images[: len(x_ref)], x_ref):
        raise BundleError(f"{name}: the sweep's first images are not the reference images")
    got_cpu, got_gpu = cpu.predict(x_ref), gpu.predict(x_ref)
    result = {
        "params": family["params"],
        "input_shape": family["input_shape"],
        "onnx_mb": round(path.stat().st_size / 1e6, 1),
        "gpu_providers": gpu.providers,
        "dl4j_rows": len(x_ref),
        "gpu_vs_dl4j_max_abs": max_abs(got_gpu, dl4j),
        "gpu_vs_dl4j_scaled": scaled_diff(got_gpu, dl4j),
        "cpu_vs_dl4j_max_abs": max_abs(got_cpu, dl4j),
        "cpu_vs_dl4j_scaled": scaled_diff(got_cpu, dl4j),
        "batches": [],
    }
    feed = lambda engine, b: engine.session.run([engine.output_name], {engine.input_name: images[:b]})[0]
    cell_budget = args.budget_s / (len(args.families) * len(args.batches) * 2)
    for b in args.batches:
        out_gpu, out_cpu = feed(gpu, b), feed(cpu, b)
        row = {
            "batch": b,
            "gpu_vs_cpu_max_abs": max_abs(out_gpu, out_cpu),
            "gpu_vs_cpu_scaled": scaled_diff(out_gpu, out_cpu),
        }
        row["gpu"] = timed(lambda: feed(gpu, b), cell_budget)  # GPU block first, then CPU: no interleaved contention
        row["cpu"] = timed(lambda: feed(cpu, b), cell_budget)
        row["gpu_over_cpu"] = row["cpu"]["median_s"] / row["gpu"]["median_s"]
        result["batches"].append(row)
        print(
            f"{name} batch {b}: {'stand-in' if args.stand_in else 'GPU'} {row['gpu']['median_s'] * 1e3:.2f} ms, "
            f"CPU {row['cpu']['median_s'] * 1e3:.2f} ms, ratio {row['gpu_over_cpu']:.2f}x, "
            f"diff {row['gpu_vs_cpu_max_abs']:.2g}",
            flush=True,
        )
    result["gpu_vs_cpu_max_abs"] = max(r["gpu_vs_cpu_max_abs"] for r in result["batches"])
    result["gpu_vs_cpu_scaled"] = max(r["gpu_vs_cpu_scaled"] for r in result["batches"])
    worst = max(result["gpu_vs_cpu_scaled"], result["gpu_vs_dl4j_scaled"], result["cpu_vs_dl4j_scaled"])
    result["ok"] = bool(worst <= TOLERANCE)
    return result


def markdown(results: dict) -> str:
    """The tables for BENCHMARKS.md's GPU section (with the stand-in banner where it applies)."""
    label = "CPU stand-in" if results["stand_in"] else "GPU (CUDA)"
    env = results["environment"]
    lines = [
        *([f"**{STAND_IN}.**", ""] if results["stand_in"] else []),
        *([f"**Not measured: {results['error']}**", ""] if results.get("error") else []),
        (
            f"Command: `{results['command']}`. Machine: {env['machine']}; GPU: {env['gpu']}; onnxruntime "
            f"{env['onnxruntime']} ({env['onnxruntime_device']}). Time per ONNX Runtime run() (host input and "
            "output, copies included), median after 2 warm-up runs; GPU and CPU in the same run."
        ),
        "",
        (
            f"| family | params | batch | {label} ms | CPU ms | {label} images/s | CPU images/s | "
            f"{label} / CPU speed | max abs diff {label} vs CPU |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in results["families"].items():
        for r in f.get("batches", []):
            g, c, b = r["gpu"]["median_s"], r["cpu"]["median_s"], r["batch"]
            lines.append(
                f"| {name} | {f['params'] / 1e6:.1f} M | {b} | {g * 1e3:.2f} | {c * 1e3:.2f} | {b / g:,.0f} | "
                f"{b / c:,.0f} | {r['gpu_over_cpu']:.2f}x | {r['gpu_vs_cpu_max_abs']:.1e} |"
            )
    lines += [
        "",
        f"| family | {label} vs CPU (all batches) | {label} vs DL4J | CPU vs DL4J | scaled worst | within 1e-4 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in results["families"].items():
        if "error" in f:
            lines.append(f"| {name} | error: {f['error']} | | | | no |")
            continue
        worst = max(f["gpu_vs_cpu_scaled"], f["gpu_vs_dl4j_scaled"], f["cpu_vs_dl4j_scaled"])
        lines.append(
            f"| {name} | {f['gpu_vs_cpu_max_abs']:.1e} | {f['gpu_vs_dl4j_max_abs']:.1e} | {f['cpu_vs_dl4j_max_abs']:.1e} "
            f"| {worst:.1e} | {'yes' if f['ok'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def run(args) -> dict:
    from bridge.errors import ProviderError

    manifest = read_manifest(args.bundle)
    names = args.families or list(manifest["families"])
    unknown = [n for n in names if n not in manifest["families"]]
    if unknown:
        raise BundleError(f"families {unknown} are not in {args.bundle}; it holds {list(manifest['families'])}")
    args.families = names
    results = {
        "stand_in": bool(args.stand_in),
        "note": STAND_IN if args.stand_in else "GPU: ONNX Runtime's CUDA provider (TF32 off: bridge.OnnxModel)",
        "command": "python -m benchmarks.gpu_check " + " ".join(args.argv),
        "environment": environment(),
        "batches": list(args.batches),
        "tolerance": TOLERANCE,
        "prepared_with": manifest.get("prepared_with"),
        "families": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first = work / "probe.onnx"
        first.write_bytes(family_model(args.bundle, manifest["families"][names[0]]).SerializeToString())
        results["providers"] = provider_report(first)
        print(f"providers: auto runs on {results['providers']['auto_runs_on']}; {results['providers']['doctor']}")
        for name in names:
            try:
                results["families"][name] = check_family(name, manifest["families"][name], args.bundle, work, args)
            except ProviderError as exc:  # the reason (a missing library, no driver) is the finding: say it, stop
                results["error"] = f"the GPU provider cannot run: {exc}"
                break
            except Exception as exc:  # one family's failure is reported, and the others still run
                results["families"][name] = {"error": f"{type(exc).__name__}: {exc}", "ok": False}
    results["ok"] = "error" not in results and all(f["ok"] for f in results["families"].values())
    results["markdown"] = markdown(results)
    return results


def _out_path(value: str | None) -> Path:
    if value is None:
        return Path(os.environ.get("OUT", ".")) / "gpu_check.json"
    path = Path(value)
    return path if path.suffix == ".json" else path / "gpu_check.json"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path(".gpucheck"), help="from benchmarks.gpu_prepare")
    parser.add_argument("--out", help="results file, or a folder for gpu_check.json (default $OUT/gpu_check.json)")
    parser.add_argument("--families", nargs="*", help="default: every family in the bundle")
    parser.add_argument("--batches", nargs="*", type=int, default=list(BATCHES))
    parser.add_argument("--budget-s", type=float, default=240.0, help="timing budget over all families and batches")
    parser.add_argument("--stand-in", action="store_true", help="the CPU provider in the GPU's place (no GPU here)")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.stand_in:
        print(f"*** {STAND_IN} ***", flush=True)
    results = run(args)
    out = _out_path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(results["markdown"])
    if results.get("error"):
        print(results["error"], file=sys.stderr)
    print(f"results: {out} ({'all within' if results['ok'] else 'NOT all within'} {TOLERANCE:g})")
    return 0 if results["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
