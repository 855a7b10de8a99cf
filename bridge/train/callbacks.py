"""Keras-shaped training callbacks and the progress display (bridge.train.loop calls them from the Java loop).

    bridge.fit(net, x, y, epochs=30, validation_split=0.1, callbacks=[
        callbacks.EarlyStopping(patience=2, restore_best_weights=True),
        callbacks.ModelCheckpoint("ckpt-{epoch:02d}.zip", save_best_only=True),
        callbacks.CSVLogger("training.csv")])

The training loop runs in Java; it calls back into Python once per epoch and every ~0.3 s inside one (never per
minibatch), through `JavaListener`. Epoch numbers passed to callbacks are 0-based, as in Keras; file names
formatted with `{epoch}` use epoch + 1, as Keras' ModelCheckpoint does. A callback stops training by setting
`self.model.stop_training = True`; the Java loop stops at the next minibatch boundary.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..jvm import jclass
from ..model.modelfile import save
from ..validate import choice, positive_int

__all__ = [
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "LearningRateScheduler",
    "History",
    "EpochResult",
]


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    loss: float  # mean minibatch score (loss + regularisation) over the epoch, locally and on Spark
    val_accuracy: float | None  # accuracy on the validation data, None without it (or for float targets)
    seconds: float
    samples_per_sec: float
    val_loss: float | None = None  # the network's score on the validation data (test mode)
    learning_rate: float | None = None  # the first layer's learning rate after the epoch (schedules applied)


class History(list):
    """What fit() returns: a list of EpochResult (history[-1].loss, ...) that is also shaped like Keras' History:
    `.history` {"loss": [...], "val_loss": [...], "val_accuracy": [...], "lr": [...]} per epoch, `.epoch`
    (0-based epoch indices), `.iteration_loss` (every minibatch's score, for plots) and `.params`."""

    def __init__(self, params: dict | None = None):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.iteration_loss: list[float] = []
        self.params = dict(params or {})
        self.interrupted = False

    def add(self, result: EpochResult, logs: dict, iteration_losses) -> None:
        self.append(result)
        self.epoch.append(result.epoch - 1)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.iteration_loss.extend(float(v) for v in iteration_losses)


class Callback:
    """Base class, as Keras': override what you need. `self.model` is the bridge Network being trained (its DL4J
    network is `self.model.java`); `self.params` holds epochs, steps, samples, batch_size, validation."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch: int, logs=None): ...

    def on_epoch_end(self, epoch: int, logs=None): ...

    def on_batch_end(self, batch: int, logs=None):
        """Called every ~0.3 s, not after every minibatch (the loop runs in Java); logs has loss (the epoch's mean
        so far), samples, samples_total and samples_per_sec."""


def _monitored(logs: dict, monitor: str, owner: str) -> float:
    value = (logs or {}).get(monitor)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        available = sorted(
            k for k, v in (logs or {}).items() if v is not None and not (isinstance(v, float) and math.isnan(v))
        )
        raise DataError(
            f"{owner} monitors {monitor!r}, which this training does not report (no validation data, "
            f"or float targets without accuracy). Available: {', '.join(available)}. Pass "
            "validation_data= or validation_split= to fit(), or monitor one of those."
        )
    return float(value)


class _Monitor:
    """Which direction of a monitored quantity is better, with Keras' 'auto' rule (accuracy up, the rest down)."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        choice(mode, "mode", ("auto", "min", "max"))
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best = -math.inf if mode == "max" else math.inf

    def improved(self, value: float) -> bool:
        if self.mode == "max":
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs; with
    restore_best_weights the network gets back the parameters of its best epoch when it stops."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise DataError(
                f"Received an invalid value for `patience`, expected an integer >= 0. Received: patience={patience!r}"
            )
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.patience, self.restore_best_weights = monitor, patience, restore_best_weights
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None

    @property
    def best(self) -> float:
        return self._monitor.best

    def on_train_begin(self, logs=None):
        self._monitor = _Monitor(self.monitor, self._monitor.mode, self._monitor.min_delta)
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._monitor.improved(value):
            self._monitor.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.java.params().dup()
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.java.setParams(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the network (DL4J zip with updater state and dl4j-bridge's training state; atomic writes) after every
    `every_n_epochs` epochs, to `filepath` formatted with epoch (1-based) and the epoch's logs, e.g.
    "ckpt-{epoch:02d}-{val_loss:.3f}.zip". With save_best_only, only when `monitor` improved."""

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        every_n_epochs: int = 1,
    ):
        super().__init__()
        self.filepath = str(filepath)
        self.monitor, self.save_best_only = monitor, save_best_only
        self.every_n_epochs = positive_int(every_n_epochs, "every_n_epochs")
        self._monitor = _Monitor(monitor, mode, 0.0)
        self.saved: list[Path] = []

    def on_train_begin(self, logs=None):
        self._monitor = _Monitor(self.monitor, self._monitor.mode, 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint(save_best_only=True)")
            if not self._monitor.improved(value):
                return
            self._monitor.best = value

        path = Path(self.filepath.format(epoch=epoch + 1, **{k: v for k, v in (logs or {}).items() if k != "epoch"}))
        state = {"epoch": epoch + 1, "seed": self.params.get("seed"), "logs": _plain(logs)}
        save(self.model, path, training_state=state)
        self.saved.append(path)


class CSVLogger(Callback):
    """One row per epoch (epoch, then the logs' keys) in a CSV file, flushed as each epoch ends."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = Path(filename), separator, append
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and self.filename.exists() and self.filename.stat().st_size > 0
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **_plain(logs)}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row), delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


class LearningRateScheduler(Callback):
    """Set the learning rate of every layer before each epoch to schedule(epoch, lr) (epoch 0-based, lr the current
    one), as Keras' LearningRateScheduler. For schedules DL4J applies itself, per iteration too and saved with the
    network, pass a bridge.schedules schedule to the updater instead."""

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler needs a function schedule(epoch, lr) -> lr, received {type(schedule).__name__}."
            )
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        java = self.model.java
        current = float(jclass("ai.dl4jbridge.train.Networks").learningRate(java))
        if math.isnan(current):
            raise DataError(
                "LearningRateScheduler: this network's updater has no learning rate (e.g. AdaDelta, or "
                "no trainable layer); use an updater that takes one (Adam, Sgd, Nesterovs, ...)."
            )
        value = self.schedule(epoch, current)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise DataError(
                f"LearningRateScheduler: schedule({epoch}, {current}) returned {value!r}; expected a "
                "finite number >= 0."
            )
        java.setLearningRate(float(value))
        if self.verbose:
            print(f"epoch {epoch + 1}: learning rate {value:g}", flush=True)


