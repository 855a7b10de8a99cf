"""DL4J model zips: save() and load(), with nothing read from a file ever Java-deserialised.

A zip holds DL4J's entries (configuration.json, coefficients.bin, updaterState.bin, noParams.marker) and
our metadata, `dl4j-bridge.json`: plain UTF-8 JSON {"name", "labels", "input_shapes"}. Zips written before
that entry existed keep the metadata in `objects/dl4j-bridge.json`, a java.lang.String that DL4J's
ModelSerializer.addObjectToFile wrote with Java serialization: it is decoded here, in Python, and only when
it is exactly one serialized String; anything else in it is refused without reaching a JVM.

DL4J's restore itself deserializes one entry, the legacy `preprocessor.bin` (ObjectInputStream, any class),
and reads the zip with ZipInputStream from its local headers, where Python reads the central directory:
load() refuses zips holding `preprocessor.bin`, and zips whose local headers and directory disagree (a
hidden entry), before DL4J sees the file. DL4J never reads `normalizer.bin` or `objects/` on this path.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

from ..errors import ModelFileError, java_boundary, java_errors
from ..files import atomic_path
from ..jvm import jclass
from .network import Network, as_java

__all__ = ["save", "load", "METADATA_ENTRY"]

METADATA_ENTRY = "dl4j-bridge.json"
LEGACY_METADATA_ENTRY = "objects/dl4j-bridge.json"
TRAINING_STATE_ENTRY = "dl4j-bridge-training.json"
METADATA_MAX_BYTES = 1 << 20
# Entries DL4J loads into memory whole, besides the parameters: a sanity cap against zip bombs.
OTHER_ENTRY_MAX_BYTES = 256 << 20
PARAMETER_ENTRIES = ("coefficients.bin", "updaterState.bin")
DESERIALIZED_BY_DL4J = ("preprocessor.bin",)


@java_boundary("save", ModelFileError)
def save(net, path: str | os.PathLike, training_state: dict | None = None) -> Path:
    """Write the DL4J model zip (with updater state) atomically: a failure leaves any old file intact.

    net: a MultiLayerNetwork or a ComputationGraph; a bridge Network's name, labels and input_shapes are
    kept beside it (dl4j-bridge.json in the zip, plain JSON), and what resuming needs in
    dl4j-bridge-training.json (see _training_state_of)."""
    java, path = as_java(net), Path(path)
    with atomic_path(path, "model") as tmp:
        with java_errors(f"save {path}", ModelFileError):
            jclass("org.deeplearning4j.util.ModelSerializer").writeModel(java, jclass("java.io.File")(str(tmp)), True)
        if isinstance(net, Network):
            with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(METADATA_ENTRY, json.dumps(_metadata_of(net)).encode("utf-8"))
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(TRAINING_STATE_ENTRY, json.dumps(_training_state_of(java, training_state)).encode("utf-8"))
    return path


@java_boundary("load", ModelFileError)
def load(path: str | os.PathLike) -> Network:
    """Read a DL4J model zip written by save() or by DL4J itself: a ComputationGraph when its
    configuration.json has "vertices", else a MultiLayerNetwork. ModelFileError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}." + (" It is a directory." if path.is_dir() else ""))
    graph, meta = _inspect(path)
    kind = "ComputationGraph" if graph else "MultiLayerNetwork"
    with java_errors(f"load {path}", ModelFileError):
        serializer = jclass("org.deeplearning4j.util.ModelSerializer")
        try:
            restore = serializer.restoreComputationGraph if graph else serializer.restoreMultiLayerNetwork
            java = restore(jclass("java.io.File")(str(path)), True)
        except Exception as exc:  # DL4J reports a bad zip as IllegalStateException, NPE, ...
            if not hasattr(exc, "getClass"):
                raise
            raise ModelFileError(
                f"{path} is not a readable DL4J {kind} zip: {exc.getClass().getName()}: {exc.getMessage()}"
            ) from exc
    net = Network(
        java, name=meta.get("name") or path.stem, labels=meta.get("labels"), input_shapes=meta.get("input_shapes")
    )
    net.training_state = _read_training_state(path)
    return net


def _training_state_of(java, state: dict | None) -> dict:
    """What resuming needs beside DL4J's entries (parameters, updater state and the epoch/iteration counters
    live in DL4J's own): the counters again, for people and tools, and the caller's state (seed, epoch logs).
    The shuffle, dropout and augmentation seeds are pure functions of (seed, epoch counter), so no
    random-generator state needs saving."""
    networks = jclass("ai.dl4jbridge.train.Networks")
    return {
        "format": 1,
        "epoch_count": int(networks.epochCount(java)),
        "iteration_count": int(networks.iterationCount(java)),
        **(state or {}),
    }


