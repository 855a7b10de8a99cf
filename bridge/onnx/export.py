"""DL4J MultiLayerNetwork -> ONNX, scanned first, converted layer by layer, checked against DL4J."""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..errors import DataError, ParityError, UnsupportedLayerError, java_errors
from . import activations, conv, dense, normalization, preprocessors  # noqa: F401  (they register converters)
from .registry import ACTIVATION_FREE, ACTIVATIONS, FLOAT, LAYERS, PREPROCESSORS, Graph

__all__ = ["export_onnx", "to_onnx", "scan", "ExportReport", "OPSETS"]

OPSETS = range(17, 22)
DL4J_VERSION = "1.0.0-M2.1"
HOW_TO_ADD = ("To add a converter, write a function in bridge/onnx/ decorated with @layer(\"<java class>\") "
              "(or @activation / @preprocessor) that emits the ONNX nodes, and add a parity case for it in "
              "tests/test_onnx_parity.py.")


@dataclass(frozen=True)
class ExportReport:
    path: Path | None
    opset: int
    max_abs_diff: float | None  # DL4J vs ONNX Runtime on the verification batch; None without verify
    seconds: float


def _ir_version(opset: int) -> int:
    # The IR version that introduced each opset: ONNX Runtime Java 1.29 loads up to IR 10.
    return 10 if opset >= 21 else 9 if opset >= 19 else 8


def _java_network(net):
    from ..training import load

    if isinstance(net, (str, os.PathLike)):
        return load(net)
    return net


def scan(conf: dict) -> list[str]:
    """Every layer, preprocessor, activation or setting the exporter cannot convert exactly."""
    problems = []
    for index, conf_i in sorted(conf.get("inputPreProcessors", {}).items(), key=lambda kv: int(kv[0])):
        problems += _check(PREPROCESSORS, conf_i, f"preprocessor before layer {index}")
    for index, layer_conf in enumerate(c["layer"] for c in conf["confs"]):
        where = f"layer {index} ({layer_conf['@class'].rsplit('.', 1)[-1]})"
        known = layer_conf["@class"] in LAYERS
        problems += _check(LAYERS, layer_conf, where)
        if known and layer_conf.get("activationFn") is not None and layer_conf["@class"] not in ACTIVATION_FREE:
            problems += _check(ACTIVATIONS, layer_conf["activationFn"], f"{where} activation")
    return problems


def _check(registry, conf: dict, where: str) -> list[str]:
    java_class = conf["@class"]
    if java_class not in registry:
        return [f"{where}: {java_class} has no {registry.kind} converter"]
    return [f"{where}: {java_class}: {problem}" for problem in registry[java_class].check(conf)]


