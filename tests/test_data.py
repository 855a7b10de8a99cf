import gzip

import numpy as np
import pytest

from bridge import data
from bridge.errors import DataError


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype({0x08: ">u1", 0x0D: ">f4"}[type_code]).tobytes()


def _write_idx_folder(folder, n_train=12, n_test=5, gz=False):
    rng = np.random.default_rng(0)
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


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b + b"\0\0", "longer than its header"),
        (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),
        (lambda b: b[:6], "header is truncated"),
        (lambda b: b"", "not an IDX file"),
    ],
    ids=["truncated", "trailing-bytes", "bad-magic", "short-header", "empty"],
)
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


# ---- .npz, CSV and image folders ----------------------------------------------------------------------------


def test_npz_loads_x_and_y_or_named_keys(tmp_path, rng):
    x, y = rng.random((6, 3, 5, 4)), rng.integers(0, 3, 6)
    np.savez(tmp_path / "a.npz", x=x, y=y, extra=np.arange(3.0))
    x2, y2 = data.load_npz(tmp_path / "a.npz")
    assert x2.dtype == np.float32 and y2.dtype == np.int32
    np.testing.assert_array_equal(x2, x.astype(np.float32))
    np.testing.assert_array_equal(y2, y)
    (extra,) = data.load_npz(tmp_path / "a.npz", keys=("extra",))
    np.testing.assert_array_equal(extra, [0, 1, 2])


def test_npz_with_train_and_test_arrays_loads_all_four(tmp_path, rng):
    arrays = {"x_train": rng.random((4, 2)), "y_train": np.arange(4), "x_test": rng.random((2, 2)), "y_test": [1, 0]}
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    loaded = data.load_npz(tmp_path / "b.npz")
    assert [a.shape for a in loaded] == [(4, 2), (4,), (2, 2), (2,)]


def test_npz_misuse_raises_clear_errors(tmp_path):
    np.savez(tmp_path / "a.npz", features=np.zeros((2, 2)))
    with pytest.raises(DataError, match="no array named 'x', 'y'; it holds 'features'"):
        data.load_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="does not unpickle"):
        data.load_npz(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match="cannot be read as an .npz"):
        data.load_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DataError, match="single array"):
        data.load_npz(tmp_path / "one.npy")


def _write_csv(path, text: str):
    path.write_text(text)
    return path


def test_csv_with_header_and_text_labels(tmp_path):
    path = _write_csv(
        tmp_path / "iris.csv",
        "sepal,petal,species,width\n5.1,1.4,setosa,0.2\n"
        "7.0,4.7,versicolor,1.4\n6.3,6.0,virginica,2.5\n4.9,1.4,setosa,0.2\n",
    )
    x, y, classes = data.load_csv(path, label="species")
    assert classes == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(y, [0, 1, 2, 0])
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(
        x, np.array([[5.1, 1.4, 0.2], [7.0, 4.7, 1.4], [6.3, 6.0, 2.5], [4.9, 1.4, 0.2]], np.float32)
    )


def test_csv_without_header_label_by_index_and_regression_targets(tmp_path):
    path = _write_csv(tmp_path / "t.csv", "0.5,1,2\n1.5,3,4\n2.5,5,6\n")
    x, y, classes = data.load_csv(path, label=0)
    np.testing.assert_array_equal(x, [[1, 2], [3, 4], [5, 6]])
    assert y.dtype == np.float32 and classes is None
    np.testing.assert_array_equal(y, [0.5, 1.5, 2.5])
    x, y, _ = data.load_csv(path)  # the last column, whole numbers: class indices
    assert y.dtype == np.int32 and y.tolist() == [2, 4, 6] and x.shape == (3, 2)


def test_csv_text_labels_without_header_are_not_taken_for_a_header(tmp_path):
    path = _write_csv(tmp_path / "t.csv", "1,2,cat\n3,4,dog\n")
    x, y, classes = data.load_csv(path)
    assert x.shape == (2, 2) and classes == ("cat", "dog")


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("a,b,label\n1,2,0\n", dict(label="target"), "no column 'target'; its columns: a, b, label"),
        ("1,2,0\n3,4,1\n", dict(label="label"), "no header row"),
        ("a,b,label\n1,x,0\n", dict(label="label"), "line 2, column 'b': 'x' is not a number"),
        ("a,b,label\n1,,0\n", dict(label="label"), "line 2, column 'b': '' is not a number"),
        ("a,b,label\n1,2,0\n1,2\n", dict(), "line 3: 2 values, but the table has 3 columns"),
        ("a,b,label\n1,2,0\n", dict(label=5), "invalid value for `label`: 5"),
        ("", dict(), "empty"),
        ("a,b,label\n", dict(header=True), "no data rows"),
        ("a,b,label\n1,2,\n", dict(label="label"), "label column 'label' has empty values"),
    ],
    ids=[
        "missing-label-column",
        "name-without-header",
        "text-feature",
        "empty-feature",
        "ragged-row",
        "label-index-out-of-range",
        "empty-file",
        "header-only",
        "empty-label",
    ],
)
def test_csv_misuse_raises_clear_errors(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message):
        data.load_csv(_write_csv(tmp_path / "bad.csv", text), **kwargs)