class ProgressBar(Callback):
    """verbose=1: a tqdm bar per epoch (updated every ~0.3 s); verbose=2: one line per epoch; 0: silent."""

    def __init__(self, verbose: int, epochs: int, samples: int):
        super().__init__()
        self.verbose, self.epochs, self.samples, self.bar = verbose, epochs, max(1, samples), None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        if self.verbose == 1:
            tqdm = progress_bar_class()
            # smoothing=0: the average rate since the start; updates come every ~0.3 s, not per batch
            self.bar = tqdm(
                total=self.samples, desc=f"epoch {epoch + 1}/{self.epochs}", unit="sample", leave=True, smoothing=0
            )

    def on_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(int(logs["samples"]) - self.bar.n)
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}")  # tqdm shows the rate: one rate per bar

    def on_epoch_end(self, epoch, logs=None):
        shown = {k: f"{v:.4f}" for k, v in logs.items() if k != "lr" and v is not None}
        if self.bar is not None:
            self.bar.update(self.samples - self.bar.n)
            self.bar.set_postfix(shown)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            text = " - ".join(f"{k}: {v}" for k, v in shown.items())
            print(
                f"epoch {epoch + 1}/{self.epochs} - {time.perf_counter() - self._epoch_start:.1f}s - {text}", flush=True
            )

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_bar_class():
    """tqdm's notebook widget in a notebook that can draw one, its text bar elsewhere. tqdm.auto alone warns
    (TqdmWarning "IProgress not found") at every bar in a notebook without ipywidgets: the text bar draws there."""
    if "ipykernel.zmqshell" in sys.modules and _importable("ipywidgets"):
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or one without a spec
        return False


def _plain(logs) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in (logs or {}).items()}