def _read_training_state(path: Path) -> dict | None:
    """The checked training-state entry, or None when the zip has none (DL4J's own zips, older saves)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if TRAINING_STATE_ENTRY not in archive.namelist():
                return None
            if archive.getinfo(TRAINING_STATE_ENTRY).file_size > METADATA_MAX_BYTES:
                raise ModelFileError(
                    f"{path}: its {TRAINING_STATE_ENTRY} entry is larger than {METADATA_MAX_BYTES >> 20} MiB."
                )
            state = json.loads(archive.read(TRAINING_STATE_ENTRY).decode("utf-8"))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: its {TRAINING_STATE_ENTRY} entry is damaged ({exc}).") from exc
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: its {TRAINING_STATE_ENTRY} entry is not a JSON object.")
    return state


def _metadata_of(net: Network) -> dict:
    shapes = {k: list(v) for k, v in net.input_shapes.items()} if getattr(net, "input_shapes", None) else None
    return {"name": net.name, "labels": list(net.labels) if net.labels else None, "input_shapes": shapes}


def _inspect(path: Path) -> tuple[bool, dict]:
    """(whether the zip holds a ComputationGraph, its checked metadata); ModelFileError when the zip is unsafe
    or unreadable. Reads the directory, configuration.json and the metadata entry only."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(
            f"{path} is not a DL4J model zip (not a zip archive; truncated or another format?)."
        ) from exc
    with archive:
        infos = archive.infolist()
        _check_entries(path, infos)
        _check_local_headers(path, infos)
        try:
            conf = json.loads(archive.read("configuration.json"))
        except KeyError as exc:
            raise ModelFileError(f"{path} is not a DL4J model zip: it has no configuration.json.") from exc
        except (ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:  # corrupt entry, bad JSON
            raise ModelFileError(
                f"{path} is not a readable DL4J model zip: its configuration.json is damaged ({exc})."
            ) from exc
        meta = _read_metadata(path, archive)
    if not isinstance(conf, dict):
        raise ModelFileError(f"{path} is not a DL4J model zip: its configuration.json holds no configuration.")
    return "vertices" in conf, meta


def _check_entries(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        if info.filename in DESERIALIZED_BY_DL4J:
            raise ModelFileError(
                f"{path} holds {info.filename}, a Java-serialised object that DL4J's restore would "
                "deserialize; dl4j-bridge never deserializes objects from a file. Remove the entry "
                f"(zip -d {path.name} {info.filename}) if you trust the file."
            )
        if info.filename not in PARAMETER_ENTRIES and info.file_size > OTHER_ENTRY_MAX_BYTES:
            raise ModelFileError(
                f"{path}: entry {info.filename} declares {info.file_size} bytes, more than the "
                f"{OTHER_ENTRY_MAX_BYTES >> 20} MiB a model's non-parameter entry may hold."
            )


def _check_local_headers(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """The entries DL4J's ZipInputStream will see (local headers, from the start) are those of the directory.

    The entries must tile the file from offset 0 up to the central directory, each local header naming what
    the directory names: nothing hidden between them, no name that reads differently to Java."""
    position = 0
    with open(path, "rb") as f:
        for info in sorted(infos, key=lambda i: i.header_offset):
            f.seek(position)
            header = f.read(30)
            if info.header_offset != position or len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise _layout_error(path, f"entry {info.filename} is not where its local header should be")
            (flags,) = struct.unpack("<H", header[6:8])
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            name = f.read(name_length).decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            if name != info.orig_filename:
                raise _layout_error(path, f"local header names {name!r}, the directory {info.orig_filename!r}")
            position += 30 + name_length + extra_length + info.compress_size
            if flags & 0x08:  # a data descriptor follows the data, with or without its signature
                f.seek(position)
                zip64 = max(info.file_size, info.compress_size) >= 0xFFFFFFFF
                position += (16 if f.read(4) == b"PK\x07\x08" else 12) + (8 if zip64 else 0)
        f.seek(position)
        if f.read(4) not in (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
            raise _layout_error(path, "data lies between the last entry and the directory")


def _layout_error(path: Path, detail: str) -> ModelFileError:
    return ModelFileError(
        f"{path} is not a well-formed model zip: {detail}. Its entries would read differently "
        "to DL4J than to this check, so it is refused."
    )


def _read_metadata(path: Path, archive: zipfile.ZipFile) -> dict:
    """name, labels and input_shapes saved by save(), checked; {} for a zip written by DL4J itself."""
    names = set(archive.namelist())
    entry = (
        METADATA_ENTRY if METADATA_ENTRY in names else LEGACY_METADATA_ENTRY if LEGACY_METADATA_ENTRY in names else None
    )
    if entry is None:
        return {}
    size = archive.getinfo(entry).file_size
    if size > METADATA_MAX_BYTES:
        raise ModelFileError(
            f"{path}: metadata entry {entry} holds {size} bytes, more than the "
            f"{METADATA_MAX_BYTES} allowed; the file is damaged or not ours."
        )
    try:
        with archive.open(entry) as stream:
            raw = stream.read(METADATA_MAX_BYTES + 1)  # the declared size is not trusted either
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ModelFileError(f"{path}: metadata entry {entry} is damaged ({exc}).") from exc
    if len(raw) > METADATA_MAX_BYTES:
        raise ModelFileError(f"{path}: metadata entry {entry} is larger than {METADATA_MAX_BYTES} bytes.")
    try:
        text = raw.decode("utf-8") if entry == METADATA_ENTRY else java_serialized_string(raw, path)
        meta = json.loads(text)
    except ValueError as exc:  # not UTF-8, not JSON
        raise ModelFileError(f"{path}: metadata entry {entry} is not valid JSON ({exc}).") from exc
    return _checked_metadata(meta, path, entry)


def _checked_metadata(meta, path: Path, entry: str) -> dict:
    def bad(detail: str) -> ModelFileError:
        return ModelFileError(f"{path}: metadata entry {entry} is malformed: {detail}.")

    if not isinstance(meta, dict):
        raise bad(f"expected a JSON object, found {type(meta).__name__}")
    name, labels, shapes = meta.get("name"), meta.get("labels"), meta.get("input_shapes")
    if name is not None and not isinstance(name, str):
        raise bad(f"`name` must be a string, found {type(name).__name__}")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(v, str) for v in labels)):
        raise bad("`labels` must be a list of strings")
    if shapes is not None:
        if not isinstance(shapes, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(_positive_int(d) for d in v)
            for k, v in shapes.items()
        ):
            raise bad("`input_shapes` must map input names to lists of positive integers")
        shapes = {k: tuple(v) for k, v in shapes.items()}
    return {"name": name, "labels": labels, "input_shapes": shapes}


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


_STREAM_MAGIC = b"\xac\xed\x00\x05"
_TC_STRING, _TC_LONGSTRING = 0x74, 0x7C


def java_serialized_string(data: bytes, path="the model file") -> str:
    """The java.lang.String that `data` (an ObjectOutputStream of exactly one String) holds, decoded without a JVM.

    Anything else (another class, trailing objects, a truncated stream) raises ModelFileError: the bytes are
    never handed to Java's ObjectInputStream."""
    if data[:4] != _STREAM_MAGIC or len(data) < 7:
        raise ModelFileError(
            f"{path}: legacy metadata entry {LEGACY_METADATA_ENTRY} is not a Java serialization "
            "stream; the file is damaged or not ours."
        )
    tag = data[4]
    if tag == _TC_STRING:
        length, start = int.from_bytes(data[5:7], "big"), 7
    elif tag == _TC_LONGSTRING and len(data) >= 13:
        length, start = int.from_bytes(data[5:13], "big"), 13
    else:
        raise ModelFileError(
            f"{path}: legacy metadata entry {LEGACY_METADATA_ENTRY} holds a serialized Java object "
            f"(type code 0x{tag:02x}), not a String; it is refused without being deserialized."
        )
    if start + length != len(data):
        raise ModelFileError(
            f"{path}: legacy metadata entry {LEGACY_METADATA_ENTRY} holds {len(data) - start} bytes "
            f"after its header where the String declares {length}: refused."
        )
    return _modified_utf8(data[start:], path)


def _modified_utf8(body: bytes, path) -> str:
    """Java's modified UTF-8 (NUL as C0 80, supplementary characters as two 3-byte surrogates) to str."""
    try:
        text = body.replace(b"\xc0\x80", b"\x00").decode("utf-8", errors="surrogatepass")
        return text.encode("utf-16", errors="surrogatepass").decode("utf-16")
    except UnicodeError as exc:
        raise ModelFileError(
            f"{path}: legacy metadata entry {LEGACY_METADATA_ENTRY} is not valid text ({exc})."
        ) from exc
