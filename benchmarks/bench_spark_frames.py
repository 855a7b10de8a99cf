"""Training from a DataFrame (parquet, rows turned into minibatches on the executors) against training from numpy
arrays (minibatches built by the driver and shipped once), both on Spark local[2], the same network, data, seed and
averaging; runs alternate (numpy, parquet, numpy, parquet, ...) and each figure is the median over them.

Run: .venv/bin/python -m benchmarks.bench_spark_frames [--quick]
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
    return f"""## Spark: training from a DataFrame (parquet) vs numpy, local[2]

Command: `.venv/bin/python -m benchmarks.bench_spark_frames{" --quick" if quick else ""}`. Fashion-MNIST, the first
{n:,} training images, {epochs} epochs, batch 32 per worker, averaging every {AVERAGING} minibatches, Spark local[2];
numpy: bridge.fit(net, x, y, spark=...) (minibatches built by the driver, shipped once, cached on the executors);
parquet: bridge.fit(net, df) on the same images read back from parquet (rows spread over round-sized partitions by
one shuffle, turned into minibatches on the executors every epoch). {repeats} alternating runs of each; medians
(min-max). Epoch 1 includes shipping the data (numpy: parallelize and shuffle; parquet: reading the files and the
shuffle); later epochs are steady state. The machine is shared: compare within a row.

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


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    section = run("--quick" in args)
    print(section)
    write_section("spark-frames", section)


if __name__ == "__main__":
    main()
