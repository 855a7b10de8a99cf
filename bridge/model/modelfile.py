"""DL4J model zips: save() and load(), with nothing read from a file ever Java-deserialised.

A zip holds DL4J's entries (configuration.json, coefficients.bin, updaterState.bin, noParams.marker) and ours:
`dl4j-bridge.json`, plain UTF-8 JSON {"name", "labels", "input_shapes"}, and `dl4j-bridge-training.json`, what
resuming training needs. Zips written before the plain entry existed keep the metadata in
`objects/dl4j-bridge.json`, a java.lang.String that DL4J's ModelSerializer.addObjectToFile wrote with Java
serialization.

load() reads the zip through one Java class, ai.dl4jbridge.modelzip.ModelZip (java/modelzip), the policy that the
Java DL4J predictor applies too: it checks that the zip's local headers (what DL4J's ZipInputStream reads) agree
with its central directory, refuses every entry outside its allow-list (above all `preprocessor.bin`, which DL4J's
restore deserialises with a plain ObjectInputStream), bounds what each entry may unpack to, decodes the legacy
metadata String from its bytes (never through ObjectInputStream), and hands DL4J a zip of the DL4J entries it kept.
Python then checks the metadata's JSON.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import jpype

from ..errors import ModelFileError, java_boundary, java_errors
from ..files import atomic_path
from ..jvm import jclass
from .inputs import known_input_shapes
from .network import Network, as_java

__all__ = ["save", "load", "METADATA_ENTRY"]

# The entry names are ai.dl4jbridge.modelzip.ModelZip's (METADATA, LEGACY_METADATA, TRAINING_STATE): save() writes
# them here, ModelZip reads them (tests/test_modelfile.py checks that the two agree).
METADATA_ENTRY = "dl4j-bridge.json"
LEGACY_METADATA_ENTRY = "objects/dl4j-bridge.json"
TRAINING_STATE_ENTRY = "dl4j-bridge-training.json"
_MODEL_ZIP = "ai.dl4jbridge.modelzip.ModelZip"


@java_boundary("save", ModelFileError)
def save(net, path: str | os.PathLike, training_state: dict | None = None) -> Path:
    """Write the DL4J model zip (with updater state) atomically: a failure leaves any old file intact.

    net: a MultiLayerNetwork or a ComputationGraph; a bridge Network's name, labels and input_shapes (for a raw
    network, the image shapes bridge.fit trained on) are kept beside it (dl4j-bridge.json in the zip, plain JSON), and what resuming needs in
    dl4j-bridge-training.json (see _training_state_of)."""
    java, path = as_java(net), Path(path)
    with atomic_path(path, "model") as tmp:
        with java_errors(f"save {path}", ModelFileError):
            jclass("org.deeplearning4j.util.ModelSerializer").writeModel(java, jclass("java.io.File")(str(tmp)), True)
        meta = _metadata_of(net)
        if meta is not None:
            with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(METADATA_ENTRY, json.dumps(meta).encode("utf-8"))
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(TRAINING_STATE_ENTRY, json.dumps(_training_state_of(java, training_state)).encode("utf-8"))
    return path


@java_boundary("load", ModelFileError)
def load(path: str | os.PathLike) -> Network:
    """Read a DL4J model zip written by save() or by DL4J itself: a ComputationGraph when its
    configuration.json has "vertices", else a MultiLayerNetwork. ModelFileError for anything else, and for a zip
    that ModelZip refuses (the message names the problem)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}." + (" It is a directory." if path.is_dir() else ""))
    model_zip = _read_zip(path)
    graph = _is_graph(path, model_zip)
    meta = _read_metadata(path, model_zip)
    training_state = _read_training_state(path, model_zip)
    kind = "ComputationGraph" if graph else "MultiLayerNetwork"
    with java_errors(f"load {path}", ModelFileError):
        serializer = jclass("org.deeplearning4j.util.ModelSerializer")
        try:
            restore = serializer.restoreComputationGraph if graph else serializer.restoreMultiLayerNetwork
            java = restore(model_zip.dl4jZip(), True)
        except Exception as exc:  # DL4J reports a bad zip as IllegalStateException, NPE, ...
            if not hasattr(exc, "getClass"):
                raise
            raise ModelFileError(
                f"{path} is not a readable DL4J {kind} zip: {exc.getClass().getName()}: "
                f"{exc.getMessage() if exc.getMessage() is not None else 'no message'}"
            ) from exc
    net = Network(
        java, name=meta.get("name") or path.stem, labels=meta.get("labels"), input_shapes=meta.get("input_shapes")
    )
    net.training_state = training_state
    return net


