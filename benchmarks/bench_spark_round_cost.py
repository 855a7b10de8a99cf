"""Spark local[2]: a parameter-averaging round's fixed cost, DL4J's round against the bridge's (SparkOptions.fast_rounds),
and the averaging frequency chosen by measurement against local training.

`cost`: LeNet and resnet_small, N Fashion-MNIST images, 16 per worker a minibatch, 2 epochs averaged every F_LO and
every F_HI minibatches with each round (interleaved, REPEATS times, one process and one Spark session): a round's
fixed cost is (t_lo - t_hi) / (rounds_lo - rounds_hi) over the second epochs' seconds (medians), with DL4J's training
stats per round at F_LO (broadcast, the round's job, averaging on the driver).

`choice`: each model trained locally (batch 32) and on local[2] (16 per worker: the same 32 images a step) at each
candidate frequency, 2 epochs, test accuracy on the first TEST test images and the second epoch's samples/s. The
condition: accuracy within 1 point of local training and samples/s >= 0.9x local.

Run: nice -n 5 .venv/bin/python -m benchmarks.bench_spark_round_cost [cost] [choice] [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time

from .common import machine, write_section

MODELS = ("lenet", "resnet_small")
F_LO, F_HI = 2, 32
BATCH = 16  # per worker; local training takes 32, the same images a step
REPEATS = 3
PATHS = {"DL4J's round": {"fast_rounds": False}, "bridge's round": {"fast_rounds": True}}
CANDIDATES = (5, 10, 20, 40)
TEST = 5000
STATS = (  # DL4J's training stat -> what it measures, per round
    ("ParameterAveragingMasterBroadcastCreateTimesMs", "broadcast"),
    ("ParameterAveragingMasterAggregateTimesMs", "round's job (workers' minibatches, results back, sum)"),
    ("ParameterAveragingMasterProcessParamsUpdaterTimesMs", "averaging into the driver's network"),
)


def _data(n: int):
    from bridge import data

    x, y, xt, yt = data.load("fashion-mnist")
    return x[:n].reshape(-1, 1, 28, 28), y[:n], xt[:TEST].reshape(-1, 1, 28, 28), yt[:TEST]


def _fit(net, x, y, session, frequency, **options):
    import bridge

    start = time.perf_counter()
    history = bridge.fit(
        net,
        x,
        y,
        epochs=2,
        batch_size=BATCH,
        seed=7,
        progress=False,
        spark=session,
        averaging_frequency=frequency,
        **options,
    )
    return history, time.perf_counter() - start


def cost(n: int, repeats: int) -> str:
    from bridge import nets, spark

    x, y, _, _ = _data(n)
    per_worker = n // BATCH // 2
    rounds = {f: -(-per_worker // f) for f in (F_LO, F_HI)}
    seconds = {}  # (model, path, frequency) -> second epochs' seconds
    stats = {}  # (model, path) -> {stat: ms per round} at F_LO
    with spark.session("local[2]") as session:
        for model in MODELS:
            for _ in range(repeats):
                for path, options in PATHS.items():
                    for f in (F_LO, F_HI):
                        history, _ = _fit(getattr(nets, model)(seed=7), x, y, session, f, **options)
                        seconds.setdefault((model, path, f), []).append(history[-1].seconds)
                        if f == F_LO:
                            t = session.last_timings
                            stats[(model, path)] = {
                                k: t[k]["total_ms"] / max(1, t[k]["events"]) for k, _ in STATS if k in t
                            }
                        print(model, path, f, f"{history[-1].seconds:.2f} s", flush=True)
    rows, breakdown = [], []
    per_round = {}
    for model in MODELS:
        for path in PATHS:
            lo = statistics.median(seconds[(model, path, F_LO)])
            hi = statistics.median(seconds[(model, path, F_HI)])
            per_round[(model, path)] = (lo - hi) / (rounds[F_LO] - rounds[F_HI])
            rows.append(
                f"| {model} | {path} | {lo:.2f} s | {hi:.2f} s | **{per_round[(model, path)] * 1000:.0f} ms** |"
            )
            s = stats[(model, path)]
            breakdown.append(f"| {model} | {path} | " + " | ".join(f"{s.get(k, 0):.0f}" for k, _ in STATS) + " |")
        before, after = per_round[(model, "DL4J's round")], per_round[(model, "bridge's round")]
        rows.append(f"| {model} | after / before | | | **{after / before:.2f}x** |")
    return f"""## Spark local[2]: a round's fixed cost, DL4J's round vs the bridge's

