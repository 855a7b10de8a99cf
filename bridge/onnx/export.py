"""DL4J network (MultiLayerNetwork or ComputationGraph) -> ONNX: scanned first, converted over named
tensors in DL4J's topological order, checked against DL4J."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..errors import DataError, ParityError, ShapeError, UnsupportedLayerError, java_boundary, java_errors
from ..files import target_path, write_atomic
from ..jvm import jclass
from ..jvm.arrays import to_indarray, to_numpy
from ..jvm.locate import VERSION as __version__
from ..model.inputs import input_specs, remember_input_shape
from ..model.kinds import as_java, is_graph
from ..model.modelfile import load
from ..model.network import Network as BridgeNetwork
from . import activations, conv, conv2d, dense, frozen, heads, normalization, preprocessors, vertices  # noqa: F401  (they register converters)  # noqa: F401  (they register converters)
from .registry import FLOAT, LAYERS, PREPROCESSORS, VERTICES, Graph, Tensor, layer_problems, registry_problems
from .walk import LAYER, PREPROCESSOR, Network, walk

__all__ = ["export_onnx", "to_onnx", "scan", "ExportReport", "OPSETS"]

OPSETS = range(17, 22)
DL4J_VERSION = "1.0.0-M2.1"
HOW_TO_ADD = (
    'To add a converter, write a function in bridge/onnx/ decorated with @layer("<java class>") '
    "(or @vertex / @activation / @preprocessor) that takes and returns named tensors, and add a "
    "parity case for it in tests/test_onnx_parity.py."
)
# Verification rows when the caller gives no sample: enough to see a difference, few enough for big inputs.
_SAMPLE_ROWS, _BIG_EXAMPLE = 16, 20_000


@dataclass(frozen=True)
class ExportReport:
    path: Path | None
    opset: int
    max_abs_diff: float | None  # DL4J vs ONNX Runtime on the verification batch; None without verify
    seconds: float


def _ir_version(opset: int) -> int:
    # The IR version that introduced each opset: ONNX Runtime Java 1.29 loads up to IR 10.
    return 10 if opset >= 21 else 9 if opset >= 19 else 8


def scan(network: Network) -> list[str]:
    """Every layer, vertex, preprocessor, activation or setting the exporter cannot convert exactly."""
    problems = []
    for node in network.nodes:
        if node.kind == LAYER:
            problems += layer_problems(node.conf, node.where)
        else:
            problems += registry_problems(
                PREPROCESSORS if node.kind == PREPROCESSOR else VERTICES, node.conf, node.where
            )
    return problems


@java_boundary("to_onnx")
def to_onnx(
    net, opset: int = 17, labels=None, model_name: str | None = None, scaling: str | None = None, input_shape=None
) -> onnx.ModelProto:
    """The ONNX model of a DL4J network (no verification, nothing written).

    input_shape: the per-example shape of an image input in the network's own layout, (C, H, W) or
    (H, W, C) for NHWC networks, where DL4J's configuration does not record it (InputType.convolutional);
    a dict {input name: shape} for graphs with several inputs.
    """
    if opset not in OPSETS:
        raise DataError(
            f"Received an invalid value for `opset`. Received: opset={opset}. Expected {OPSETS.start}..{OPSETS.stop - 1}."
        )
    java = as_java(net)
    with java_errors("reading the DL4J configuration"):
        network = walk(java, is_graph(java))
    problems = scan(network)
    if problems:
        raise UnsupportedLayerError(
            "This network cannot be exported to ONNX exactly:\n  - " + "\n  - ".join(problems) + "\n" + HOW_TO_ADD
        )
    specs = _input_tensors(net, network, input_shape)
    g = Graph(opset=opset, used={t.name for t in specs.values()})
    tensors = _convert(g, network, dict(specs))
    outputs = _output_names(network)
    for dl4j_name, onnx_name in outputs.items():
        g.nodes.append(helper.make_node("Identity", [tensors[dl4j_name].name], [onnx_name], name=onnx_name))
    name = model_name or (net.name if isinstance(net, BridgeNetwork) else "dl4j-network")
    labels = labels if labels is not None else (net.labels if isinstance(net, BridgeNetwork) else None)
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info(t.name, FLOAT, ["N", *t.shape]) for t in specs.values()],
        [helper.make_tensor_value_info(o, FLOAT, ["N", *tensors[d].shape]) for d, o in outputs.items()],
        g.initializers,
    )
    return _model(graph, opset, name, scaling, labels, _layouts(net, specs))


def _convert(g: Graph, network: Network, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    for node in network.nodes:
        inputs = [tensors[name] for name in node.inputs]
        if node.kind == PREPROCESSOR:
            tensors[node.name] = PREPROCESSORS[node.java_class].convert(g, node.conf, inputs[0])
        elif node.kind == LAYER:
            tensors[node.name] = LAYERS[node.java_class].convert(g, node.conf, node.params(), inputs[0])
        else:
            tensors[node.name] = VERTICES[node.java_class].convert(g, node.conf, node.params(), inputs)
    return tensors


def _model(graph, opset: int, name: str, scaling, labels, layout: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph, producer_name="dl4j-bridge", producer_version=__version__, opset_imports=[helper.make_opsetid("", opset)]
    )
    model.ir_version = _ir_version(opset)
    meta = {
        "model_name": name,
        "dl4j_version": DL4J_VERSION,
        "input_layout": layout,
        "input_scaling": scaling or "",
        "labels": json.dumps(list(labels)) if labels else "",
    }
    helper.set_model_props(model, {k: v for k, v in meta.items() if v})
    onnx.checker.check_model(model)
    return model


def _output_names(network: Network) -> dict[str, str]:
    """DL4J output -> ONNX output name: "probabilities" or "output" for one output, DL4J's names for several."""
    if len(network.outputs) > 1:
        return {name: name for name in network.outputs}
    last = next(node for node in reversed(network.nodes) if node.name == network.outputs[0])
    softmax = (last.conf.get("activationFn") or {}).get("@class", "").endswith("ActivationSoftmax")
    return {network.outputs[0]: "probabilities" if softmax else "output"}


