"""The training loop's Python half: a Java loop (Trainer or the Spark trainer) runs on a worker thread, and one
Java listener turns its reports into History entries and callback calls.

The loop calls back once per epoch and every ~0.3 s inside one (never per minibatch). Ctrl-C reaches Python
because this thread waits in short timed joins; the run's stop flag then ends the Java loop at the next minibatch
boundary and KeyboardInterrupt is raised here.
"""

from __future__ import annotations

import math

import jpype
import numpy as np

from ..errors import java_errors
from ..jvm import JavaThread, release_openmp_threads
from .callbacks import Callback, EpochResult, History

__all__ = ["run_training", "JavaListener"]


def run_training(model, callbacks: list, history: History, start) -> History:
    """Run a Java training loop on a worker thread, calling `callbacks` from its listener, and wait for it in short
    timed joins so that Ctrl-C reaches Python (a signal handler cannot run while this thread is inside a JNI call):
    the run's stop flag ends the loop at the next minibatch boundary, then KeyboardInterrupt is raised here.
    start(listener) -> (the Java TrainingRun, the blocking Java call, an optional on_interrupt())."""
    model.stop_training = False
    listener = JavaListener(callbacks, history, model)
    for cb in callbacks:
        cb.set_model(model)
        cb.set_params(history.params)
    run, call, on_interrupt = start(listener)
    listener.run = run
    listener.call("on_train_begin", {})
    if listener.error is not None:
        raise listener.error
    outcome: dict = {}

    def work():
        try:
            with java_errors("fit"):
                outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    release_openmp_threads()  # this thread's idle OpenMP team would slow the training thread's (bridge.jvm)
    worker = JavaThread(target=work, name="dl4j-bridge-fit", daemon=True)
    worker.start()
    try:
        _wait(worker)
    except KeyboardInterrupt:
        run.stop.set(True)
        if on_interrupt is not None:
            on_interrupt()
        _wait(worker)
        history.interrupted = True
        listener.call("on_train_end", {})
        raise
    error = listener.error or outcome.get("error")
    if error is None:
        listener.call("on_train_end", {k: v[-1] for k, v in history.history.items()})
        error = listener.error
    if error is not None:
        raise error
    return history


def _wait(worker) -> None:
    while worker.is_alive():
        worker.join(0.05)


class JavaListener:
    """The Java ProgressListener proxy: turns the loop's reports into History entries and callback calls, and a
    callback's stop_training into the run's stop flag. An exception in a callback stops the run; fit() re-raises
    it once the Java call has returned."""

    def __init__(self, callbacks: list[Callback], history: History, model):
        self.callbacks, self.history, self.model = callbacks, history, model
        self.run = None  # the Java TrainingRun, set before the loop starts
        self.error: BaseException | None = None
        self.proxy = self._proxy()

    def call(self, method: str, *args) -> None:
        if self.error is not None:
            return
        try:
            for cb in self.callbacks:
                with java_errors(f"callback {type(cb).__name__}.{method}"):
                    getattr(cb, method)(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised by fit() in the caller's thread
            self.error = exc
        if (self.error is not None or getattr(self.model, "stop_training", False)) and self.run is not None:
            self.run.stop.set(True)

    def _epoch_end(self, stats) -> None:
        accuracy, val_loss, lr = (
            _none_if_nan(stats.validationAccuracy),
            _none_if_nan(stats.validationLoss),
            _none_if_nan(stats.learningRate),
        )
        result = EpochResult(
            int(stats.epoch),
            float(stats.meanLoss),
            accuracy,
            float(stats.seconds),
            float(stats.samplesPerSecond),
            val_loss,
            lr,
        )
        logs = {"loss": result.loss}
        if val_loss is not None:
            logs["val_loss"] = val_loss
        if accuracy is not None:
            logs["val_accuracy"] = accuracy
        if lr is not None:
            logs["lr"] = lr
        self.history.add(result, logs, np.asarray(stats.iterationLosses[:], dtype=np.float64))
        self.call("on_epoch_end", result.epoch - 1, dict(logs))

    def _proxy(self):
        outer = self

        @jpype.JImplements("ai.dl4jbridge.train.ProgressListener")
        class Listener:
            @jpype.JOverride
            def onEpochBegin(self, epoch):
                outer.call("on_epoch_begin", int(epoch) - 1, {})

            @jpype.JOverride
            def onBatchEnd(self, epoch, batch, done, total, loss, rate):
                outer.call(
                    "on_batch_end",
                    int(batch),
                    {
                        "loss": float(loss),
                        "samples": int(done),
                        "samples_total": int(total),
                        "samples_per_sec": float(rate),
                    },
                )

            @jpype.JOverride
            def onEpochEnd(self, stats):
                try:
                    outer._epoch_end(stats)
                except BaseException as exc:  # noqa: BLE001
                    outer.error = outer.error or exc
                    if outer.run is not None:
                        outer.run.stop.set(True)

        return Listener()


def _none_if_nan(value: float):
    value = float(value)
    return None if math.isnan(value) else value
