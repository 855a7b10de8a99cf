"""The one training plan: every path (arrays, streams, DataSet files, Spark) checks its arguments the same way,
and the DataSet-file path checks its data as fit() does. These checks run before any Spark job starts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridge
from bridge import nets, spark
from bridge.errors import BridgeError, DataError

X = np.random.default_rng(0).random((40, 784), dtype=np.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda net: bridge.fit(net, X, np.zeros(40, np.int32), epochs=1, initial_epoch=1),
        lambda net: spark.fit_files(net, "unused", epochs=1, initial_epoch=1),
    ],
    ids=["fit", "fit_files"],
)
def test_epochs_mean_what_keras_means_on_every_path(call):
    with pytest.raises(DataError, match="as in Keras, `epochs` is the index of the last epoch"):
        call(nets.mlp(hidden=(8,)))


@pytest.mark.parametrize(
    "call",
    [
        lambda net: bridge.fit(net, X, np.zeros(40, np.int32), shuffle=False, spark="local[2]"),
        lambda net: spark.fit_files(net, "unused", shuffle=False),
    ],
    ids=["fit", "fit_files"],
)
def test_shuffle_false_is_refused_by_name_on_spark(call):
    with pytest.raises(DataError, match="shuffle=False is not available on Spark"):
        call(nets.mlp(hidden=(8,)))


@pytest.mark.parametrize("verbose", [3, "loud"])
def test_fit_files_checks_verbose_as_fit_does(verbose):
    with pytest.raises(DataError, match="verbose"):
        spark.fit_files(nets.mlp(hidden=(8,)), "unused", verbose=verbose)


def test_export_datasets_writes_the_label_width_it_was_given(tmp_path):
    y = np.array([0, 1, 2, 1] * 10, np.int32)
    assert spark.export_datasets(X, y, tmp_path / "three", batch_size=20) == 2
    assert json.loads((tmp_path / "three" / "datasets.json").read_text())["classes"] == 3  # not 10
    spark.export_datasets(X, y, tmp_path / "ten", n_classes=10, batch_size=20)
    assert json.loads((tmp_path / "ten" / "datasets.json").read_text())["classes"] == 10


@pytest.mark.parametrize(
    "y, n_classes, message",
    [
        (np.full(40, 3, np.int32), 3, r"must lie in \[0, 3\)"),
        (np.full(40, -1, np.int32), None, "must lie in"),
        (np.zeros(39, np.int32), None, "x has 40 rows but y has 39"),
        (np.zeros(40, np.float32), None, "integer class indices"),
        (np.zeros(40, np.int32), 0, "n_classes"),
    ],
)
def test_export_datasets_checks_labels_as_fit_does(tmp_path, y, n_classes, message):
    with pytest.raises(BridgeError, match=message):  # DataError, or ShapeError for the row count
        spark.export_datasets(X, y, tmp_path / "data", n_classes=n_classes)
    assert not (tmp_path / "data").exists()


def test_export_datasets_refuses_non_finite_features(tmp_path):
    x = X.copy()
    x[3, 7] = np.inf
    with pytest.raises(DataError, match="NaN or infinite"):
        spark.export_datasets(x, np.zeros(40, np.int32), tmp_path / "data")


def test_fit_files_refuses_files_of_another_class_count(tmp_path):
    spark.export_datasets(X, np.array([0, 1, 2, 1] * 10, np.int32), tmp_path / "three", batch_size=20)
    with pytest.raises(DataError, match="hold 3-class labels.*10 units"):
        spark.fit_files(nets.mlp(hidden=(8,)), tmp_path / "three")
    with pytest.raises(DataError, match="n_classes=3.*10 units"):
        spark.fit_files(nets.mlp(hidden=(8,)), tmp_path / "three", n_classes=3)
