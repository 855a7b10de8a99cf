"""The one training plan. Every way to train (arrays, minibatch streams, DataSet files, Spark) checks its
arguments here, and runs through `execute`, which builds History, the progress display, class weights, DL4J
listeners and callbacks, then hands the Java run to bridge.train.loop. `epochs` and `initial_epoch` mean what
Keras means on every path: `epochs` is the index of the last epoch, so epochs - initial_epoch epochs run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import jpype
import numpy as np

from .. import validate
from ..errors import DataError, java_errors
from ..jvm import jclass
from ..jvm.arrays import to_indarray
from ..model.network import Network, as_java
from .callbacks import Callback, History, ProgressBar
from .loop import run_training
from .prepared import PreparedData, training_run

__all__ = ["TrainingPlan", "make_plan", "execute", "java_run", "split_callbacks"]


@dataclass(frozen=True)
class TrainingPlan:
    """What a training call asked for, checked once, whatever the data and wherever the loop runs."""

    model: Network
    java: object  # the DL4J MultiLayerNetwork or ComputationGraph, trained in place
    epochs: int  # Keras: the index of the last epoch
    initial_epoch: int
    seed: int
    shuffle: bool
    verbose: int  # 0 silent, 1 a progress bar, 2 one line per epoch
    callbacks: tuple  # bridge.callbacks objects
    listeners: tuple  # DL4J TrainingListeners (local training only)
    class_weight: dict | None
    augmentation: object | None

    @property
    def epochs_to_run(self) -> int:
        return self.epochs - self.initial_epoch


def make_plan(
    net,
    *,
    epochs=1,
    initial_epoch=0,
    seed=42,
    shuffle=True,
    verbose=None,
    progress=True,
    callbacks=None,
    class_weight=None,
    augmentation=None,
    distributed: bool = False,
) -> TrainingPlan:
    """Check a training call's arguments (DataError or TypeError naming the argument). distributed: on Spark,
    where each worker trains its own copy of the network."""
    java = as_java(net)
    validate.positive_int(epochs, "epochs")
    validate.integer_at_least(initial_epoch, "initial_epoch", 0)
    if initial_epoch >= epochs:
        raise DataError(
            f"initial_epoch={initial_epoch} >= epochs={epochs}: as in Keras, `epochs` is the index of the "
            f"last epoch, so training runs epochs - initial_epoch epochs. Pass epochs > {initial_epoch}."
        )
    validate.boolean(shuffle, "shuffle")
    if distributed and not shuffle:
        raise DataError(
            "shuffle=False is not available on Spark: each worker trains its share of every averaging round in an "
            "order shuffled per epoch (seeded from `seed`, so runs repeat). Pass shuffle=True, or train locally."
        )
    ours, listeners = split_callbacks(callbacks)
    if listeners and distributed:
        raise TypeError(
            "DL4J TrainingListeners in `callbacks` run with local training only: on Spark each worker "
            "trains its own copy of the network. Pass bridge.callbacks objects (called once per epoch)."
        )
    if class_weight is not None and not isinstance(class_weight, dict):
        raise DataError(
            f"Expected `class_weight` as a dict {{class index: weight}}, received {type(class_weight).__name__}."
        )
    return TrainingPlan(
        net if isinstance(net, Network) else Network(java),
        java,
        int(epochs),
        int(initial_epoch),
        validate.seed(seed),
        shuffle,
        verbosity(verbose, progress),
        tuple(ours),
        tuple(listeners),
        class_weight,
        augmentation,
    )


def verbosity(verbose, progress) -> int:
    """Keras' verbose (0, 1, 2); progress=False is the older spelling of verbose=0."""
    if verbose is None:
        return 1 if progress else 0
    validate.choice(verbose, "verbose", (0, 1, 2))
    return 0 if progress is False else verbose


def split_callbacks(callbacks) -> tuple[list[Callback], list]:
    """(our callbacks, DL4J TrainingListeners); TypeError naming anything else."""
    if callbacks is None:
        return [], []
    if isinstance(callbacks, (Callback, str)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(
            f"`callbacks` must be a list of bridge.callbacks.Callback objects or DL4J TrainingListeners, "
            f"received {type(callbacks).__name__}."
        )
    ours, listeners = [], []
    listener_class = jclass("org.deeplearning4j.optimize.api.TrainingListener")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            ours.append(cb)
        elif isinstance(cb, listener_class):
            listeners.append(cb)
        elif isinstance(cb, type) and issubclass(cb, Callback):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}, not an instance: pass {cb.__name__}(...).")
        else:
            raise TypeError(
                f"callbacks[{i}] is a {type(cb).__name__}: expected a bridge.callbacks.Callback (e.g. "
                "EarlyStopping, ModelCheckpoint, CSVLogger, LearningRateScheduler) or a DL4J "
                "org.deeplearning4j.optimize.api.TrainingListener."
            )
    return ours, listeners


