"""Hostile files (issue 26, items 4, 5, 6 and 8): forged .npy/.npz arrays, model zips and model repositories, and
absurd image sizes. Each is a real file crafted in tmp_path; each must end in a bridge.errors exception naming the
problem (one line from the CLI, a one-line start-up failure from the service), never a raw traceback, a huge
allocation or a silent load."""

from __future__ import annotations

import io
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge import data
from bridge.data.npfiles import memory_cap, open_npz, read_npy
from bridge.errors import DataError, ModelFileError
from bridge.jvm import java_home
from bridge.serve.service import ServiceError, check_model_repository, service_jar

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
MLP_ONNX = VECTORS / "mlp" / "model.onnx"
MLP_ZIP = VECTORS / "mlp" / "model.zip"


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "bridge", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def _assert_one_line(result, command: str, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dl4j-bridge {command}: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _npy_header(shape, descr="<f4") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


# ---- item 4: .npy / .npz -------------------------------------------------------------------------------------


def test_a_npy_header_declaring_more_than_the_file_holds_is_one_line_from_predict(tmp_path):
    forged = tmp_path / "forged.npy"
    forged.write_bytes(_npy_header((10**11, 784)) + bytes(64))
    with pytest.raises(DataError, match=r"declares shape \(100000000000, 784\) of float32 .* holds 64 bytes"):
        read_npy(forged)
    _assert_one_line(_cli("predict", MLP_ONNX, forged), "predict", "forged.npy", "truncated or forged")


def test_a_npz_member_declaring_more_than_it_holds_is_a_data_error(tmp_path):
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", _npy_header((10**11, 784)) + bytes(64))
        archive.writestr("y.npy", _npy_header((2,), "<i4") + bytes(8))
    with pytest.raises(DataError, match=r"forged.npz\['x'\]: its header declares shape \(100000000000, 784\)"):
        data.load_npz(path)


def test_an_array_larger_than_the_memory_cap_is_refused_before_allocating_but_can_be_mapped(tmp_path):
    """A sparse 1 TiB file whose header tells the truth: no size check can refuse it, the memory cap does."""
    rows = (1 << 40) // (784 * 4)
    path = tmp_path / "huge.npy"
    header = _npy_header((rows, 784))
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + rows * 784 * 4)
    assert rows * 784 * 4 > memory_cap()
    with pytest.raises(DataError, match="this machine can spare .* refused before allocating"):
        read_npy(path)
    mapped = read_npy(path, mmap=True)  # NpyStream's way: nothing is allocated
    assert mapped.shape == (rows, 784) and float(mapped[rows - 1, 783]) == 0.0
    del mapped
    _assert_one_line(_cli("predict", MLP_ONNX, path), "predict", "huge.npy", "refused before allocating")


def test_pickle_bytes_in_a_npz_member_are_refused_never_unpickled(tmp_path):
    path = tmp_path / "pickled.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", pickle.dumps(np.zeros((3, 4), np.float32)))
        archive.writestr("y.npy", _npy_header((3,), "<i4") + bytes(12))
    with pytest.raises(DataError, match=r"pickled.npz\['x'\] is not a .npy array \(no numpy magic"):
        data.load_npz(path)
    _assert_one_line(_cli("predict", MLP_ONNX, path), "predict", "is not a .npy array")


