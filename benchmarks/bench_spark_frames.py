"""Training from a DataFrame (parquet, rows turned into minibatches on the executors) against training from numpy
arrays (minibatches built by the driver and shipped once), both on Spark local[2], the same network, data, seed and
averaging; runs alternate (numpy, parquet, numpy, parquet, ...) and each figure is the median over them.

Run: .venv/bin/python -m benchmarks.bench_spark_frames [--quick]
     .venv/bin/python -m benchmarks.bench_spark_frames --big   (4 GB of parquet through a small driver)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .common import write_section

AVERAGING = 40
MODELS = {"mlp": dict(hidden=(256, 128)), "lenet": {}}


def _frame(session, x, y):
    """The arrays as a Java DataFrame (built in the driver: benchmark set-up, not what users do)."""
    import jpype

    from bridge.jvm import jclass

    types = jclass("org.apache.spark.sql.types.DataTypes")
    rows, row = jclass("java.util.ArrayList")(), jclass("org.apache.spark.sql.RowFactory")
    floats = jpype.JArray(jpype.JFloat)
    for xi, yi in zip(x.reshape(len(x), -1), y):
        rows.add(row.create(floats(xi), jpype.JInt(int(yi))))
    schema = types.createStructType(
        [
            types.createStructField("features", types.createArrayType(types.FloatType, False), False),
            types.createStructField("label", types.IntegerType, False),
        ]
    )
    return session.sql.createDataFrame(rows, schema)


def _fit(model: str, data, session, epochs: int, seed: int = 7):
    import bridge
    from bridge import nets

    net = getattr(nets, model)(seed=seed, **MODELS[model])
    x, y = data
    start = time.perf_counter()
    history = bridge.fit(
        net, x, y, epochs=epochs, batch_size=32, seed=seed, verbose=0, spark=session, averaging_frequency=AVERAGING
    )
    return history, time.perf_counter() - start, net


def run(quick: bool) -> str:
    import bridge
    from bridge import data, spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # Spark's host name on loopback, as its driver
    bridge.start_jvm()
    x, y, xt, yt = data.load("fashion-mnist")
    n, repeats, epochs = (5000, 2, 2) if quick else (20000, 3, 3)
    x, y = x[:n], y[:n]
    rows = []
    with spark.session("local[2]") as session, tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "fashion.parquet")
        _frame(session, x, y).write().parquet(path)
        frame = session.read_parquet(path)
        for model in MODELS:
            runs = {"numpy": [], "parquet": []}
            for _ in range(repeats):
                for mode in runs:
                    source = (x, y) if mode == "numpy" else (frame, None)
                    history, wall, net = _fit(model, source, session, epochs)
                    runs[mode].append((history, wall, bridge.evaluate(net, xt, yt).accuracy))
                    print(f"{model} {mode}: {[round(h.samples_per_sec) for h in history]} samples/s", flush=True)
            rows.append(_row(model, runs))
    table = "\n".join(rows)
    load = os.getloadavg()[1]
    return f"""## Spark: training from a DataFrame (parquet) vs numpy, local[2]

Command: `.venv/bin/python -m benchmarks.bench_spark_frames{" --quick" if quick else ""}`. Fashion-MNIST, the first
{n:,} training images, {epochs} epochs, batch 32 per worker, averaging every {AVERAGING} minibatches, Spark local[2];
numpy: bridge.fit(net, x, y, spark=...) (minibatches built by the driver, shipped once, cached on the executors);
parquet: bridge.fit(net, df) on the same images read back from parquet (rows spread over round-sized partitions by
one shuffle, turned into minibatches on the executors every epoch). {repeats} alternating runs of each; medians
(min-max). Epoch 1 includes shipping the data (numpy: parallelize and shuffle; parquet: reading the files and the
shuffle); later epochs are steady state. The machine is shared (load average {load:.1f} on its {os.cpu_count()} cores at the
end of the run): compare within a row.

