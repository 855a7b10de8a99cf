"""Model zips: plain-JSON metadata, legacy (Java-serialised) metadata decoded without a JVM, hostile zips refused,
atomic writes with one file mode and no leftovers."""

from __future__ import annotations

import json
import os
import stat
import time
import zipfile

import numpy as np
import pytest

import bridge
from bridge import nets
from bridge.errors import DataError, ModelFileError
from bridge.jvm import jclass
from bridge.model.modelfile import LEGACY_METADATA_ENTRY, METADATA_ENTRY, TRAINING_STATE_ENTRY, java_serialized_string
from bridge.nets import Network


@pytest.fixture(scope="module")
def net():
    return nets.sequential([nets.Dense(8), nets.Output(3)], 12, seed=3, name="tiny", labels=["a", "b", "c"])


def _serialize(java_object) -> bytes:
    """Java's own ObjectOutputStream bytes for a Java object (what ModelSerializer.addObjectToFile stores)."""
    buffer = jclass("java.io.ByteArrayOutputStream")()
    out = jclass("java.io.ObjectOutputStream")(buffer)
    out.writeObject(java_object)
    out.close()
    return bytes(buffer.toByteArray())


def _legacy_zip(net, path, payload=None):
    """A zip as save() wrote it before the plain-JSON entry: metadata through DL4J's addObjectToFile."""
    serializer = jclass("org.deeplearning4j.util.ModelSerializer")
    serializer.writeModel(net.java, jclass("java.io.File")(str(path)), True)
    text = (
        payload
        if payload is not None
        else json.dumps({"name": "old", "labels": ["x", "y", "z"], "input_shapes": {"input": [12]}})
    )
    serializer.addObjectToFile(jclass("java.io.File")(str(path)), "dl4j-bridge.json", jclass("java.lang.String")(text))
    return path


def _nested_hash_sets(depth: int = 25):
    """The classic deserialization bomb: ~1.5 KB that costs ObjectInputStream ~2**depth hashCode calls."""
    HashSet = jclass("java.util.HashSet")
    root = HashSet()
    s1, s2 = root, HashSet()
    for _ in range(depth):
        t1, t2 = HashSet(), HashSet()
        t1.add("foo")
        s1.add(t1), s1.add(t2), s2.add(t1), s2.add(t2)
        s1, s2 = t1, t2
    return root


def test_save_writes_plain_json_metadata_and_load_reads_it(net, tmp_path):
    path = bridge.save(net, tmp_path / "m.zip")
    with zipfile.ZipFile(path) as archive:
        assert not any(n.startswith("objects/") for n in archive.namelist())
        meta = json.loads(archive.read(METADATA_ENTRY).decode("utf-8"))
    assert meta == {"name": "tiny", "labels": ["a", "b", "c"], "input_shapes": None}
    loaded = bridge.load(path)
    assert (loaded.name, list(loaded.labels)) == ("tiny", ["a", "b", "c"])
    x = np.random.default_rng(0).random((4, 12), dtype=np.float32)
    np.testing.assert_array_equal(bridge.predict(loaded, x), bridge.predict(net, x))


def test_a_legacy_zip_with_java_serialised_metadata_still_loads(net, tmp_path):
    path = _legacy_zip(net, tmp_path / "old.zip")
    with zipfile.ZipFile(path) as archive:
        assert LEGACY_METADATA_ENTRY in archive.namelist()
    loaded = bridge.load(path)
    assert loaded.name == "old"
    assert list(loaded.labels) == ["x", "y", "z"]
    assert loaded.input_shapes == {"input": (12,)}


@pytest.mark.parametrize(
    "text",
    ["plain", "", "é ü \u4e2d \U0001f600 nul\x00", "x" * 70_000],
    ids=["ascii", "empty", "non-ascii-and-nul", "long-string"],
)
def test_java_serialised_strings_decode_exactly_as_java_wrote_them(text):
    assert java_serialized_string(_serialize(jclass("java.lang.String")(text))) == text


