import gzip

import numpy as np
import pytest

from bridge import data
from bridge.errors import DataError


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype({0x08: ">u1", 0x0D: ">f4"}[type_code]).tobytes()


def _write_idx_folder(folder, n_train=12, n_test=5, gz=False, rng=np.random.default_rng(0)):
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in files.items():
        payload = _idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return files


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_folder_loads_scaled_images_and_labels(tmp_path, gz):
    files = _write_idx_folder(tmp_path, gz=gz)
    x_train, y_train, x_test, y_test = data.load(tmp_path)
    assert x_train.shape == (12, 784) and x_test.shape == (5, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    np.testing.assert_array_equal(x_train, files["train-images-idx3-ubyte"].reshape(12, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(y_test, files["t10k-labels-idx1-ubyte"])


def test_read_idx_float_type(tmp_path):
    values = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    (tmp_path / "f.idx").write_bytes(_idx_bytes(values, 0x0D))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.idx"), values)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-10], "truncated"),
    (lambda b: b + b"\0\0", "longer than its header"),
    (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),
    (lambda b: b[:6], "header is truncated"),
    (lambda b: b"", "not an IDX file"),
], ids=["truncated", "trailing-bytes", "bad-magic", "short-header", "empty"])
def test_corrupt_idx_files_raise_clear_errors(tmp_path, damage, message):
    path = tmp_path / "images.idx"
    path.write_bytes(damage(_idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    with pytest.raises(DataError, match=message):
        data.read_idx(path)


def test_corrupt_gzip_raises_data_error(tmp_path):
    path = tmp_path / "images.idx.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((3, 28, 28), np.uint8)))[:-20])
    with pytest.raises(DataError, match="gzip"):
        data.read_idx(path)


def test_folder_missing_a_file_names_it(tmp_path):
    _write_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load(tmp_path)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match="mnist, fashion-mnist"):
        data.load("cifar10")


def test_mnist_is_a_stratified_fixed_split_of_real_digits(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    assert 0.05 < x_train.mean() < 0.25  # ink on a black background, as in MNIST
    again = data.load("mnist")
    np.testing.assert_array_equal(again[3], y_test)
    assert not np.array_equal(y_test[:20], np.sort(y_test[:20]))  # shuffled, not sorted by class


def test_fashion_mnist_from_debian():
    x_train, y_train, x_test, y_test = data.load("fashion-mnist")
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.dtype == np.float32 and float(x_train.max()) == 1.0