def java_run(plan: TrainingPlan, data: PreparedData, validation: PreparedData | None, listener, batch_size: int):
    """The Java TrainingRun of a plan: network, data, epochs, seed, shuffle, validation, listener, augmentation."""
    run = training_run(
        plan.java,
        data,
        epochs=plan.epochs_to_run,
        batch_size=batch_size,
        seed=plan.seed,
        validation=validation,
        listener=listener.proxy,
        shuffle=plan.shuffle,
        initial_epoch=plan.initial_epoch,
    )
    run.transform = batch_transform(plan.augmentation, plan.model)
    return run


def execute(
    plan: TrainingPlan,
    data: PreparedData,
    samples: int,
    batch_size: int | None,
    validation: PreparedData | None,
    start,
    steps: int | None = None,
) -> History:
    """Run a plan: History and its params, the progress display and callbacks, class weights and DL4J listeners
    for this run only, then the Java loop through start(listener) -> (TrainingRun, blocking call, on_interrupt).
    data: the training data, or a sample of it with the same outputs (class weights read its output widths)."""
    params = {
        "epochs": plan.epochs,
        "initial_epoch": plan.initial_epoch,
        "batch_size": batch_size,
        "seed": plan.seed,
        "samples": samples,
        "steps": steps if steps is not None else (-(-samples // batch_size) if batch_size and samples else None),
        "validation": validation is not None,
        "verbose": plan.verbose,
    }
    history = History({k: v for k, v in params.items() if v is not None or k == "validation"})
    plan.model.history = history  # as Keras' model.history: there even when Ctrl-C ends fit() without a return
    calls = [ProgressBar(plan.verbose, plan.epochs, samples), *plan.callbacks]
    with class_weights(plan.java, data, plan.class_weight), listeners_added(plan.java, plan.listeners):
        return run_training(plan.model, calls, history, start)


def batch_transform(augmentation, model):
    """The Java BatchTransform for `augmentation`: one itself, or what its to_java(net) returns."""
    if augmentation is None:
        return None
    transform_class = jclass("ai.dl4jbridge.train.BatchTransform")
    transform = augmentation.to_java(model) if hasattr(augmentation, "to_java") else augmentation
    if isinstance(transform, transform_class):
        return transform
    try:  # a BatchTransform written in Python (a JPype proxy) converts to the interface
        return jpype.JObject(transform, transform_class)
    except TypeError:
        raise TypeError(
            f"`augmentation` must be an ai.dl4jbridge.train.BatchTransform or have to_java(net) returning "
            f"one (bridge.augment.Augmentation), received {type(augmentation).__name__}."
        ) from None


@contextlib.contextmanager
def class_weights(java, data: PreparedData, class_weight):
    """Keras' class_weight as DL4J's weighted loss on the output layer, for this run only."""
    if class_weight is None:
        yield
        return
    if len(data.n_classes) != 1:
        raise DataError(f"class_weight applies to a network with one output; this one has {data.output_names}.")
    width = data.n_classes[0]
    weights = np.ones(width, np.float32)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < width:
            raise DataError(f"class_weight key {key!r} is not a class index in [0, {width}).")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value)
            or value < 0
        ):
            raise DataError(f"class_weight[{key}] = {value!r}: expected a finite number >= 0.")
        weights[key] = value
    networks = jclass("ai.dl4jbridge.train.Networks")
    with java_errors("class_weight"):
        previous = networks.weightLoss(java, 0, to_indarray(weights))
    try:
        yield
    finally:
        with java_errors("class_weight"):
            networks.setLossFunction(java, 0, previous)


@contextlib.contextmanager
def listeners_added(java, listeners):
    """DL4J TrainingListeners given in callbacks, on the network for this run only."""
    if not listeners:
        yield
        return
    with java_errors("adding DL4J TrainingListeners"):
        previous = list(java.getListeners() or [])
        java.addListeners(*listeners)
    try:
        yield
    finally:
        with java_errors("restoring DL4J TrainingListeners"):
            java.setListeners(jclass("java.util.ArrayList")(previous))
