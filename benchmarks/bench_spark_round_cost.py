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

import os
import sys
import time

from .common import machine, write_section

MODELS = ("lenet", "resnet_small")
F_LO, F_HI = 1, 32
BATCH = 16  # per worker; local training takes 32, the same images a step
EPOCHS = 4  # per fit: the fastest of epochs 2-4 (the first also warms up), the fastest over the repeats
REPEATS = 2
HANDOFF = "dl4jbridge.spark.localHandoff"  # the bridge's round on local[N]: state and results by reference
PATHS = {  # name -> (SparkOptions fields, local handoff)
    "DL4J's round": ({"fast_rounds": False}, True),
    "bridge's, new network every round, serialized": ({"keep_worker_networks": False}, False),
    "bridge's, serialized (as on a cluster)": ({}, False),
    "bridge's (default)": ({}, True),
}
BEFORE, AFTER = "DL4J's round", "bridge's (default)"
CANDIDATES = (10, 20, 40)
TEST = 5000
STATS = (  # DL4J's training stat -> what it measures, per round
    ("ParameterAveragingMasterBroadcastCreateTimesMs", "state out (broadcast)"),
    ("ParameterAveragingMasterAggregateTimesMs", "round's job (results back, summed)"),
    ("ParameterAveragingMasterProcessParamsUpdaterTimesMs", "averaging on the driver"),
    ("WorkerFlatMapTotalTimeMs", "a worker's task"),
    ("WorkerFlatMapGetInitialModelTimeMs", "its network ready"),
    ("ParameterAveragingWorkerFitTimesMs", "a minibatch's fit"),
)


def _data(n: int):
    from bridge import data

    x, y, xt, yt = data.load("fashion-mnist")
    return x[:n].reshape(-1, 1, 28, 28), y[:n], xt[:TEST].reshape(-1, 1, 28, 28), yt[:TEST]