Command: `nice -n 5 .venv/bin/python -m benchmarks.bench_spark_round_cost cost{" --quick" if n < 2048 else ""}`.
{machine()}, shared with other jobs (load 3-5): every number below is from one process and one Spark session,
both rounds interleaved, medians of {repeats}. LeNet and `resnet_small`, {n} Fashion-MNIST images, {BATCH} per worker a
minibatch ({per_worker} minibatches per worker an epoch), 2 epochs averaged every {F_LO} ({rounds[F_LO]} rounds an
epoch) and every {F_HI} ({rounds[F_HI]} rounds); a round's fixed cost = (t_{F_LO} - t_{F_HI}) / ({rounds[F_LO]} -
{rounds[F_HI]}) over the second epoch's seconds. DL4J's round: `fast_rounds=False` (ParameterAveragingTrainingMaster's
own). The bridge's: `fast_rounds=True` (the default; `ai.dl4jbridge.spark.AveragingRounds`).

| model | round | epoch, every {F_LO} | epoch, every {F_HI} | fixed cost per round |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

DL4J's training stats per round (ms, every {F_LO}, last repeat; the job includes the workers' {F_LO} minibatches):

| model | round | {" | ".join(label for _, label in STATS)} |
| --- | --- | {" | ".join("---" for _ in STATS)} |
{chr(10).join(breakdown)}
"""


def choice(n: int) -> str:
    import bridge
    from bridge import nets, spark

    x, y, xt, yt = _data(n)
    lines = []
    with spark.session("local[2]") as session:
        for model in MODELS:
            net = getattr(nets, model)(seed=7)
            history = bridge.fit(net, x, y, epochs=2, batch_size=2 * BATCH, seed=7, progress=False)
            local_acc, local_rate = bridge.evaluate(net, xt, yt).accuracy, history[-1].samples_per_sec
            print(model, "local", f"{local_acc:.4f}", f"{local_rate:.0f}", flush=True)
            lines.append(f"| {model} | local (batch {2 * BATCH}) | {local_acc:.4f} | | {local_rate:.0f} | |")
            for f in CANDIDATES:
                net = getattr(nets, model)(seed=7)
                history, _ = _fit(net, x, y, session, f)
                acc, rate = bridge.evaluate(net, xt, yt).accuracy, history[-1].samples_per_sec
                ok = (local_acc - acc) <= 0.01 and rate >= 0.9 * local_rate
                print(model, f, f"{acc:.4f}", f"{rate:.0f}", flush=True)
                lines.append(
                    f"| {model} | every {f} | {acc:.4f} | {(acc - local_acc) * 100:+.2f} | {rate:.0f} | "
                    f"{rate / local_rate:.2f}x{' (meets both)' if ok else ''} |"
                )
    return f"""## Spark local[2]: the averaging frequency, chosen by measurement

Command: `nice -n 5 .venv/bin/python -m benchmarks.bench_spark_round_cost choice{" --quick" if n < 8192 else ""}`.
{machine()}, shared (load 3-5), one process and one Spark session. {n} Fashion-MNIST training images, 2 epochs, seed 7,
local training at batch {2 * BATCH} and Spark local[2] at {BATCH} per worker (the same {2 * BATCH} images a step), the
bridge's round (`fast_rounds=True`); test accuracy on the first {TEST} test images, samples/s of the second epoch.
The condition: within 1 point of local accuracy and >= 0.9x local samples/s.

| model | training | test accuracy | vs local (points) | samples/s | vs local |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(lines)}
"""


def main(argv=None) -> None:
    import bridge

    args = argv if argv is not None else sys.argv[1:]
    quick = "--quick" in args
    parts = [a for a in args if not a.startswith("--")] or ["cost", "choice"]
    bridge.start_jvm()
    if "cost" in parts:
        section = cost(1024 if quick else 2048, 1 if quick else REPEATS)
        print(section)
        write_section("spark-round-cost", section)
    if "choice" in parts:
        section = choice(2048 if quick else 8192)
        print(section)
        write_section("spark-averaging", section)


if __name__ == "__main__":
    main()
