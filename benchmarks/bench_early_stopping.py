"""The seed's "stop at convergence": LeNet on Fashion-MNIST with EarlyStopping(patience=2,
restore_best_weights=True) on val_loss, validation_split=0.1 (the last 6,000 training images), up to 30
epochs. Reports where it stopped, the val_loss curve, and the test accuracy of the restored best epoch
against the last epoch's weights (the reference, from the same run's checkpoint).

Run: .venv/bin/python -m benchmarks.bench_early_stopping [--quick]   (--quick: 10,000 training images)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .common import write_section


def main(argv=None) -> int:
    import bridge
    from bridge import callbacks, data, nets

    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    x, y, xt, yt = data.load("fashion-mnist")
    if quick:
        x, y = x[:10_000], y[:10_000]
    net = nets.lenet(seed=42)
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    with tempfile.TemporaryDirectory() as folder:
        every = callbacks.ModelCheckpoint(Path(folder) / "epoch-{epoch:02d}.zip")
        start = time.perf_counter()
        history = bridge.fit(
            net, x, y, epochs=30, batch_size=64, seed=42, validation_split=0.1, verbose=2, callbacks=[every, stop]
        )
        wall = time.perf_counter() - start
        last = bridge.load(every.saved[-1])
        restored_accuracy = bridge.evaluate(net, xt, yt).accuracy
        last_accuracy = bridge.evaluate(last, xt, yt).accuracy
    epochs_run = len(history)
    curve = ", ".join(f"{v:.4f}" for v in history.history["val_loss"])
    command = f".venv/bin/python -m benchmarks.bench_early_stopping{' --quick' if quick else ''}"
    text = f"""## Early stopping ("stop at convergence")

LeNet (`nets.lenet(seed=42)`, Adam 1e-3, batch 64) on Fashion-MNIST, {len(x) - len(x) // 10:,} training images,
`validation_split=0.1` (the last {len(x) // 10:,}), `EarlyStopping(monitor="val_loss", patience=2,
restore_best_weights=True)`, at most 30 epochs; test accuracy on the 10,000 test images. Command: `{command}`
(one run on the shared 2-core machine: times are noisy).

| stopped after | best epoch (restored) | test accuracy, restored best epoch | test accuracy, last epoch's weights (reference) | ratio | wall time |
| --- | --- | --- | --- | --- | --- |
| {epochs_run} of 30 epochs | {stop.best_epoch + 1} | {restored_accuracy:.4f} | {last_accuracy:.4f} | {restored_accuracy / last_accuracy:.4f}x | {wall:.0f} s |

val_loss per epoch: {curve}.
"""
    print(text)
    write_section("early_stopping", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