def test_object_dtypes_foreign_members_and_duplicates_are_refused(tmp_path):
    objects = tmp_path / "objects.npy"
    objects.write_bytes(_npy_header((2,), "|O") + pickle.dumps([1, 2]))
    with pytest.raises(DataError, match="holds pickled Python objects .* does not unpickle"):
        read_npy(objects)
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("x.pkl", b"anything")
    with pytest.raises(DataError, match="member 'x.pkl' is not a .npy array"):
        open_npz(foreign)
    twice = tmp_path / "twice.npz"
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 2), np.float32))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(twice, "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())
        archive.writestr("x.npy", buffer.getvalue())
    with pytest.raises(DataError, match="member 'x.npy' appears twice"):
        data.load_npz(twice, keys=("x",))


def test_a_deflated_member_inflating_far_beyond_its_size_is_refused_before_inflating(tmp_path):
    """256 MiB of zeros deflate to about 250 KB: a zip bomb's ratio (real data does not compress 100:1)."""
    path = tmp_path / "bomb.npz"
    rows = (256 << 20) // (784 * 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w") as member:
            member.write(_npy_header((rows, 784)))
            zeros = bytes(784 * 4 * 1024)
            for _ in range(rows // 1024):
                member.write(zeros)
            member.write(bytes(784 * 4 * (rows % 1024)))
        archive.writestr("y.npy", _npy_header((rows,), "<i4"))
    info = zipfile.ZipFile(path).getinfo("x.npy")
    assert info.file_size > 100 * info.compress_size
    with pytest.raises(DataError, match=r"bomb.npz\['x'\] inflates to .* refused as a zip bomb"):
        data.load_npz(path)
    _assert_one_line(_cli("predict", MLP_ONNX, path, "--key", "x"), "predict", "refused as a zip bomb")


def test_x_and_y_with_different_row_counts_are_refused(tmp_path):
    np.savez(tmp_path / "pairs.npz", x=np.zeros((3, 4), np.float32), y=np.zeros(2, np.int32))
    with pytest.raises(DataError, match=r"'x' has shape \(3, 4\) and 'y' \(2,\): .* same number of rows"):
        data.load_npz(tmp_path / "pairs.npz")
    np.savez(
        tmp_path / "four.npz",
        x_train=np.zeros((4, 2)),
        y_train=np.zeros(4),
        x_test=np.zeros((2, 2)),
        y_test=np.zeros(3),
    )
    with pytest.raises(DataError, match="'x_test' has shape"):
        data.load_npz(tmp_path / "four.npz")


def test_honest_arrays_still_load_exactly(tmp_path):
    x = np.random.default_rng(0).random((5, 3, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", np.asfortranarray(x))
    np.testing.assert_array_equal(read_npy(tmp_path / "x.npy"), x)
    np.savez_compressed(tmp_path / "xy.npz", x=x, y=np.arange(5))
    loaded_x, loaded_y = data.load_npz(tmp_path / "xy.npz")
    np.testing.assert_array_equal(loaded_x, x)
    np.testing.assert_array_equal(loaded_y, np.arange(5))


# ---- item 5: model zips --------------------------------------------------------------------------------------


def _mlp_entries() -> dict[str, bytes]:
    with zipfile.ZipFile(MLP_ZIP) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return path


def test_a_configuration_nested_100000_deep_is_refused_without_recursion(tmp_path):
    entries = _mlp_entries()
    entries["configuration.json"] = b"[" * 100_000 + b"]" * 100_000
    path = _write_zip(tmp_path / "deep.zip", list(entries.items()))
    with pytest.raises(ModelFileError, match="configuration.json nests JSON deeper than 64 levels"):
        bridge.load(path)
    _assert_one_line(_cli("export", path, tmp_path / "out.onnx"), "export", "nests JSON deeper")


def test_a_zip_with_a_bogus_first_configuration_is_refused(tmp_path):
    entries = _mlp_entries()
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = _write_zip(tmp_path / "twice.zip", [("configuration.json", b"{}"), *entries.items()])
    with pytest.raises(ModelFileError, match="entry configuration.json appears twice"):
        bridge.load(path)


def test_parameters_declaring_4_gb_are_refused_by_name(tmp_path):
    entries = _mlp_entries()
    coefficients = bytearray(entries["coefficients.bin"])
    # Nd4j.write's layout: the shape buffer (UTF mode, length 6, UTF "LONG", 6 longs), then the data buffer's mode
    data_length_at = (2 + 16) + 8 + (2 + 4) + 6 * 8 + (2 + 16)
    assert struct.unpack(">q", coefficients[data_length_at : data_length_at + 8]) == (235146,)
    coefficients[data_length_at : data_length_at + 8] = struct.pack(">q", 1_000_000_000)
    entries["coefficients.bin"] = bytes(coefficients)
    path = _write_zip(tmp_path / "huge.zip", list(entries.items()))
    message = r"entry coefficients.bin is not the array it claims to be: .* 1000000000 elements of FLOAT \(4000000000"
    with pytest.raises(ModelFileError, match=message):
        bridge.load(path)
    _assert_one_line(_cli("export", path, tmp_path / "out.onnx"), "export", "coefficients.bin")
    assert bridge.load(MLP_ZIP).java is not None  # the honest zip still loads


def test_onnx_labels_nested_100000_deep_are_a_model_file_error(tmp_path):
    import onnx

    model = onnx.load(str(MLP_ONNX))
    del model.metadata_props[:]
    model.metadata_props.add(key="labels", value="[" * 100_000 + "]" * 100_000)
    onnx.save(model, str(tmp_path / "deep.onnx"))
    with pytest.raises(ModelFileError, match='metadata "labels" is not JSON'):
        bridge.OnnxModel(tmp_path / "deep.onnx")


# ---- item 6: model repositories ------------------------------------------------------------------------------


def _repository(tmp_path: Path) -> tuple[Path, Path]:
    """(a repository with digits/2/model.onnx, a model folder outside it)."""
    repo = tmp_path / "repo"
    (repo / "digits" / "2").mkdir(parents=True)
    shutil.copy(MLP_ONNX, repo / "digits" / "2" / "model.onnx")
    outside = tmp_path / "elsewhere" / "3"
    outside.mkdir(parents=True)
    shutil.copy(MLP_ONNX, outside / "model.onnx")
    return repo, outside


def _escapes(tmp_path: Path) -> list[tuple[Path, str]]:
    """Repositories with a link out of them at each level, and the refusal each must give."""
    cases = []
    repo, outside = _repository(tmp_path / "a")
    (repo / "stolen").symlink_to(outside.parent)
    cases.append((repo, f"model folder {repo / 'stolen'} is a symbolic link to"))
    repo, outside = _repository(tmp_path / "b")
    (repo / "digits" / "3").symlink_to(outside)
    cases.append((repo, f"version folder {repo / 'digits' / '3'} is a symbolic link to"))
    repo, outside = _repository(tmp_path / "c")
    (repo / "digits" / "2" / "model.onnx").unlink()
    (repo / "digits" / "2" / "model.onnx").symlink_to(outside / "model.onnx")
    cases.append((repo, f"model file {repo / 'digits' / '2' / 'model.onnx'} is a symbolic link to"))
    repo, outside = _repository(tmp_path / "d")
    (outside / "config.pbtxt").write_text("max_batch_size: 8\n")
    (repo / "digits" / "config.pbtxt").symlink_to(outside / "config.pbtxt")  # Triton's config, read by the service
    cases.append((repo, f"config file {repo / 'digits' / 'config.pbtxt'} is a symbolic link to"))
    return cases


def _misnamed(tmp_path: Path) -> Path:
    repo, _ = _repository(tmp_path / "m")
    for name in ("-2", "abc", "0", "99999999999999999999"):
        (repo / "digits" / name).mkdir()
    return repo


MISNAMED = "has version folders that are not positive integers: -2, 0, 99999999999999999999, abc"


def test_python_refuses_links_out_of_the_repository_and_misnamed_versions(tmp_path):
    repo, _ = _repository(tmp_path / "ok")
    (repo / "alias").symlink_to(repo / "digits")  # a link inside the repository is fine
    assert [(n, v) for n, v, _ in check_model_repository(repo)] == [("alias", "2"), ("digits", "2")]
    for escaping, message in _escapes(tmp_path):
        with pytest.raises(ServiceError, match="outside the --model-repository") as caught:
            check_model_repository(escaping)
        assert message in str(caught.value)
    with pytest.raises(ServiceError, match=MISNAMED):
        check_model_repository(_misnamed(tmp_path))
    result = _cli(
        "serve", MLP_ONNX, "--port", "0", f"--service-option=--model-repository={_misnamed(tmp_path / 'cli')}"
    )
    _assert_one_line(result, "serve", MISNAMED)


def test_the_java_service_refuses_the_same_repositories_in_one_line(tmp_path):
    java = [str(java_home() / "bin" / "java"), "-jar", str(service_jar()), "--port", "0"]
    cases = [*_escapes(tmp_path), (_misnamed(tmp_path), MISNAMED)]
    for repo, message in cases:
        done = subprocess.run([*java, "--model-repository", str(repo)], capture_output=True, text=True, timeout=90)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1, done.stderr
        assert message in lines[0] and "\tat " not in done.stderr, done.stderr


# ---- item 8: image sizes -------------------------------------------------------------------------------------


def test_an_absurd_image_size_is_refused_before_pil_resizes(tmp_path):
    from PIL import Image

    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "imgs" / "cat" / "a.png")
    with pytest.raises(DataError, match=r"100000 x 100000 is 10,000,000,000 pixels per image, more than"):
        data.load_image_folder(tmp_path / "imgs", size=(100000, 100000))
    # Each size allowed, but too many images of it for memory: refused before the first is decoded.
    for i in range(int(memory_cap() // (7000 * 7000 * 3 * 4)) + 1):
        Image.new("L", (8, 8)).save(tmp_path / "imgs" / "cat" / f"b{i}.png")
    with pytest.raises(DataError, match="make .* bytes of float32, more than the .* pass a smaller `size`"):
        data.load_image_folder(tmp_path / "imgs", size=(7000, 7000), color="rgb")
    x, *_ = data.load_image_folder(tmp_path / "imgs", size=(4, 6))
    assert x.shape[1:] == (1, 4, 6)
