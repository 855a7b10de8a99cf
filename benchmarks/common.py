"""Timing and reporting shared by the benchmarks.

Every figure is the median of several runs with min and max, and every comparison is a ratio
measured in the same run: these machines are shared and noisy.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


@dataclass(frozen=True)
class Timing:
    median: float
    low: float
    high: float

    def fmt(self, scale: float = 1.0, unit: str = "s", digits: int = 3) -> str:
        return f"{self.median * scale:.{digits}g} {unit} ({self.low * scale:.{digits}g}–{self.high * scale:.{digits}g})"


def measure(fn, repeats: int = 7, warmup: int = 1) -> Timing:
    """Seconds per call of fn(): median, min and max over `repeats` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), min(samples), max(samples))


def percentiles(samples: list[float], points=(50, 99)) -> dict[int, float]:
    ordered = sorted(samples)
    return {p: ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] for p in points}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, Python {sys.version.split()[0]}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between <!-- begin:name --> and <!-- end:name --> in BENCHMARKS.md."""
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = BENCHMARKS_MD.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, BENCHMARKS_MD)
