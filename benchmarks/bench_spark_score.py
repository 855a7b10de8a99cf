"""Scoring a DataFrame on Spark local[2] (bridge.spark.score: ONNX Runtime Java on the executors, mini-batches per
partition) against bridge.OnnxModel (Python ONNX Runtime, CPU) in this one process: the same rows, the same model
file, measured in the same run; the SQL function (one row per call) beside them.

Run: .venv/bin/python -m benchmarks.bench_spark_score [--quick] [--no-write]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from .common import Timing, measure, write_section

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"


def _digits(rows: int) -> np.ndarray:
    digits = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 784).astype(np.float32) / 255
    return np.tile(digits, (-(-rows // 1000), 1))[:rows]


def _noop(df) -> None:
    """Every row computed and dropped: Spark's noop sink, no collect."""
    df.write().format("noop").mode("overwrite").save()


def _interleaved(first, second, repeats: int) -> tuple[Timing, Timing, float]:
    """Both timed in turns (first, second, first, ...) after a warm-up of each: the machine's load drifts, so the
    ratio is the median of each turn's second/first speed ratio, not a ratio of medians taken minutes apart."""
    first(), second()
    a, b = [], []
    for _ in range(repeats):
        for call, samples in ((first, a), (second, b)):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    ratio = statistics.median(x / y for x, y in zip(a, b))
    return (
        Timing(statistics.median(a), min(a), max(a)),
        Timing(statistics.median(b), min(b), max(b)),
        ratio,
    )


def run(quick: bool) -> str:
    import bridge
    from bridge import spark
    from bridge.spark.arrays import sql_session

    rows, udf_rows, repeats = (10_000, 1_000, 3) if quick else (60_000, 5_000, 5)
    x = _digits(rows)
    lines = []
    with spark.session("local[2]") as session:
        data = spark.dataframe(session, x, partitions=4).cache()
        data.count()  # cached in memory: the timings are scoring, not building rows from numpy
        few = spark.dataframe(session, x[:udf_rows], partitions=2).cache()
        few.count()
        few.createOrReplaceTempView("digits")
        sql = sql_session(session)
        for model in ("mlp", "lenet"):
            path = VECTORS / model / "model.onnx"
            python = bridge.OnnxModel(path, providers="cpu")
            scored = spark.score(path, data, batch_size=256)
            python_time, spark_time, ratio = _interleaved(lambda: python.predict(x), lambda: _noop(scored), repeats)  # noqa: B023
            diff = float(np.abs(spark.to_numpy(scored, "probabilities") - python.predict(x)).max())
            spark.register_udf(path, session, name=f"{model}_predict")
            query = sql.sql(f"SELECT {model}_predict(features) AS p FROM digits")
            udf_time = measure(lambda: _noop(query), repeats=max(1, repeats - 2), warmup=1)  # noqa: B023
            lines.append(
                f"| {model} | {rows:,} | {rows / python_time.median:,.0f} | {rows / spark_time.median:,.0f} | "
                f"{ratio:.2f}x | {udf_rows / udf_time.median:,.0f} | {diff:.1e} |"
            )
    table = "\n".join(lines)
    return f"""## Scoring DataFrames on Spark

Command: `.venv/bin/python -m benchmarks.bench_spark_score{" --quick" if quick else ""}`. The shared-vector models
(models/vectors), real MNIST digits tiled to {rows:,} rows. `bridge.OnnxModel`: Python ONNX Runtime (CPU, its
default threads: all cores) on the whole array in one process. `spark.score`: Spark local[2] in the same process,
the rows cached as a DataFrame of 4 partitions, ONNX Runtime Java on the executor threads (one intra-op thread per
task: spark.task.cpus), mini-batches of 256, every row computed into Spark's noop sink. SQL UDF: the registered
function over the first {udf_rows:,} rows (cached, 2 partitions), one row per call. OnnxModel and spark.score run in turns, {repeats} each after
a warm-up: rows/s are medians, the ratio the median over turns of OnnxModel's time over Spark's (1.0x: as fast; the
2 cores are shared, so the turns' ratios are what compares). SQL UDF: medians of {max(1, repeats - 2)} runs. Max diff:
the largest difference between the two sets of probabilities.

| model | rows | OnnxModel rows/s | spark.score local[2] rows/s | vs OnnxModel | SQL UDF rows/s | max diff |
| --- | --- | --- | --- | --- | --- | --- |
{table}
"""


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    section = run("--quick" in args)
    print(section)
    if "--no-write" not in args:
        write_section("spark-score", section)


if __name__ == "__main__":
    main()
