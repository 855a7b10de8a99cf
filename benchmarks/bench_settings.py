"""Which build and thread settings train LeNet fastest on this machine: DL4J's training step under each setting,
in fresh processes that alternate, so that a drifting machine hits every setting alike.

Run: .venv/bin/python -m benchmarks.bench_settings [--rounds R] [--quick]
A setting is an environment (read before the JVM starts) or a DL4J switch applied to the built network. The step is
bridge.fit's step (Networks.fitBatch: DL4J's fit with dl4j-bridge's helpers) on one real minibatch of 64 Fashion-MNIST images (40 different ones, cycled), mean and median
over 160 steps after 80 warm-up steps; the setting's figure is the median over its rounds. The mean is what an
epoch sees: slow steps (a competing thread, say) move it and barely the median.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from .common import machine, write_section

BATCH = 64
# (label, environment, DL4J switch). The first row is dl4j-bridge's default and the reference.
SETTINGS = [
    ("default (onednn-avx2 build, OMP_NUM_THREADS=2, GOMP_SPINCOUNT=20000, OPENBLAS_THREAD_TIMEOUT=4)", {}, None),
    (
        "OpenBLAS's own idle wait (OPENBLAS_THREAD_TIMEOUT=28, before dl4j-bridge set it)",
        {"OPENBLAS_THREAD_TIMEOUT": "28"},
        None,
    ),
    (
        "DL4J's own input-convolution backprop (DL4J_BRIDGE_INPUT_CONV_GRADIENTS=dl4j)",
        {"DL4J_BRIDGE_INPUT_CONV_GRADIENTS": "dl4j"},
        None,
    ),
    (
        "HotSpot's C2 compiler too (JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=4)",
        {"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=4"},
        None,
    ),
    ("libgomp's own spinning (GOMP_SPINCOUNT=300000, before dl4j-bridge set it)", {"GOMP_SPINCOUNT": "300000"}, None),
    ("GOMP_SPINCOUNT=1000", {"GOMP_SPINCOUNT": "1000"}, None),
    ("GOMP_SPINCOUNT=100000", {"GOMP_SPINCOUNT": "100000"}, None),
    ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"}, None),
    ("OpenBLAS single-threaded (OPENBLAS_NUM_THREADS=1)", {"OPENBLAS_NUM_THREADS": "1"}, None),
    ("OpenMP threads sleep when idle (OMP_WAIT_POLICY=passive)", {"OMP_WAIT_POLICY": "passive"}, None),
    ("onednn-avx512 build (AVX-512 CPUs)", {"BENCH_ND4J_BUILD": "onednn-avx512"}, None),
    ("DL4J cache mode DEVICE (no forward recomputed in backprop)", {}, "cache-device"),
]


def _start_jvm() -> None:
    """The JVM with the build the setting names (its jar from the local Maven repository), else the default."""
    import bridge

    build = os.environ.get("BENCH_ND4J_BUILD")
    if not build:
        bridge.start_jvm()
        return
    from bridge.jvm import classpath

    default_jar = next(e for e in classpath() if e.endswith("-onednn-avx2.jar"))
    jar = default_jar.replace("-onednn-avx2.jar", f"-{build}.jar")
    if not os.path.exists(jar):
        raise SystemExit(f"not measured: {os.path.basename(jar)} is not in the local Maven repository")
    bridge.start_jvm(extra_classpath=[jar], extra_flags=[f"-Dorg.bytedeco.javacpp.platform.extension=-{build}"])


def worker(switch: str | None) -> None:
    import numpy as np

    import bridge
    from bridge import data, nets
    from bridge.jvm import jclass

    _start_jvm()
    x, y, _, _ = data.load("fashion-mnist")
    net = nets.lenet(seed=1).java
    if switch == "cache-device":
        mode = jclass("org.deeplearning4j.nn.conf.CacheMode").DEVICE
        net.getLayerWiseConfigurations().setCacheMode(mode)
        net.setCacheMode(mode)
    import jpype

    arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))
    fit_batch = jclass("ai.dl4jbridge.train.Networks").fitBatch  # bridge.fit's step: DL4J's fit and our helpers
    minibatches = [
        (
            arrays([bridge.to_indarray(x[s : s + BATCH].reshape(BATCH, 1, 28, 28))]),
            arrays([bridge.to_indarray(np.eye(10, dtype=np.float32)[y[s : s + BATCH]])]),
        )
        for s in range(0, 40 * BATCH, BATCH)
    ]
    for features, labels in minibatches * 2:
        fit_batch(net, features, labels)
    steps = []
    for features, labels in minibatches * 4:
        start = time.perf_counter()
        fit_batch(net, features, labels)
        steps.append(time.perf_counter() - start)
    libraries = sorted(
        {line.split()[-1].rsplit("/", 2)[-2] for line in open("/proc/self/maps") if "libnd4jcpu" in line}
    )
    result = {"step_ms": statistics.fmean(steps) * 1000, "median_ms": statistics.median(steps) * 1000}
    print("RESULT " + json.dumps({**result, "build": libraries}))


def _spawn(env: dict, switch: str | None) -> dict | str:
    full_env = {**os.environ, "OMP_NUM_THREADS": "2", **env}
    command = [sys.executable, "-m", "benchmarks.bench_settings", "--worker", switch or "none"]
    proc = subprocess.run(command, env=full_env, capture_output=True, text=True)
    line = next((row for row in proc.stdout.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        return (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ["no output"])[-1][:160]
    return json.loads(line[len("RESULT ") :])


def run(rounds: int) -> str:
    steps: dict[str, list[float]] = {label: [] for label, _, _ in SETTINGS}
    medians: dict[str, list[float]] = {label: [] for label, _, _ in SETTINGS}
    failed: dict[str, str] = {}
    for r in range(rounds):
        for label, env, switch in SETTINGS:
            if label in failed:
                continue
            result = _spawn(env, switch)
            if isinstance(result, str):
                failed[label] = result
                continue
            steps[label].append(result["step_ms"])
            medians[label].append(result["median_ms"])
            print(
                f"round {r + 1}: {label}: mean {result['step_ms']:.2f} ms, median {result['median_ms']:.2f} ms"
                f" ({', '.join(result['build'])})",
                flush=True,
            )
    reference = statistics.median(steps[SETTINGS[0][0]])
    rows = []
    for label, _, _ in SETTINGS:
        if label in failed:
            rows.append(f"| {label} | {failed[label]} | | | |")
            continue
        values = sorted(steps[label])
        median = statistics.median(values)
        rows.append(
            f"| {label} | {median:.2f} ({values[0]:.2f}–{values[-1]:.2f}) | {statistics.median(medians[label]):.2f}"
            f" | {reference / median:.2f}x | {len(values)} |"
        )
    table = "\n".join(rows)
    return f"""## Training settings on this machine: LeNet's step under each build and thread setting

Command: `.venv/bin/python -m benchmarks.bench_settings --rounds {rounds}` — {machine()}

dl4j-bridge's training step (`Networks.fitBatch`, DL4J's `fit` with dl4j-bridge's helpers, on a minibatch of {BATCH} Fashion-MNIST images, mean and median of 160 steps
after 80 warm-up steps), one fresh process per setting and round, the settings alternating round by round; the
table gives the median round (min–max). The mean is what an epoch sees (slow steps count in full); speed: the
default's mean step over the setting's (above 1.00x is faster).

| setting | mean step ms | median step ms | speed vs default | rounds |
| --- | --- | --- | --- | --- |
{table}
"""


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if "--worker" in args:
        switch = args[args.index("--worker") + 1]
        worker(None if switch == "none" else switch)
        return
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else (1 if "--quick" in args else 3)
    section = run(rounds)
    print(section)
    write_section("training-settings", section)


if __name__ == "__main__":
    main()
