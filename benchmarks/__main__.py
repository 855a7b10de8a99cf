"""Run every benchmark and rewrite BENCHMARKS.md: `python -m benchmarks [--quick] [--only NAME ...]`.

Each benchmark runs in its own process (its own JVM: JPype cannot restart one, and Spark wants its own).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from .common import machine, write_section

BENCHMARKS = [
    "bench_boundary",
    "bench_training",
    "bench_settings",
    "profiles",
    "bench_inference",
    "bench_export",
    "bench_export_sweep",
    "bench_service",
    "bench_spark",
    "bench_spark_frames",
    "bench_graph_training",
    "bench_early_stopping",
    "bench_transfer",
    "bench_augment",
    "bench_gpu",
    "bench_ui",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller runs (< 5 minutes)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=BENCHMARKS)
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    failed = []
    for name in args.only:
        if not (here / f"{name}.py").exists():
            write_section(
                name.removeprefix("bench_"), f"## {name}\n\nNot measured: benchmarks/{name}.py does not exist yet."
            )
            continue
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if args.quick else [])], cwd=here.parent
        )
        print(f"== {name}: exit {result.returncode} in {time.perf_counter() - start:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(name)
    write_section(
        "machine",
        f"Machine: {machine()}\n\nCommand: `.venv/bin/python -m benchmarks"
        f"{' --quick' if args.quick else ''}` (or `make benchmarks`).",
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