def _input_tensors(net, network: Network, input_shape) -> dict[str, Tensor]:
    """DL4J input name -> the ONNX graph input ("input" for one input, DL4J's names for several)."""
    specs = input_specs(net)
    given = _given_shapes(input_shape, [s.name for s in specs])
    tensors = {}
    for spec in specs:
        shape = _input_shape(spec, given.get(spec.name))
        tensors[spec.name] = Tensor("input" if len(specs) == 1 else spec.name, shape)
    return tensors


def _given_shapes(input_shape, names: list[str]) -> dict:
    if input_shape is None:
        return {}
    if isinstance(input_shape, dict):
        unknown = sorted(set(input_shape) - set(names))
        if unknown:
            raise DataError(
                f"Received input_shape for {unknown}, which this network does not have; its inputs: {names}."
            )
        return dict(input_shape)
    if len(names) != 1:
        raise DataError(f"This graph has {len(names)} inputs {names}: pass input_shape as a dict keyed by input name.")
    return {names[0]: input_shape}


def _input_shape(spec, given) -> tuple[int, ...]:
    example = "(channels, height, width)" if spec.layout != "NHWC" else "(height, width, channels)"
    if given is not None:
        shape = tuple(given) if not isinstance(given, int) else (given,)
        if not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise DataError(f"Received an invalid value for `input_shape`, expected positive ints. Received: {given!r}")
        shape = tuple(int(d) for d in shape)
        if spec.shape is not None and int(np.prod(shape)) == int(np.prod(spec.shape)) and len(shape) == len(spec.shape):
            return shape
        if spec.shape is not None and spec.layout == "flat":
            return spec.shape  # the flat row is what DL4J takes, whatever image shape was named
        _check_image_shape(spec, shape, example)
        return shape
    if spec.shape is None and spec.layout == "flat":
        raise DataError(
            f"Input {spec.name!r} takes flat rows whose width its configuration does not tell "
            f"(nothing that reads it records nIn): pass input_shape=(features,)."
        )
    if spec.shape is None:
        raise DataError(
            f"Input {spec.name!r} takes {spec.layout} images whose height and width DL4J does not "
            f"record (InputType.convolutional): pass input_shape={example}, "
            f"e.g. input_shape={_example_shape(spec)}."
        )
    return tuple(spec.shape)


def _example_shape(spec) -> tuple[int, ...]:
    c = spec.channels or 3
    return (224, 224, c) if spec.layout == "NHWC" else (c, 224, 224)


def _check_image_shape(spec, shape: tuple[int, ...], example: str) -> None:
    if spec.layout == "flat":
        if len(shape) != 1:
            raise ShapeError(f"Input {spec.name!r} takes flat rows: pass input_shape=(features,). Received: {shape}")
        return
    channels = shape[2] if spec.layout == "NHWC" else shape[0]
    if len(shape) != 3 or (spec.channels and channels != spec.channels):
        raise ShapeError(
            f"Input {spec.name!r} takes {spec.layout} images with {spec.channels} channels: "
            f"input_shape must be {example}. Received: input_shape={shape}"
        )


def _layouts(net, tensors: dict[str, Tensor]) -> str:
    """The "input_layout" metadata: the layout of every input, as the ONNX model takes it."""
    parts = []
    for spec in input_specs(net):
        t = tensors[spec.name]
        dims = ",".join(map(str, t.shape))
        if spec.image is not None:
            parts.append(f"NCHW [N,{','.join(map(str, spec.image))}] flattened to [N,{dims}]")
        else:
            parts.append(f"{spec.layout} [N,{dims}]" if spec.layout != "flat" else f"[N,{dims}]")
    return parts[0] if len(parts) == 1 else "; ".join(f"{name}: {p}" for name, p in zip(tensors, parts))