| model | numpy epoch 1 | parquet epoch 1 | numpy later epochs | parquet later epochs | parquet / numpy (later) | test accuracy numpy / parquet |
| --- | --- | --- | --- | --- | --- | --- |
{table}
"""


def _row(model: str, runs: dict) -> str:
    def rates(mode, first):
        values = [
            h[0].samples_per_sec if first else statistics.mean(e.samples_per_sec for e in h[1:])
            for h, _, _ in runs[mode]
        ]
        return statistics.median(values), min(values), max(values)

    def cell(stats):
        return f"{stats[0]:,.0f} ({stats[1]:,.0f}-{stats[2]:,.0f})"

    numpy_later, parquet_later = rates("numpy", False), rates("parquet", False)
    accuracy = {mode: statistics.median(a for _, _, a in runs[mode]) for mode in runs}
    return (
        f"| {model} | {cell(rates('numpy', True))} | {cell(rates('parquet', True))} | {cell(numpy_later)} | "
        f"{cell(parquet_later)} | {parquet_later[0] / numpy_later[0]:.2f}x | "
        f"{accuracy['numpy']:.4f} / {accuracy['parquet']:.4f} |"
    )


BIG_SCRIPT = """
import json, resource, sys, time
import bridge
from bridge import nets, spark
bridge.start_jvm(heap="{heap}", off_heap="{off_heap}", max_physical="4g")
with spark.session("local[2]") as s:
    net = nets.mlp(n_in=392, hidden=(32,), seed=1)
    start = time.perf_counter()
    history = bridge.fit(net, s.read_parquet(sys.argv[1]), epochs=1, batch_size=128, averaging_frequency=20, verbose=0)
    wall = time.perf_counter() - start
    pools = bridge.jvm.jclass("java.lang.management.ManagementFactory").getMemoryPoolMXBeans()
    heap = max(p.getPeakUsage().getUsed() for p in pools if "Old Gen" in str(p.getName()))
    runtime = bridge.jvm.jclass("java.lang.Runtime").getRuntime()
    bridge.jvm.jclass("java.lang.System").gc()
    live = runtime.totalMemory() - runtime.freeMemory()
    print(json.dumps({{"rows": history.params["samples"], "epoch_s": history[0].seconds, "wall_s": wall,
                      "samples_per_s": history[0].samples_per_sec, "old_gen_peak_mb": heap / 2**20, "live_after_mb": live / 2**20,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_big(gigabytes: float = 4.0, heap: str = "512m", off_heap: str = "128m") -> str:
    """An epoch from `gigabytes` of parquet (written by Spark on the executors) in a driver capped at heap/off_heap."""
    import json
    import subprocess

    import bridge
    from bridge import spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    bridge.start_jvm()
    rows = int(gigabytes * 2**30 / 3170)  # array<double>[392] and an int label: 3,170 bytes a row in parquet
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.parquet"
        start = time.perf_counter()
        with spark.session("local[2]") as session:
            writer = (
                session.sql.range(0, rows, 1, 16)
                .selectExpr("array_repeat(rand(11), 392) AS features", "CAST(pmod(hash(id), 10) AS INT) AS label")
                .write()
                .option("compression", "none")
                .option("parquet.enable.dictionary", "false")
                .option("parquet.block.size", str(32 << 20))
            )
            writer.parquet(str(path))
        written = time.perf_counter() - start
        size = sum(f.stat().st_size for f in path.glob("*.parquet"))
        script = Path(tmp) / "big.py"
        script.write_text(BIG_SCRIPT.format(heap=heap, off_heap=off_heap))
        run = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=True)
        result = json.loads(run.stdout.strip().splitlines()[-1])
    print(result, flush=True)
    return f"""## Spark: an epoch from {size / 2**30:.1f} GiB of parquet in a small driver

Command: `.venv/bin/python -m benchmarks.bench_spark_frames --big`. {result["rows"]:,} rows of array<double>[392]
plus an int label, {size / 2**30:.2f} GiB of parquet (uncompressed, 32 MB row groups) written by Spark itself in
{written:.0f} s; then a fresh process with the driver capped at {heap} heap and {off_heap} of ND4J off-heap
(`bridge.start_jvm(heap=..., off_heap=...)`) trains an MLP (392-32-10) for one epoch on local[2] (whose executors
share the driver's JVM), batch 128 per worker, averaging every 20 minibatches.

| epoch | samples/s | heap: old generation at its peak / live after a full GC | driver process's peak RSS | rows through the driver |
| --- | --- | --- | --- | --- |
| {result["epoch_s"]:.0f} s | {result["samples_per_s"]:,.0f} | {result["old_gen_peak_mb"]:.0f} MB / {result["live_after_mb"]:.0f} MB of {heap} | {result["peak_rss_mb"]:.0f} MB | none |

(G1 lets the old generation fill with garbage before it collects it: its peak is not what the run kept alive.)
"""


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if "--big" in args:
        section = run_big()
        print(section)
        write_section("spark-frames-big", section)
        return
    section = run("--quick" in args)
    print(section)
    write_section("spark-frames", section)


if __name__ == "__main__":
    main()