def test_the_entry_names_are_the_java_readers():
    """save() writes the entries that ai.dl4jbridge.modelzip.ModelZip (what load() reads through) knows."""
    model_zip = jclass("ai.dl4jbridge.modelzip.ModelZip")
    assert (METADATA_ENTRY, LEGACY_METADATA_ENTRY, TRAINING_STATE_ENTRY) == (
        str(model_zip.METADATA),
        str(model_zip.LEGACY_METADATA),
        str(model_zip.TRAINING_STATE),
    )


def test_a_nested_hash_set_bomb_in_the_metadata_is_refused_fast_without_deserializing(net, tmp_path):
    bomb = _serialize(_nested_hash_sets())
    assert len(bomb) < 2000
    path = tmp_path / "bomb.zip"
    jclass("org.deeplearning4j.util.ModelSerializer").writeModel(net.java, jclass("java.io.File")(str(path)), True)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(LEGACY_METADATA_ENTRY, bomb)
    # CPU time of this thread, where a deserialization (Java's, in a JNI call, or a Python decoder's) would spin:
    # unlike wall time, a busy machine does not stretch it.
    start = time.thread_time()
    with pytest.raises(ModelFileError, match="not a String; it is refused without being deserialized"):
        bridge.load(path)
    assert time.thread_time() - start < 2.0


def _with_entry(net, tmp_path, name, content: bytes):
    path = tmp_path / "m.zip"
    jclass("org.deeplearning4j.util.ModelSerializer").writeModel(net.java, jclass("java.io.File")(str(path)), True)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(name, content)
    return path


@pytest.mark.parametrize(
    "name, content, message",
    [
        (METADATA_ENTRY, b"{not json", "not valid JSON"),
        (METADATA_ENTRY, b"\xff\xfe\x00", "not valid JSON|utf-8"),
        (METADATA_ENTRY, b"[1, 2]", "expected a JSON object"),
        (METADATA_ENTRY, json.dumps({"name": 5}).encode(), "`name` must be a string"),
        (METADATA_ENTRY, json.dumps({"labels": "abc"}).encode(), "`labels` must be a list of strings"),
        (METADATA_ENTRY, json.dumps({"input_shapes": {"input": [-1]}}).encode(), "`input_shapes`"),
        (METADATA_ENTRY, json.dumps({"input_shapes": {"input": [2**40]}}).encode(), "`input_shapes`"),
        (METADATA_ENTRY, b" " * (2 << 20), "more than the 1048576 allowed"),
        (LEGACY_METADATA_ENTRY, b'{"name": "raw json, not serialized"}', "not a Java serialization stream"),
        (LEGACY_METADATA_ENTRY, b"\xac\xed\x00\x05t\x00\x10short", "declares 16"),
        ("preprocessor.bin", b"\xac\xed\x00\x05sr\x00\x05Dummy", "never deserializes objects"),
    ],
    ids=[
        "bad-json",
        "not-utf8",
        "json-list",
        "name-not-string",
        "labels-not-list",
        "negative-dim",
        "huge-dim",
        "oversized",
        "legacy-not-serialized",
        "legacy-truncated",
        "preprocessor-bin",
    ],
)
def test_bad_zip_metadata_raises_model_file_error(net, tmp_path, name, content, message):
    path = _with_entry(net, tmp_path, name, content)
    with pytest.raises(ModelFileError, match=message):
        bridge.load(path)


def test_an_entry_hidden_from_the_zip_directory_is_refused(net, tmp_path):
    """Java's ZipInputStream reads local headers, Python the central directory: bytes between them are refused."""
    good = bridge.save(net, tmp_path / "good.zip").read_bytes()
    hidden = tmp_path / "hidden.zip"
    with zipfile.ZipFile(hidden, "w") as archive:
        archive.writestr("preprocessor.bin", b"\xac\xed\x00\x05")
    smuggled = hidden.read_bytes()
    smuggled_entry = smuggled[: smuggled.index(b"PK\x01\x02")]
    # Prepend a local entry that the directory does not list; zipfile still opens the file (offsets shift).
    path = tmp_path / "smuggled.zip"
    path.write_bytes(smuggled_entry + good)
    with pytest.raises(ModelFileError, match="not a well-formed model zip"):
        bridge.load(path)


