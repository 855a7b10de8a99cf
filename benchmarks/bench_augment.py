"""Seed "augmentation": LeNet on the 4,000 MNIST training digits with and without augmentation (shifts, small
rotations and zoom) at equal epochs, over 3 seeds: test accuracy on the 1,000 test digits, and the epoch time
with augmentation over the epoch time without (goal <= 1.15x).

When bridge.fit takes `augmentation=` (the training loop applies the Java transform per minibatch), that is what
runs. Otherwise each epoch is one fit call on a copy augmented beforehand by the same Java transform
(Augmentation.apply, a seed per epoch), and the ratio reported is (training epoch + the transform's own time) over
a training epoch: the transform's cost, not yet hidden behind training on a loader thread.

Run: .venv/bin/python -m benchmarks.bench_augment [--quick]
"""

from __future__ import annotations

import inspect
import statistics
import sys
import time

from .common import write_section

SEEDS = (1, 2, 3)
EPOCHS = 2
BATCH = 32
SETTINGS = dict(shift=2, rotation=10, scale=(0.9, 1.1))  # digits: no flips


def _loop_supports_augmentation() -> bool:
    import bridge

    return "augmentation" in inspect.signature(bridge.fit).parameters


def _train(x, y, seed: int, epochs: int, augmentation, in_loop: bool):
    """(net, seconds per training epoch, seconds per epoch spent augmenting outside the loop)."""
    import bridge
    from bridge import nets

    net = nets.lenet(seed=seed)
    if in_loop:
        extra = {"augmentation": augmentation} if augmentation is not None else {}
        history = bridge.fit(net, x, y, epochs=epochs, batch_size=BATCH, seed=seed, progress=False, **extra)
        return net, statistics.mean(e.seconds for e in history), 0.0
    fit_seconds, augment_seconds = [], []
    images = x.reshape(-1, 1, 28, 28)
    for epoch in range(epochs):
        start = time.perf_counter()
        epoch_x = augmentation.apply(images, seed=seed * 1000 + epoch) if augmentation is not None else images
        augment_seconds.append(time.perf_counter() - start)
        history = bridge.fit(net, epoch_x, y, epochs=1, batch_size=BATCH, seed=seed * 1000 + epoch, progress=False)
        fit_seconds.append(history[0].seconds)
    return net, statistics.mean(fit_seconds), statistics.mean(augment_seconds) if augmentation is not None else 0.0


def run(quick: bool) -> str:
    import bridge
    from bridge import data
    from bridge.augment import Augmentation

    bridge.start_jvm()
    x, y, xt, yt = data.load("mnist")
    if quick:
        x, y = x[:800], y[:800]
    in_loop = _loop_supports_augmentation()
    augmentation = Augmentation(**SETTINGS)
    seeds, epochs = (SEEDS[:1], 1) if quick else (SEEDS, EPOCHS)
    rows = []
    for seed in seeds:
        plain, plain_epoch, _ = _train(x, y, seed, epochs, None, in_loop)
        augmented, aug_epoch, aug_cost = _train(x, y, seed, epochs, augmentation, in_loop)
        row = (
            seed,
            bridge.evaluate(plain, xt, yt).accuracy,
            bridge.evaluate(augmented, xt, yt).accuracy,
            plain_epoch,
            aug_epoch,
            aug_cost,
        )
        rows.append(row)
        print(
            f"seed {seed}: accuracy {row[1]:.4f} plain, {row[2]:.4f} augmented; epoch {plain_epoch:.1f} s vs "
            f"{aug_epoch:.1f} s + {aug_cost:.2f} s augmenting",
            flush=True,
        )
    return _section(quick, rows, in_loop, len(x), epochs)


def _section(quick, rows, in_loop, n, epochs) -> str:
    table = "\n".join(
        f"| {seed} | {plain:.4f} | {aug:.4f} | {(aug - plain) * 100:+.1f} | {pe:.1f} s | {ae:.1f} s | "
        f"{cost:.2f} s | {(ae + cost) / pe:.2f}x |"
        for seed, plain, aug, pe, ae, cost in rows
    )
    mean = lambda i: statistics.mean(r[i] for r in rows)  # noqa: E731
    ratio = statistics.mean((r[4] + r[5]) / r[3] for r in rows)
    how = (
        "`bridge.fit(..., augmentation=aug)`: the training loop applies the Java transform to each minibatch"
        if in_loop
        else "bridge.fit has no `augmentation=` yet on this branch: each epoch is one `bridge.fit(epochs=1)` call on "
        "a copy augmented beforehand with `aug.apply(images, seed)` (the same Java transform the loop will call), "
        "the unaugmented arm likewise one call per epoch; the ratio is (training epoch + augmenting the epoch's "
        "4,000 digits) / training epoch"
    )
    return f"""## Augmentation: LeNet on 4,000 MNIST digits, with and without

Command: `.venv/bin/python -m benchmarks.bench_augment{" --quick" if quick else ""}`.
`bridge.nets.lenet(seed)` trained {epochs} epoch(s) on {n:,} MNIST digits (batch {BATCH}, Adam 1e-3), without and
with `bridge.augment.Augmentation({", ".join(f"{k}={v!r}" for k, v in SETTINGS.items())})`; {how}. Test
accuracy on the 1,000 test digits; epoch times are means over the epochs, same run, on a shared 2-core machine:
noisy. Goal: augmented epoch <= 1.15x a plain one.

| seed | accuracy, plain | accuracy, augmented | difference (points) | epoch, plain | epoch, augmented | augmenting, per epoch | ratio |
| --- | --- | --- | --- | --- | --- | --- | --- |
{table}
| mean | {mean(1):.4f} | {mean(2):.4f} | {(mean(2) - mean(1)) * 100:+.1f} | {mean(3):.1f} s | {mean(4):.1f} s | {mean(5):.2f} s | {ratio:.2f}x |

What was found: mean epoch with augmentation / mean epoch without = {(mean(4) + mean(5)) / mean(3):.2f}x (goal <= 1.15x;
per-seed ratios {min(r[4] / r[3] for r in rows):.2f}x-{max(r[4] / r[3] for r in rows):.2f}x: the machine's load, not the
transform, moves single epochs); accuracy {(mean(2) - mean(1)) * 100:+.1f} points with augmentation after {epochs} epoch(s).
"""


def main(argv=None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    section = run("--quick" in args)
    print(section)
    write_section("augment", section)


if __name__ == "__main__":
    main()
