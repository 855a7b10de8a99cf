"""Checked training data and the Java TrainingRun built from it: what bridge.training and bridge.spark share
(both import this module; neither imports the other at module level)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import validate
from ..errors import DataError, ShapeError
from ..jvm import jclass
from ..jvm.arrays import to_indarray
from ..model.inputs import argument_label, by_name, output_names, output_sizes, prepare_features

CLASSES, TARGETS = "classes", "targets"


@dataclass(frozen=True)
class PreparedData:
    """Checked features (one array per input) and targets per output: (n,) int32 class indices (one-hot float
    matrices arrive as indices too), or (n, k) float32 matrices used as they are (multi-label, regression, soft
    labels); `kinds` says which, per output."""

    features: list
    labels: list
    n_classes: list
    output_names: list
    kinds: tuple = ()

    @property
    def examples(self) -> int:
        return len(self.features[0])

    @property
    def classification(self) -> bool:
        return all(kind == CLASSES for kind in self.kinds)

    def split(self, fraction: float) -> tuple[PreparedData, PreparedData]:
        """(first rows, last `fraction` of the rows), as Keras' validation_split: taken before any shuffling."""
        n = self.examples
        held = int(n * fraction)
        if held == 0 or held == n:
            raise DataError(
                f"validation_split={fraction} of {n} examples leaves {n - held} to train on and {held} "
                "to validate: both need at least one."
            )
        cut = n - held
        return (
            replace(self, features=[f[:cut] for f in self.features], labels=[y[:cut] for y in self.labels]),
            replace(self, features=[f[cut:] for f in self.features], labels=[y[cut:] for y in self.labels]),
        )


def prepared(net, x, y, names=("x", "y")) -> PreparedData:
    features = prepare_features(net, x, names[0])
    outputs, sizes = output_names(net), output_sizes(net)
    n = len(features[0])
    ys = by_name(outputs, y, names[1], "output", "labels")
    checked = [
        class_targets(v, n, size, argument_label(names[1], o, len(outputs))) for o, v, size in zip(outputs, ys, sizes)
    ]
    return PreparedData(
        features, [c[0] for c in checked], [int(s) for s in sizes], outputs, tuple(c[1] for c in checked)
    )


def class_targets(y, n: int, width: int | None, name: str) -> tuple[np.ndarray, str]:
    """(array, kind) for one output: class indices, or a float target matrix of the output's width."""
    y = np.asarray(y)
    if width is None:
        raise DataError(f"Cannot use targets `{name}`: the network's output layer has no fixed width (nOut).")
    if y.ndim == 1 and width == 1:  # Keras' habit for one regression output (or one sigmoid): (n,) targets
        return _target_matrix(y.reshape(-1, 1), n, width, name)
    if y.ndim == 2:
        return _target_matrix(y, n, width, name)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"Expected `{name}` as a 1-d array of integer class indices or an (n, {width}) float matrix "
            f"(one-hot, multi-label, regression), received dtype {y.dtype} shape {y.shape}. 1-d float targets "
            "fit an output of one unit only."
        )
    if len(y) != n:
        raise ShapeError(f"x has {n} rows but {name} has {len(y)} labels.")
    if y.size and (y.min() < 0 or y.max() >= width):
        raise DataError(
            f"Labels `{name}` must lie in [0, {width}) for this network's {width} outputs; "
            f"found values from {y.min()} to {y.max()}."
        )
    return y.astype(np.int32), CLASSES


def _target_matrix(y: np.ndarray, n: int, width: int, name: str) -> tuple[np.ndarray, str]:
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise DataError(f"Expected `{name}` as a numeric (n, {width}) matrix, received dtype {y.dtype}.")
    if y.shape[0] != n:
        raise ShapeError(f"x has {n} rows but {name} has {y.shape[0]}.")
    if y.shape[1] != width:
        raise ShapeError(
            f"Received `{name}` with {y.shape[1]} columns; this network's output has {width} units. "
            f"Pass ({n}, {width}) targets, or (n,) class indices."
        )
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.isfinite(y).all():
        raise DataError(f"`{name}` holds NaN or infinite values.")
    one_hot = y.size and ((y == 0) | (y == 1)).all() and (y.sum(axis=1) == 1).all()
    if one_hot:  # classification: indices keep accuracy and the class-weighted losses available
        return y.argmax(axis=1).astype(np.int32), CLASSES
    return y, TARGETS


def indarrays(arrays):
    import jpype

    return jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))([to_indarray(a) for a in arrays])


def training_run(
    java,
    data: PreparedData,
    epochs: int = 1,
    batch_size: int = 64,
    seed: int = 42,
    validation: PreparedData | None = None,
    listener=None,
    shuffle: bool = True,
    initial_epoch: int = 0,
):
    """The Java TrainingRun (the one argument of Trainer and SparkTrainer calls) for checked data."""
    import jpype

    run = jclass("ai.dl4jbridge.train.TrainingRun")()
    run.network = java
    run.features, run.labels = indarrays(data.features), indarrays(data.labels)
    run.numClasses = jpype.JArray(jpype.JInt)(data.n_classes)
    run.epochs, run.batchSize, run.seed = epochs, batch_size, validate.seed(seed)
    run.shuffle, run.initialEpoch = shuffle, initial_epoch
    if validation is not None:
        run.validationFeatures, run.validationLabels = indarrays(validation.features), indarrays(validation.labels)
    run.listener = listener
    return run