def to_onnx(net, opset: int = 17, labels=None, model_name: str | None = None, scaling: str | None = None,
            input_shape=None) -> onnx.ModelProto:
    """The ONNX model of a DL4J MultiLayerNetwork (no verification, nothing written)."""
    from ..arrays import to_numpy
    from ..jvm import jclass
    from ..nets import Network, as_java

    if opset not in OPSETS:
        raise DataError(f"Received an invalid value for `opset`. Received: opset={opset}. Expected {OPSETS.start}..{OPSETS.stop - 1}.")
    _refuse_computation_graph(net)
    java = as_java(net)
    with java_errors("reading the DL4J configuration"):
        conf = json.loads(str(java.getLayerWiseConfigurations().toJson()))
        flat = int(jclass("ai.dl4jbridge.train.NetInfo").flatInputSize(java))
        params = {str(k): to_numpy(v) for k, v in dict(java.paramTable()).items()}
    problems = scan(conf)
    if problems:
        raise UnsupportedLayerError("This network cannot be exported to ONNX exactly:\n  - "
                                    + "\n  - ".join(problems) + "\n" + HOW_TO_ADD)
    shape = _input_shape(flat if flat > 0 else _flat_input_size(conf), input_shape)
    g = Graph(opset=opset, shape=shape)
    pre = conf.get("inputPreProcessors", {})
    for index, c in enumerate(conf["confs"]):
        if str(index) in pre:
            PREPROCESSORS[pre[str(index)]["@class"]].convert(g, pre[str(index)])
        layer_params = {k.split("_", 1)[1]: v for k, v in params.items() if k.split("_", 1)[0] == str(index)}
        LAYERS[c["layer"]["@class"]].convert(g, c["layer"], layer_params)
    is_softmax = (conf["confs"][-1]["layer"].get("activationFn") or {}).get("@class", "").endswith("ActivationSoftmax")
    output = "probabilities" if is_softmax else "output"
    g.nodes.append(helper.make_node("Identity", [g.x], [output], name=output))
    name = model_name or (net.name if isinstance(net, Network) else "dl4j-network")
    labels = labels if labels is not None else (net.labels if isinstance(net, Network) else None)
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info("input", FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info(output, FLOAT, ["N", *g.shape])], g.initializers)
    from .. import __version__

    model = helper.make_model(graph, producer_name="dl4j-bridge", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = _ir_version(opset)
    layout = (f"NCHW [N,{','.join(map(str, _cnn_input(conf) or shape))}] flattened to [N,{shape[0]}]"
              if len(shape) == 1 and _cnn_input(conf) else f"[N,{','.join(map(str, shape))}]")
    meta = {"model_name": name, "dl4j_version": DL4J_VERSION, "input_layout": layout,
            "input_scaling": scaling or "", "labels": json.dumps(list(labels)) if labels else ""}
    helper.set_model_props(model, {k: v for k, v in meta.items() if v})
    onnx.checker.check_model(model, full_check=True)
    return model


def _refuse_computation_graph(net) -> None:
    from ..nets import _is_java_instance

    if _is_java_instance(net, "org.deeplearning4j.nn.graph.ComputationGraph"):
        raise UnsupportedLayerError("ComputationGraph networks cannot be exported yet: only MultiLayerNetwork. "
                                    + HOW_TO_ADD)


def _cnn_input(conf: dict):
    first = conf.get("inputPreProcessors", {}).get("0")
    if first and first["@class"].endswith("FeedForwardToCnnPreProcessor"):
        return (first["numChannels"], first["inputHeight"], first["inputWidth"])
    return None


def _flat_input_size(conf: dict) -> int:
    """Width of the flat input row when shape-preserving layers (activation, dropout) come first; -1 if unknown."""
    pre = conf.get("inputPreProcessors", {})
    for index, c in enumerate(conf["confs"]):
        p = pre.get(str(index))
        if p is not None:
            return int(p["numChannels"] * p["inputHeight"] * p["inputWidth"]) if "numChannels" in p else -1
        if c["layer"].get("nin"):
            return int(c["layer"]["nin"])
        if not c["layer"]["@class"].endswith(("ActivationLayer", "DropoutLayer")):
            return -1
    return -1


def _input_shape(flat: int, input_shape) -> tuple[int, ...]:
    if flat > 0:
        return (flat,)
    if input_shape is None or len(tuple(input_shape)) != 3:
        raise DataError("This network takes [N, C, H, W] input (InputType.convolutional): pass "
                        f"input_shape=(channels, height, width). Received: input_shape={input_shape!r}")
    return tuple(int(v) for v in input_shape)


def export_onnx(net, path, opset: int = 17, verify: bool = True, tolerance: float = 1e-5, sample=None,
                labels=None, model_name: str | None = None, scaling: str | None = None,
                input_shape=None) -> ExportReport:
    """Export a bridge Network, a raw MultiLayerNetwork or a DL4J model zip (path) to ONNX at `path`.

    verify: run DL4J and ONNX Runtime (CPU) on `sample` (default: 16 seeded random rows in [0, 1))
    and raise ParityError, writing nothing, if the max abs difference exceeds `tolerance`.
    The file is written atomically. Input "input" float32 [N, features]; output "probabilities"
    (softmax output layer) or "output".
    """
    start = time.perf_counter()
    net = _java_network(net)
    model = to_onnx(net, opset, labels, model_name, scaling, input_shape)
    payload = model.SerializeToString()
    diff = _verify(net, payload, sample, tolerance) if verify else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ExportReport(path, opset, diff, time.perf_counter() - start)


def max_abs_diff(net, payload: bytes, sample) -> float:
    """Max |DL4J output - ONNX Runtime output| on `sample` ([n, features] float32)."""
    import onnxruntime as ort

    from ..training import predict

    expected = predict(net, sample)
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    feed = sample.reshape(len(sample), *session.get_inputs()[0].shape[1:])
    actual = session.run(None, {"input": feed})[0]
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        raise ParityError(f"ONNX output {actual.dtype}{actual.shape} differs from DL4J's {expected.dtype}{expected.shape}.")
    return float(np.max(np.abs(actual - expected))) if expected.size else 0.0


def _verify(net, payload: bytes, sample, tolerance: float) -> float:
    from ..jvm import jclass
    from ..nets import as_java

    if sample is None:
        flat = int(jclass("ai.dl4jbridge.train.NetInfo").flatInputSize(as_java(net)))
        session_shape = onnx.load_from_string(payload).graph.input[0].type.tensor_type.shape.dim[1:]
        width = flat if flat > 0 else int(np.prod([d.dim_value for d in session_shape]))
        sample = np.random.default_rng(0).random((16, width), dtype=np.float32)
    diff = max_abs_diff(net, payload, np.ascontiguousarray(sample, dtype=np.float32))
    if not diff <= tolerance:
        import onnxruntime

        raise ParityError(f"ONNX Runtime {onnxruntime.__version__} and DL4J {DL4J_VERSION} differ by {diff:.3g} "
                          f"(tolerance {tolerance:g}); nothing was written.")
    return diff
