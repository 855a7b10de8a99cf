"""Training data larger than memory: minibatches read from .npy files (numpy memory maps) on a background
thread, ahead of the Java training loop, through a bounded Java queue (ai.dl4jbridge.train.BatchQueue).

    stream = bridge.streams.NpyStream("x.npy", "y.npy", batch_size=64)   # x (n, ...) float32, y (n,) or (n, k)
    bridge.fit(net, stream, epochs=3, validation_data=(xv, yv))

Each epoch visits the minibatches in an order seeded from (fit's seed, the epoch), rows within a minibatch in
file order: reading contiguous rows keeps disk access sequential. Local training only (Spark has fit_files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.npfiles import read_npy
from ..errors import DataError
from ..jvm import JavaThread, jclass
from ..validate import integer_at_least, positive_int
from .prepared import indarrays, prepared

__all__ = ["NpyStream", "is_stream"]

_PUT_TIMEOUT_MS = 100


def is_stream(x) -> bool:
    return isinstance(x, NpyStream)


class NpyStream:
    """Minibatches of rows of x.npy and y.npy, memory-mapped (never loaded whole); `read_ahead` minibatches are
    read ahead while the network trains."""

    def __init__(self, x_path, y_path, batch_size: int = 64, shuffle: bool = True, read_ahead: int = 4):
        self.x_path, self.y_path = Path(x_path), Path(y_path)
        for path in (self.x_path, self.y_path):
            if not path.is_file():
                raise DataError(f"No .npy file at {path}.")
        self.x = read_npy(self.x_path, mmap=True)
        self.y = read_npy(self.y_path, mmap=True)
        if len(self.x) != len(self.y) or len(self.x) == 0:
            raise DataError(
                f"{self.x_path} has {len(self.x)} rows and {self.y_path} {len(self.y)}: expected the same, >= 1."
            )
        self.batch_size = positive_int(batch_size, "batch_size")
        self.read_ahead = integer_at_least(read_ahead, "read_ahead", 1)
        self.shuffle = shuffle
        self.thread = None

    @property
    def examples(self) -> int:
        return len(self.x)

    @property
    def steps(self) -> int:
        return -(-self.examples // self.batch_size)

    def _batch(self, net, b: int):
        rows = slice(b * self.batch_size, min(self.examples, (b + 1) * self.batch_size))
        return prepared(net, np.ascontiguousarray(self.x[rows]), np.asarray(self.y[rows]))

    def first(self, net):
        """The first minibatch, checked against the network (shapes, dtypes, label range), for the run's setup."""
        self.net = net
        return self._batch(net, 0)

    def order(self, seed: int, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.steps)
        return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)]).permutation(self.steps)

    def queue(self, run, epochs: int, seed: int):
        """A Java BatchQueue, filled by a producer thread for `epochs` epochs (numbered from run.initialEpoch)."""
        queue = jclass("ai.dl4jbridge.train.BatchQueue")(self.read_ahead)
        queue.examplesPerEpoch = self.examples

        def offer(put) -> bool:
            while not run.stop.get():
                if put():
                    return True
            return False

        def produce():
            try:
                for epoch in range(run.initialEpoch, run.initialEpoch + epochs):
                    for b in self.order(seed, epoch):
                        data = self._batch(self.net, int(b))
                        features, labels = indarrays(data.features), indarrays(data.labels)
                        if not offer(lambda f=features, y=labels: queue.put(f, y, _PUT_TIMEOUT_MS)):
                            return
                    if not offer(lambda: queue.endEpoch(_PUT_TIMEOUT_MS)):
                        return
            except Exception as exc:  # noqa: BLE001 - reported by the training loop, then raised by fit()
                queue.fail(f"{type(exc).__name__}: {exc}")

        self.thread = JavaThread(target=produce, name="dl4j-bridge-npy-stream", daemon=True)
        self.thread.start()
        return queue