def test_loading_a_directory_or_saving_to_one_says_so(net, tmp_path):
    with pytest.raises(ModelFileError, match="is a directory"):
        bridge.save(net, tmp_path)
    with pytest.raises(ModelFileError, match="directory"):
        bridge.load(tmp_path)
    with pytest.raises(ModelFileError, match="is a directory"):
        bridge.export_onnx(net, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_saved_models_and_onnx_files_get_the_same_mode_from_the_umask(net, tmp_path):
    previous = os.umask(0o027)
    try:
        zip_mode = stat.S_IMODE(bridge.save(net, tmp_path / "m.zip").stat().st_mode)
        onnx_mode = stat.S_IMODE(bridge.export_onnx(net, tmp_path / "m.onnx").path.stat().st_mode)
    finally:
        os.umask(previous)
    assert zip_mode == onnx_mode == 0o640


def test_stale_temporaries_of_killed_writes_are_removed_by_the_next_write(net, tmp_path):
    target = tmp_path / "m.zip"
    stale, fresh, other = tmp_path / ".m.zip.abc123.tmp", tmp_path / ".m.zip.def456.tmp", tmp_path / ".x.zip.a.tmp"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"half a zip")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    bridge.save(net, target)
    names = sorted(p.name for p in tmp_path.iterdir())
    # fresh: possibly another process's write under way; other: another target's, not ours to judge
    assert names == sorted([".m.zip.def456.tmp", ".x.zip.a.tmp", "m.zip"])


def test_a_failed_save_leaves_no_temporary_file_and_the_old_model(net, tmp_path):
    path = bridge.save(net, tmp_path / "m.zip")
    before = path.read_bytes()
    broken = Network(net.java, name="tiny")
    broken.name = object()  # DL4J writes its entries, then the metadata fails: inside the atomic write
    with pytest.raises(TypeError, match="not JSON serializable"):
        bridge.save(broken, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]


def test_save_and_load_leave_no_dl4j_temp_files_in_the_temp_folder(net, tmp_path):
    import tempfile

    folder = tempfile.gettempdir()
    before = set(os.listdir(folder))
    bridge.load(bridge.save(net, tmp_path / "m.zip"))
    bridge.export_onnx(tmp_path / "m.zip", tmp_path / "m.onnx")
    assert {n for n in set(os.listdir(folder)) - before if not n.startswith("pytest")} == set()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 2**31}, "epochs"),
        ({"batch_size": 2**31}, "batch_size"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_counts_and_seeds_beyond_java_ranges_raise_data_error(net, kwargs, message):
    x, y = np.zeros((4, 12), np.float32), np.zeros(4, np.int32)
    with pytest.raises(DataError, match=message):
        bridge.fit(net, x, y, progress=False, **kwargs)


def test_a_seed_beyond_a_java_long_raises_data_error_when_building():
    with pytest.raises(DataError, match="seed"):
        nets.mlp(seed=2**63)


@pytest.mark.parametrize("call", ["fit", "predict", "evaluate", "onnx"])
def test_float64_values_that_overflow_float32_are_refused_naming_the_input(net, tmp_path, call):
    x = np.zeros((4, 12))
    x[2, 5] = 1e300
    y = np.zeros(4, np.int32)
    with pytest.raises(DataError, match=r"x holds 1 NaN or infinite.*after the cast to float32.*1e\+300.*\(2, 5\)"):
        if call == "fit":
            bridge.fit(net, x, y, progress=False)
        elif call == "predict":
            bridge.predict(net, x)
        elif call == "evaluate":
            bridge.evaluate(net, x, y)
        else:
            bridge.OnnxModel(bridge.export_onnx(net, tmp_path / "m.onnx").path).predict(x)


def test_a_write_killed_with_sigkill_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    """A real SIGKILL mid-write (a child process inside atomic_path); the next write to the target cleans up."""
    import signal
    import subprocess
    import sys

    from bridge.files import write_atomic

    target = tmp_path / "model.onnx"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from bridge.files import atomic_path\n"
                "with atomic_path(sys.argv[1]) as tmp:\n"
                "    tmp.write_bytes(b'half'); print('writing', flush=True); time.sleep(60)\n"
            ),
            str(target),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    leftovers = list(tmp_path.glob(".model.onnx.*.tmp"))
    assert len(leftovers) == 1 and not target.exists()
    write_atomic(target, b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert target.read_bytes() == b"whole"
