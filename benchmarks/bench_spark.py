"""Distributed training: an epoch of LeNet on Fashion-MNIST trained locally (no Spark), on Spark
local[2], and on a 2-worker Spark standalone cluster on 127.0.0.1, in the same run; the overhead split
from DL4J's Spark training stats. `--accuracy`: the issue's bar (2 full epochs each, test accuracy).

Run: .venv/bin/python -m benchmarks.bench_spark [--quick] [--accuracy]
"""

from __future__ import annotations

import sys
import time

from .common import write_section

AVERAGING = 40  # minibatches per worker between averagings: the default when these sections were measured (now 20)

PHASES = [  # DL4J stat key -> what it is
    ("ParameterAveragingMasterFitTimesMs", "whole fit (driver)"),
    ("ParameterAveragingMasterAggregateTimesMs", "aggregation of parameters (driver waits)"),
    ("ParameterAveragingMasterBroadcastCreateTimesMs", "broadcast of parameters"),
    ("ParameterAveragingMasterRepartitionTimesMs", "repartitioning the data"),
    ("ParameterAveragingMasterCountRddSizeTimesMs", "counting the RDD"),
    ("ParameterAveragingMasterSplitTimesMs", "splitting into averaging rounds"),
    ("WorkerFlatMapGetInitialModelTimeMs", "workers: getting the model"),
    ("WorkerFlatMapDataSetGetTimesMs", "workers: reading data"),
]


def _train(
    mode: str,
    cluster,
    x,
    y,
    xt,
    yt,
    epochs: int,
    seed: int = 7,
    model: str = "lenet",
    batch_size: int = 32,
    averaging_frequency: int = AVERAGING,
):
    """(history, test accuracy, Spark timings, the trained network) for one mode; batch_size is per worker."""
    import bridge
    from bridge import nets, spark

    net = getattr(nets, model)(seed=seed)
    options = dict(epochs=epochs, batch_size=batch_size, seed=seed, progress=False)
    if mode == "local":
        history = bridge.fit(net, x, y, **options)
        timings = {}
    else:
        master = "local[2]" if mode == "spark local[2]" else cluster.master_url
        with spark.session(master, executor_memory="2g", executor_off_heap="2g") as session:
            history = bridge.fit(net, x, y, spark=session, averaging_frequency=averaging_frequency, **options)
            timings = session.last_timings
    return history, bridge.evaluate(net, xt, yt).accuracy, timings, net


def run(quick: bool, accuracy_mode: bool) -> str:
    import bridge
    from bridge import data
    from bridge.spark.cluster import StandaloneCluster

    bridge.start_jvm()
    x, y, xt, yt = data.load("fashion-mnist")
    n = len(x) if accuracy_mode else (2000 if quick else 10000)
    epochs = 2  # the second epoch's samples/s: the first also starts the executors' JVMs and ND4J
    x, y = x[:n], y[:n]
    results = {}
    with StandaloneCluster(workers=2, worker_memory="5g") as cluster:
        for mode in ("local", "spark local[2]", "standalone, 2 workers"):
            start = time.perf_counter()
            history, acc, timings, _ = _train(mode, cluster, x, y, xt, yt, epochs)
            results[mode] = (history, acc, timings, time.perf_counter() - start)
            print(f"{mode}: {history[-1].samples_per_sec:.0f} samples/s, accuracy {acc:.4f}", flush=True)
    base = results["local"][0][-1].samples_per_sec
    rows = "\n".join(
        f"| {mode} | {h[-1].samples_per_sec:.0f} | {h[-1].samples_per_sec / base:.2f}x | {acc:.4f} | {wall:.0f} s |"
        for mode, (h, acc, _, wall) in results.items()
    )
    title = (
        f"LeNet, Fashion-MNIST, {epochs} epochs on all {n} training images (accuracy on the 10,000 test images)"
        if accuracy_mode
        else f"LeNet, Fashion-MNIST, 2 epochs of {n} images (samples/s of the second: the first "
        "also starts the executors' JVMs; the time split below covers both)"
    )
    section = f"""## Distributed training: local vs Spark{" (accuracy)" if accuracy_mode else ""}

Command: `.venv/bin/python -m benchmarks.bench_spark{" --quick" if quick else ""}{" --accuracy" if accuracy_mode else ""}`.
{title}; batch 32 (per worker on Spark), parameters and Adam's moments averaged every {AVERAGING} minibatches, the
standalone cluster is a master and 2 workers (1 core each) as separate JVMs on 127.0.0.1, all in the same run.

| mode | samples/s (last epoch) | vs local | test accuracy | wall time |
| --- | --- | --- | --- | --- |
{rows}
"""
    scaling = "\n(The scaling estimate is in the section below, from `bench_spark` without --accuracy.)\n"
    return section + _overhead(results) + (scaling if accuracy_mode else _scaling(results))


def _overhead(results) -> str:
    lines = []
    for mode in ("spark local[2]", "standalone, 2 workers"):
        timings = results[mode][2]
        fit = timings.get(PHASES[0][0], {}).get("total_ms", 0) or 1
        for key, label in PHASES:
            if key in timings:
                t = timings[key]
                lines.append(f"| {mode} | {label} | {t['total_ms']:,} | {t['total_ms'] / fit:.0%} | {t['events']} |")
    return (
        "\nWhere the time goes (DL4J's Spark training stats, driver side; the workers' own fit timings are left\n"
        "out: DL4J's nested stats count them more than once):\n\n| mode | phase | total ms | share of fit | events |\n"
        "| --- | --- | --- | --- | --- |\n" + "\n".join(lines) + "\n"
    )


def _scaling(results) -> str:
    timings = results["standalone, 2 workers"][2]
    fit = timings.get("ParameterAveragingMasterFitTimesMs", {}).get("total_ms", 0)
    # DL4J's aggregation step is where the driver waits for the round's job: the workers' minibatch
    # fitting plus summing their parameters. The rest of the fit does not shrink with more workers.
    distributed = timings.get("ParameterAveragingMasterAggregateTimesMs", {}).get("total_ms", 0)
    if not fit or not distributed:
        return ""
    overhead = fit - distributed
    rows = "\n".join(
        f"| {w} | {overhead + distributed * 2 / w:,.0f} | {(overhead + distributed * 2) / (overhead + distributed * 2 / w):.2f}x |"
        for w in (1, 2, 4, 8, 16)
    )
    return f"""
Scaling on paper, from the cluster's split: of {fit:,} ms of fitting, {distributed:,} ms is the driver waiting
for each averaging round's job (the workers' minibatches and the sum of their parameters), which divides
among workers; the other {overhead:,} ms (repartitioning, counting, broadcasting, scheduling) does not. With
W workers an epoch takes about overhead + distributed x 2 / W (ignoring that gathering W parameter vectors
grows with W), so the speed-up flattens near (overhead + distributed) / overhead:

| workers | estimated ms | speed-up vs 1 worker |
| --- | --- | --- |
{rows}
"""


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    accuracy_mode = "--accuracy" in args
    section = run("--quick" in args, accuracy_mode)
    print(section)
    write_section("spark-accuracy" if accuracy_mode else "spark", section)


if __name__ == "__main__":
    main()
