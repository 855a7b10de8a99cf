"""Seed "ui": the training UI's cost per epoch. LeNet on the 4,000 MNIST training digits, batch 64, 5 epochs, with
fit(ui=...) (its defaults: a StatsListener report every 20 iterations, no histograms or activation statistics)
and without, alternating in fresh processes (3 pairs); epochs 2-5 timed per epoch (epoch 1 carries the JIT's and ND4J's warm-up). Also the
UI's start-up: the seconds its JVM takes to serve (on a thread of its own: training does not wait for it) and the
seconds from entering the UI block to training's first epoch starting. Goal: UI/plain <= 1.10x.

Run: .venv/bin/python -m benchmarks.bench_ui [--quick]   (one process per run: `--run ui|plain|ui-dl4j` prints JSON)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .common import write_section

PAIRS = 3
EPOCHS = 5
BATCH = 64
DIGITS = 4000
CHOICE = "How the defaults were chosen (same benchmark, same day, 3 pairs each): DL4J's defaults 2.85-3.07x; a report every 10 iterations without histograms but with activation statistics 1.16x (1.16, 1.16, 1.15); without activation statistics too, every 10 iterations 1.06x and 1.11x in two runs, every 20 (the default) the figure above. Earlier runs while other helpers' builds loaded the machine (load average 5-7) swung 0.4-1.4x per pair: compare only runs on a quiet machine."


def _one_run(mode: str) -> dict:
    """A fresh process's run: per-epoch seconds, and for the UI the start-up figures."""
    import bridge
    import bridge.ui
    from bridge import data, nets

    bridge.start_jvm()
    x, y, _, _ = data.load("mnist")
    x, y = x[:DIGITS], y[:DIGITS]
    net = nets.lenet(seed=1)
    result = {"mode": mode}
    if mode == "plain":
        history = bridge.fit(net, x, y, epochs=EPOCHS, batch_size=BATCH, progress=False)
    else:
        options = {"frequency": 1, "histograms": True} if mode == "ui-dl4j" else {}
        stats = os.path.join(tempfile.mkdtemp(), "ui-stats.bin")
        entered = time.perf_counter()
        with bridge.ui.training_ui(net, port=0, stats_file=stats, **options) as ui:
            result["enter_s"] = time.perf_counter() - entered
            history = bridge.fit(net, x, y, epochs=EPOCHS, batch_size=BATCH, progress=False)

            assert ui.url  # serving by now
            result["served_at_s"] = time.perf_counter() - entered
    result["epochs"] = [e.seconds for e in history]
    return result


def _spawn(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_ui", "--run", mode], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _server_start_seconds() -> float:
    """The UI's JVM alone, from launch to serving (what fit(ui=True) used to wait for before training)."""
    import bridge.ui
    from bridge.train.ui import UIServer

    server = UIServer(os.path.join(tempfile.mkdtemp(), "s.bin"), 0)
    start = time.perf_counter()
    server.start()
    seconds = time.perf_counter() - start
    server.stop()
    assert bridge.ui
    return seconds


def run(quick: bool) -> str:
    pairs = 1 if quick else PAIRS
    rows = []
    for pair in range(pairs):
        plain, ui = _spawn("plain"), _spawn("ui")
        rows.append((plain, ui))
        print(pair, json.dumps(plain), json.dumps(ui), flush=True)
    dl4j = _spawn("ui-dl4j") if not quick else None
    starts = [_server_start_seconds() for _ in range(2 if quick else 3)]
    per_plain = [s for plain, _ in rows for s in plain["epochs"][1:]]
    per_ui = [s for _, ui in rows for s in ui["epochs"][1:]]
    ratios = [statistics.mean(ui["epochs"][1:]) / statistics.mean(plain["epochs"][1:]) for plain, ui in rows]
    ratio = statistics.median(per_ui) / statistics.median(per_plain)
    load = os.getloadavg()
    lines = [
        "## ui",
        "",
        (
            f"Command: `.venv/bin/python -m benchmarks.bench_ui{' --quick' if quick else ''}` ({time.strftime('%Y-%m-%d %H:%M')}, "
            f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on a shared 2-core machine at the end)."
        ),
        "",
        (
            f"LeNet on {DIGITS} MNIST digits, batch {BATCH}, {EPOCHS} epochs per process; `fit` with the training UI "
            "(defaults: a report every 20 iterations, no histograms or activation statistics) and without, alternating in fresh processes "
            f"({pairs} pairs); epochs 2-{EPOCHS}."
        ),
        "",
        "| pair | plain s/epoch (epochs 2-5) | UI s/epoch (epochs 2-5) | ratio |",
        "|---|---|---|---|",
    ]
    for i, ((plain, ui), r) in enumerate(zip(rows, ratios), 1):
        fmt = lambda e: ", ".join(f"{s:.2f}" for s in e["epochs"][1:])  # noqa: E731
        lines.append(f"| {i} | {fmt(plain)} | {fmt(ui)} | {r:.2f}x |")
    lines += [
        "",
        (
            f"**UI overhead per epoch: {ratio:.2f}x** (median UI epoch {statistics.median(per_ui):.2f} s over median plain "
            f"epoch {statistics.median(per_plain):.2f} s; per pair {', '.join(f'{r:.2f}x' for r in ratios)}; goal <= 1.10x)."
        ),
    ]
    if dl4j is not None:
        dl4j_epoch = statistics.median(dl4j["epochs"][1:])
        lines.append(
            f"DL4J's own defaults (a report every iteration, histograms), once, same machine: "
            f"{dl4j_epoch:.2f} s/epoch, {dl4j_epoch / statistics.median(per_plain):.2f}x."
        )
    enter = statistics.median(ui["enter_s"] for _, ui in rows)
    lines += [
        "",
        (
            f"Start-up: the UI's JVM takes {statistics.median(starts):.2f} s to serve (median of {len(starts)}: "
            f"{', '.join(f'{s:.2f}' for s in starts)}); it starts on a thread of its own, so training starts "
            f"{enter * 1000:.0f} ms after entering the UI block (median) and the reports made meanwhile wait in a buffer."
        ),
    ]
    lines += ["", CHOICE]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run"]:
        print(json.dumps(_one_run(argv[1])), flush=True)
        return 0
    markdown = run("--quick" in argv)
    print(markdown)
    write_section("ui", markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