@java_boundary("export_onnx")
def export_onnx(
    net,
    path,
    opset: int = 17,
    verify: bool = True,
    tolerance: float = 1e-5,
    sample=None,
    labels=None,
    model_name: str | None = None,
    scaling: str | None = None,
    input_shape=None,
) -> ExportReport:
    """Export a bridge Network, a raw MultiLayerNetwork or ComputationGraph, or a DL4J model zip (path).

    verify: run DL4J and ONNX Runtime (CPU) on `sample` (default: seeded random values in [0, 1) of the
    model's input shape) and raise ParityError, writing nothing, if the max abs difference exceeds
    `tolerance`. The file is written atomically. One input is named "input" ([N, features], [N, C, H, W]
    or [N, H, W, C], the network's own layout); one output "probabilities" (softmax) or "output".
    Graphs with several inputs or outputs keep DL4J's names. See to_onnx for input_shape.
    """
    start = time.perf_counter()

    target_path(path, "ONNX model")  # a folder or an unwritable place is refused before the work
    if isinstance(net, (str, os.PathLike)):
        net = load(net)
    model = to_onnx(net, opset, labels, model_name, scaling, input_shape)
    payload = model.SerializeToString()
    del model
    diff = _verify(net, payload, sample, tolerance) if verify else None
    _write_atomic(Path(path), payload)
    remember_input_shape(net, input_shape)  # given once: later exports and save() need it no more
    return ExportReport(Path(path), opset, diff, time.perf_counter() - start)


def _write_atomic(path: Path, payload: bytes) -> None:
    write_atomic(path, payload, "ONNX model")


def dl4j_outputs(net, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """DL4J's own output() for the inputs in network-input order: one array per network output."""
    import jpype

    java = as_java(net)
    with java_errors("DL4J output()"):
        arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))(
            [to_indarray(np.ascontiguousarray(f, dtype=np.float32)) for f in feeds]
        )
        # Networks.output: DL4J's output() without the oneDNN helpers that are wrong for NHWC layers.
        return [to_numpy(o) for o in jclass("ai.dl4jbridge.train.Networks").output(java, arrays)]


def max_abs_diff(net, payload, sample=None) -> float:
    """Max |DL4J output - ONNX Runtime output| on `sample` (an array for one input, or a dict by input
    name; None: seeded random values in [0, 1)). payload: the model's bytes or an ONNX Runtime session."""
    import onnxruntime as ort

    session = (
        payload
        if isinstance(payload, ort.InferenceSession)
        else ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    )
    inputs = [i.name for i in session.get_inputs()]
    feeds = _default_sample(session) if sample is None else sample if isinstance(sample, dict) else {inputs[0]: sample}
    if len(inputs) == 1 and inputs[0] not in feeds:
        feeds = {inputs[0]: next(iter(feeds.values()))}
    missing = [name for name in inputs if name not in feeds]
    if missing:
        raise DataError(f"The verification sample lacks inputs {missing}; the model takes {inputs}.")
    feeds = {
        i.name: np.ascontiguousarray(feeds[i.name], dtype=np.float32).reshape(len(feeds[i.name]), *i.shape[1:])
        for i in session.get_inputs()
    }
    expected = dl4j_outputs(net, [feeds[name] for name in inputs])
    worst = 0.0
    for output, want in zip(session.run(None, feeds), expected):
        if output.shape != want.shape or output.dtype != want.dtype:
            raise ParityError(f"ONNX output {output.dtype}{output.shape} differs from DL4J's {want.dtype}{want.shape}.")
        worst = max(worst, float(np.max(np.abs(output - want))) if want.size else 0.0)
    return worst


def _default_sample(session) -> dict[str, np.ndarray]:
    rng, feeds = np.random.default_rng(0), {}
    for value in session.get_inputs():
        shape = tuple(int(d) for d in value.shape[1:])
        rows = _SAMPLE_ROWS if int(np.prod(shape)) <= _BIG_EXAMPLE else 2
        feeds[value.name] = rng.random((rows, *shape), dtype=np.float32)
    return feeds


def _verify(net, payload: bytes, sample, tolerance: float) -> float:
    diff = max_abs_diff(net, payload, sample)
    if not diff <= tolerance:
        import onnxruntime

        raise ParityError(
            f"ONNX Runtime {onnxruntime.__version__} and DL4J {DL4J_VERSION} differ by {diff:.3g} "
            f"(tolerance {tolerance:g}); nothing was written."
        )
    return diff