def _read_zip(path: Path):
    """The zip as ModelZip (training use: the updater state kept) read it; its refusals as ModelFileError."""
    model_zip = jclass(_MODEL_ZIP)
    with java_errors(f"load {path}", ModelFileError):
        try:
            return model_zip.read(jclass("java.nio.file.Path").of(str(path)), model_zip.Use.TRAINING)
        except jclass("ai.dl4jbridge.modelzip.ModelZipException") as exc:
            error = ModelFileError(str(exc.getMessage()))
            error.java_class, error.java_message = str(exc.getClass().getName()), str(exc.getMessage())
            raise error from exc


def _is_graph(path: Path, model_zip) -> bool:
    try:
        conf = json.loads(str(model_zip.configuration()))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep (ModelZip bounds it first)
        raise ModelFileError(
            f"{path} is not a readable DL4J model zip: its configuration.json is damaged ({exc})."
        ) from exc
    if not isinstance(conf, dict):
        raise ModelFileError(f"{path} is not a DL4J model zip: its configuration.json holds no configuration.")
    return "vertices" in conf


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


def _read_training_state(path: Path, model_zip) -> dict | None:
    """The checked training-state entry, or None when the zip has none (DL4J's own zips, older saves)."""
    text = model_zip.trainingStateJson()
    if text is None:
        return None
    try:
        state = json.loads(str(text))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep (ModelZip bounds it first)
        raise ModelFileError(f"{path}: its {TRAINING_STATE_ENTRY} entry is damaged ({exc}).") from exc
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: its {TRAINING_STATE_ENTRY} entry is not a JSON object.")
    return state


def _metadata_of(net) -> dict | None:
    """The metadata entry: a bridge Network's name, labels and input shapes; for a raw DL4J network, the input
    shapes bridge.fit recorded (None when there is nothing to keep)."""
    known = known_input_shapes(net)
    shapes = {k: list(v) for k, v in known.items()} if known else None
    if not isinstance(net, Network):
        return {"name": None, "labels": None, "input_shapes": shapes} if shapes else None
    return {"name": net.name, "labels": list(net.labels) if net.labels else None, "input_shapes": shapes}


def _read_metadata(path: Path, model_zip) -> dict:
    """name, labels and input_shapes saved by save(), checked; {} for a zip written by DL4J itself."""
    text = model_zip.metadataJson()
    if text is None:
        return {}
    entry = str(model_zip.metadataEntry())
    try:
        meta = json.loads(str(text))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep (ModelZip bounds it first)
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


def java_serialized_string(data: bytes, path="the model file") -> str:
    """The java.lang.String that `data` (an ObjectOutputStream of exactly one String) holds, decoded by ModelZip's
    decoder (ai.dl4jbridge.modelzip.JavaSerializedString) from the bytes, never by Java's ObjectInputStream.

    Anything else (another class, trailing objects, a truncated stream) raises ModelFileError."""
    decoder = jclass("ai.dl4jbridge.modelzip.JavaSerializedString")
    try:
        text = decoder.decode(jpype.JArray(jpype.JByte)(data), f"{path}: legacy metadata entry {LEGACY_METADATA_ENTRY}")
    except jclass("ai.dl4jbridge.modelzip.ModelZipException") as exc:
        raise ModelFileError(str(exc.getMessage())) from exc
    return str(text)