def _write_images(root, sizes=((8, 6), (8, 6), (10, 12)), classes=("ant", "bee"), fmt="PNG", rng=None):
    """Images of solid colours: class i's images have red = 40 * (i + 1) and green = 10 * image index."""
    from PIL import Image

    written = {}
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            pixels = np.zeros((h, w, 3), np.uint8)
            pixels[..., 0], pixels[..., 1], pixels[..., 2] = 40 * (c + 1), 10 * i, 200
            path = root / name / f"{i}.{'png' if fmt == 'PNG' else 'jpg'}"
            Image.fromarray(pixels).save(path, fmt)
            written[path] = pixels
    return written


def test_image_folder_loads_rgb_resized_scaled_with_class_names(tmp_path):
    _write_images(tmp_path)
    x, y, x_val, y_val, classes = data.load_image_folder(tmp_path, size=(5, 7), color="rgb")
    assert classes == ("ant", "bee") and x.shape == (6, 3, 5, 7) and x.dtype == np.float32
    assert y.dtype == np.int32 and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert x_val.shape == (0, 3, 5, 7) and y_val.shape == (0,)
    for image, label in zip(x, y):  # solid colours survive the resize; channels first, scaled to [0, 1]
        np.testing.assert_allclose(image[0], 40 * (label + 1) / 255, atol=1e-6)
        np.testing.assert_allclose(image[2], 200 / 255, atol=1e-6)


def test_image_folder_grayscale_jpeg_default_size_is_the_first_images(tmp_path):
    from PIL import Image

    _write_images(tmp_path, fmt="JPEG")
    x, y, *_ = data.load_image_folder(tmp_path)
    assert x.shape == (6, 1, 6, 8)  # the first image is 8 wide, 6 high; the 12 x 10 ones are resized
    gray = np.asarray(Image.fromarray(np.full((1, 1, 3), (40, 0, 200), np.uint8)).convert("L"))[0, 0] / 255
    assert abs(float(x[y == 0][0].mean()) - gray) < 0.03  # JPEG is lossy: close, not exact
    assert 0 <= x.min() and x.max() <= 1


def test_image_folder_validation_split_is_stratified_seeded_and_disjoint(tmp_path):
    _write_images(tmp_path, sizes=[(4, 4)] * 10, classes=("a", "b", "c"))
    x, y, x_val, y_val, _ = data.load_image_folder(tmp_path, validation_split=0.3, seed=1)
    assert np.bincount(y_val).tolist() == [3, 3, 3] and np.bincount(y).tolist() == [7, 7, 7]
    rows = {(lab, im.tobytes()) for im, lab in zip(x, y)}
    assert not rows & {(lab, im.tobytes()) for im, lab in zip(x_val, y_val)}  # green differs per image
    again = data.load_image_folder(tmp_path, validation_split=0.3, seed=1)
    np.testing.assert_array_equal(again[3], y_val)
    np.testing.assert_array_equal(again[2], x_val)
    other = data.load_image_folder(tmp_path, validation_split=0.3, seed=2)
    assert not np.array_equal(other[2], x_val)


def test_an_image_folder_is_told_apart_from_an_idx_folder(tmp_path):
    _write_images(tmp_path / "images")
    assert data.is_image_folder(tmp_path / "images")
    with pytest.raises(DataError, match="is an image folder.*load_image_folder"):
        data.load(tmp_path / "images")
    (tmp_path / "idx" / "extra").mkdir(parents=True)  # a sub-folder beside IDX files: still an IDX folder
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert not data.is_image_folder(tmp_path / "idx")
    assert not data.is_image_folder(tmp_path / "images" / "ant")  # images, no class sub-folders
    assert not data.is_image_folder(tmp_path / "missing")


def test_image_folder_misuse_raises_clear_errors(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        data.load_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="has no sub-folders"):
        data.load_image_folder(tmp_path)
    _write_images(tmp_path, sizes=[(4, 4)])
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="empty_class holds no images"):
        data.load_image_folder(tmp_path)
    (tmp_path / "empty_class" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="broken.png: cannot be read as an image"):
        data.load_image_folder(tmp_path)
    for kwargs, message in [
        (dict(color="cmyk"), "`color`"),
        (dict(size=(0, 4)), "`size`"),
        (dict(validation_split=1.0), "`validation_split`"),
    ]:
        with pytest.raises(DataError, match=message):
            data.load_image_folder(tmp_path, **kwargs)


def test_loaded_images_and_tables_train_through_fit(tmp_path):
    """numpy (n, C, H, W) images of any size and (n, F) tables of any width go straight into fit."""
    import bridge
    from bridge import nets

    _write_images(tmp_path / "images", sizes=[(11, 9)] * 6)
    x, y, x_val, y_val, classes = data.load_image_folder(tmp_path / "images", color="rgb", validation_split=0.34)
    net = nets.sequential([nets.Conv2D(4, 3), nets.Pool2D(2), nets.Output(len(classes))], input_shape=(3, 9, 11))
    history = bridge.fit(net, x, y, epochs=1, batch_size=4, validation=(x_val, y_val), progress=False)
    assert history[0].val_accuracy is not None and bridge.predict(net, x_val).shape == (len(x_val), 2)
    table = _write_csv(
        tmp_path / "t.csv",
        "a,b,c,d,e,label\n" + "".join(f"{i},{i % 3},{i * 0.5},{-i},{i % 2},{i % 2}\n" for i in range(20)),
    )
    x, y, _ = data.load_csv(table, label="label")
    mlp = nets.mlp(n_in=5, hidden=(8,), n_classes=2)
    assert np.isfinite(bridge.fit(mlp, x, y, epochs=1, batch_size=8, progress=False)[0].loss)