def _fit(net, x, y, session, frequency, epochs=2, **options):
    import bridge

    start = time.perf_counter()
    history = bridge.fit(
        net,
        x,
        y,
        epochs=epochs,
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
    from bridge.jvm import jclass

    system = jclass("java.lang.System")
    x, y, _, _ = _data(n)
    per_worker = n // BATCH // 2
    rounds = {f: -(-per_worker // f) for f in (F_LO, F_HI)}
    seconds = {}  # (model, path, frequency) -> the epochs' seconds after the first
    stats = {}  # (model, path) -> {stat: ms per round} at F_LO
    direct = {}  # (model, path) -> [ms per round beyond the workers' minibatches, per fit] at F_LO
    with spark.session("local[2]") as session:
        for model in MODELS:
            for _ in range(repeats):
                for path, (options, handoff) in PATHS.items():
                    system.setProperty(HANDOFF, str(handoff).lower())
                    for f in (F_LO, F_HI):
                        history, _ = _fit(getattr(nets, model)(seed=7), x, y, session, f, EPOCHS, **options)
                        seconds.setdefault((model, path, f), []).extend(h.seconds for h in history[1:])
                        if f == F_LO:
                            t = session.last_timings
                            stats[(model, path)] = {
                                k: t[k]["total_ms"] / max(1, t[k]["events"]) for k, _ in STATS if k in t
                            }
                            direct.setdefault((model, path), []).append(_direct(t))
                        print(model, path, f, [f"{h.seconds:.2f}" for h in history], flush=True)
            system.clearProperty(HANDOFF)
    rows, breakdown = [], []
    per_round = {}
    for model in MODELS:
        for path in PATHS:
            lo = min(seconds[(model, path, F_LO)])
            hi = min(seconds[(model, path, F_HI)])
            per_round[(model, path)] = (lo - hi) / (rounds[F_LO] - rounds[F_HI])
            rows.append(
                f"| {model} | {path} | {lo:.2f} s | {hi:.2f} s | **{per_round[(model, path)] * 1000:.0f} ms** | "
                f"{min(direct[(model, path)]):.0f} ms |"
            )
            s = stats[(model, path)]
            breakdown.append(f"| {model} | {path} | " + " | ".join(f"{s.get(k, 0):.0f}" for k, _ in STATS) + " |")
        before, after = per_round[(model, BEFORE)], per_round[(model, AFTER)]
        ratio = min(direct[(model, AFTER)]) / min(direct[(model, BEFORE)])
        rows.append(f"| {model} | {AFTER} / {BEFORE} | | | **{after / before:.2f}x** | **{ratio:.2f}x** |")
    return f"""## Spark local[2]: a round's fixed cost, DL4J's round vs the bridge's

Command: `nice -n 5 .venv/bin/python -m benchmarks.bench_spark_round_cost cost{" --quick" if repeats < REPEATS else ""}`.
{machine()}, shared with other jobs (load 3-6): every number below is from one process and one Spark session, the
rounds interleaved. LeNet and `resnet_small`, {n} Fashion-MNIST images, {BATCH} per worker a minibatch ({per_worker}
minibatches per worker an epoch), {EPOCHS} epochs averaged every {F_LO} ({rounds[F_LO]} rounds an epoch) and every
{F_HI} ({rounds[F_HI]} round); an epoch's time is the fastest of epochs 2-{EPOCHS} over {repeats} fits (the fastest:
on a shared machine the other jobs only ever add time), and a round's fixed cost = (t_{F_LO} - t_{F_HI}) /
({rounds[F_LO]} - {rounds[F_HI]}). DL4J's round: `fast_rounds=False` (ParameterAveragingTrainingMaster's own). The
bridge's (`ai.dl4jbridge.spark.AveragingRounds`): `fast_rounds=True`, the default, with each part turned back in
turn: workers building a new network every round (`keep_worker_networks=False`), and the round's state and results
broadcast and serialized as on a cluster instead of handed over by reference on local[N]
(`-Ddl4jbridge.spark.localHandoff=false`). "Direct": the same cost measured inside the rounds, less exposed to the
other jobs: a round's time on the driver (DL4J's `ParameterAveragingMasterMapPartitionsTimesMs`: state out, the job,
averaging) less its workers' minibatch time (the workers' mean minibatch time: they train side by side), per round
averaged every {F_LO}, the lowest over the fits.

| model | round | epoch, every {F_LO} | epoch, every {F_HI} | fixed cost per round | direct, per round |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

The epoch-time difference shows a round's cost only where it stands out of the epochs' noise; the direct column
is less exposed to the other jobs (an earlier run at load 4-6 put resnet_small's epoch difference at 22 ms, below its
own direct 73 ms). LeNet: 431 k parameters, 5.2 MB of parameters and Adam moments each way; resnet_small: 87 k, 1 MB.

Where a round's time goes (ms per round averaged every {F_LO}, last fit; DL4J's training stats on both paths, the
bridge's workers reporting under DL4J's names; the round's job includes the workers' minibatch):

| model | round | {" | ".join(label for _, label in STATS)} |
| --- | --- | {" | ".join("---" for _ in STATS)} |
{chr(10).join(breakdown)}
"""


def _direct(timings) -> float:
    """ms per round beyond the workers' minibatches: the driver's mean round time less a minibatch's mean time times
    F_LO (each worker's minibatches a round, the two workers side by side). DL4J's workers report
    WorkerFlatMapProcessMiniBatchTimesMs per minibatch (its nested stats repeat events: only the mean is used); the
    bridge's report ParameterAveragingWorkerFitTimesMs."""
    rounds = timings["ParameterAveragingMasterMapPartitionsTimesMs"]
    key = "WorkerFlatMapProcessMiniBatchTimesMs"
    fit = timings[key] if key in timings else timings["ParameterAveragingWorkerFitTimesMs"]
    return rounds["total_ms"] / rounds["events"] - F_LO * fit["total_ms"] / fit["events"]


def _local(model, x, y, xt, yt):
    """(test accuracy, second epoch's samples/s) of local training at batch 2 x BATCH."""
    import bridge
    from bridge import nets

    net = getattr(nets, model)(seed=7)
    history = bridge.fit(net, x, y, epochs=2, batch_size=2 * BATCH, seed=7, progress=False)
    accuracy, rate = bridge.evaluate(net, xt, yt).accuracy, history[-1].samples_per_sec
    print(model, "local", f"{accuracy:.4f}", f"{rate:.0f}", flush=True)
    return accuracy, rate


def choice(n: int) -> str:
    import bridge
    from bridge import nets, spark

    x, y, xt, yt = _data(n)
    lines = []
    load_before = os.getloadavg()[0]
    with spark.session("local[2]") as session:
        for model in MODELS:
            local_acc, first = _local(model, x, y, xt, yt)
            spark_rows = []
            for f in CANDIDATES:
                net = getattr(nets, model)(seed=7)
                history, _ = _fit(net, x, y, session, f)
                acc, rate = bridge.evaluate(net, xt, yt).accuracy, history[-1].samples_per_sec
                print(model, f, f"{acc:.4f}", f"{rate:.0f}", flush=True)
                spark_rows.append((f, acc, rate))
            _, last = _local(model, x, y, xt, yt)  # again after the Spark runs: the load moves in minutes
            local_rate = max(first, last)
            lines.append(
                f"| {model} | local (batch {2 * BATCH}) | {local_acc:.4f} | | {local_rate:.0f} "
                f"({first:.0f} before, {last:.0f} after) | |"
            )
            for f, acc, rate in spark_rows:
                ok = (local_acc - acc) <= 0.01 and rate >= 0.9 * local_rate
                lines.append(
                    f"| {model} | every {f} | {acc:.4f} | {(acc - local_acc) * 100:+.2f} | {rate:.0f} | "
                    f"{rate / local_rate:.2f}x{' (meets both)' if ok else ''} |"
                )
    return f"""## Spark local[2]: the averaging frequency, chosen by measurement

Command: `nice -n 5 .venv/bin/python -m benchmarks.bench_spark_round_cost choice{" --quick" if n < 8192 else ""}`.
{machine()}, the machine's load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after it, one process
and one Spark session. {n} Fashion-MNIST training images, 2 epochs, seed 7,
local training at batch {2 * BATCH} and Spark local[2] at {BATCH} per worker (the same {2 * BATCH} images a step), the
bridge's round (`fast_rounds=True`); test accuracy on the first {TEST} test images, samples/s of the second epoch
(local training runs before and after the Spark runs; the faster of the two is the reference: the other jobs on the
machine only ever slow a run down). The condition: within 1 point of local accuracy and >= 0.9x local samples/s.

| model | training | test accuracy | vs local (points) | samples/s | vs local |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(lines)}

The default (`SparkOptions.averaging_frequency`) is the largest candidate within a point of local accuracy for every
model. Local training's kernels use both cores, the workers' one each: on a loaded machine the local runs wait at
their threads' barriers and lose more than the workers (runs at load 4-5 put Spark at 1.1-3x local), so compare
samples/s from quiet runs only.
"""


def main(argv=None) -> None:
    import bridge

    args = argv if argv is not None else sys.argv[1:]
    quick = "--quick" in args
    parts = [a for a in args if not a.startswith("--")] or ["cost", "choice"]
    bridge.start_jvm()
    if "cost" in parts:
        section = cost(1024, 1 if quick else REPEATS)
        print(section)
        write_section("spark-round-cost", section)
    if "choice" in parts:
        section = choice(2048 if quick else 8192)
        print(section)
        write_section("spark-averaging", section)


if __name__ == "__main__":
    main()
