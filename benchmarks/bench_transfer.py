"""Seed "transfer learning": LeNet pre-trained on Fashion-MNIST, its convolutional feature layers frozen and a new
head (dense 500 + softmax, fresh weights) fine-tuned on 100, 500 and 4,000 real MNIST digits, against the same
LeNet trained from scratch on the same digits, over 3 seeds; test accuracy on the 1,000 test digits.

Run: .venv/bin/python -m benchmarks.bench_transfer [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time

from .common import write_section

SIZES = (100, 500, 4000)
SEEDS = (1, 2, 3)
BATCH = 32
# Epochs per training-set size, the same for transfer and scratch: small sets get more passes. Sized so that the
# whole run stays near 10 minutes on the shared 2-core machine (measured there: 50-300 LeNet samples/s under load).
EPOCHS = {100: 20, 500: 5, 4000: 1}
PRETRAIN_IMAGES = 20000
PRETRAIN_EPOCHS = 1


def _epochs(n: int) -> int:
    return EPOCHS[n]


def run(quick: bool) -> str:
    import numpy as np

    import bridge
    from bridge import data, nets

    bridge.start_jvm()
    xf, yf, xft, yft = data.load("fashion-mnist")
    pretrain_n = 6000 if quick else PRETRAIN_IMAGES
    start = time.perf_counter()
    base = nets.lenet(seed=42)
    bridge.fit(base, xf[:pretrain_n], yf[:pretrain_n], epochs=PRETRAIN_EPOCHS, batch_size=64, seed=42, progress=False)
    pretrain_seconds = time.perf_counter() - start
    base_accuracy = bridge.evaluate(base, xft, yft).accuracy
    print(
        f"pre-trained on {pretrain_n} Fashion-MNIST images in {pretrain_seconds:.0f} s: accuracy {base_accuracy:.4f}",
        flush=True,
    )
    x, y, xt, yt = data.load("mnist")
    sizes, seeds = ((100, 500) if quick else SIZES), (SEEDS[:1] if quick else SEEDS)
    results = {}  # (n, method) -> [(accuracy, seconds)]
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(x))
        for n in sizes:
            rows = order[:n]
            for method in ("transfer", "scratch"):
                net = (
                    bridge.transfer(
                        base,
                        freeze=3,
                        remove_from=4,
                        add=[nets.Dense(500), nets.Output(10)],
                        updater=nets.Adam(1e-3),
                        seed=seed,
                    )
                    if method == "transfer"
                    else nets.lenet(seed=seed)
                )
                t0 = time.perf_counter()
                bridge.fit(net, x[rows], y[rows], epochs=_epochs(n), batch_size=BATCH, seed=seed, progress=False)
                seconds = time.perf_counter() - t0
                accuracy = bridge.evaluate(net, xt, yt).accuracy
                results.setdefault((n, method), []).append((accuracy, seconds))
                print(f"seed {seed}, n={n}, {method}: accuracy {accuracy:.4f} ({seconds:.1f} s)", flush=True)
    return _section(quick, results, sizes, seeds, pretrain_n, pretrain_seconds, base_accuracy)


def _section(quick, results, sizes, seeds, pretrain_n, pretrain_seconds, base_accuracy) -> str:
    lines = []
    for n in sizes:
        transfer = [a for a, _ in results[(n, "transfer")]]
        scratch = [a for a, _ in results[(n, "scratch")]]
        t_time = statistics.mean(s for _, s in results[(n, "transfer")])
        s_time = statistics.mean(s for _, s in results[(n, "scratch")])
        gain = (statistics.mean(transfer) - statistics.mean(scratch)) * 100
        lines.append(
            f"| {n:,} | {_epochs(n)} | {_mean_range(transfer)} | {_mean_range(scratch)} | {gain:+.1f} | "
            f"{t_time:.1f} s / {s_time:.1f} s |"
        )
    table = "\n".join(lines)
    gains = {
        n: (
            statistics.mean(a for a, _ in results[(n, "transfer")])
            - statistics.mean(a for a, _ in results[(n, "scratch")])
        )
        * 100
        for n in sizes
    }
    found = ", ".join(f"{g:+.1f} points at {n:,} digits" for n, g in gains.items())
    return f"""## Transfer learning: Fashion-MNIST features for MNIST digits

Command: `.venv/bin/python -m benchmarks.bench_transfer{" --quick" if quick else ""}`.
`bridge.nets.lenet()` pre-trained on the first {pretrain_n:,} of the 60,000 Fashion-MNIST training images for
{PRETRAIN_EPOCHS} epoch (a subset: the shared machine trains LeNet at 50-300 samples/s under load) (batch 64, {pretrain_seconds:.0f} s; Fashion-MNIST test accuracy {base_accuracy:.4f}), then
`bridge.transfer(base, freeze=3, remove_from=4, add=[nets.Dense(500), nets.Output(10)], updater=nets.Adam(1e-3))`:
both convolution/pooling pairs frozen, a new head (same shape as LeNet's, fresh weights) fine-tuned on the first n
of a seeded shuffle of the 4,000 MNIST training digits; "scratch" is `nets.lenet()` trained on the same digits
for the same epochs (batch {BATCH}, Adam 1e-3; epochs {", ".join(f"{n:,}: {e}" for n, e in EPOCHS.items())}). Test accuracy on the 1,000 MNIST test digits, mean (min-max) over seeds {", ".join(map(str, seeds))}
(the seed picks the digits and initialises the new weights). Fit times are per run, on a shared 2-core machine:
noisy.

| digits | epochs | transfer (frozen features) | from scratch | transfer - scratch (points) | fit time transfer / scratch |
| --- | --- | --- | --- | --- | --- |
{table}

What was found: transfer minus scratch, {found}{_verdict(gains)}
"""


def _verdict(gains: dict) -> str:
    if all(g < 0 for g in gains.values()):
        return (
            ": the frozen Fashion-MNIST features lose to training from scratch at every size here (clothing "
            "edges are not digit strokes, and only the head adapts), while the frozen network trains faster."
        )
    if all(g > 0 for g in gains.values()):
        return ": the frozen Fashion-MNIST features beat training from scratch at every size here."
    return ": mixed; see the table."


def _mean_range(values) -> str:
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    section = run("--quick" in args)
    print(section)
    write_section("transfer", section)


if __name__ == "__main__":
    main()
