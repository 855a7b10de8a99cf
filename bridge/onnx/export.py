"""DL4J network (MultiLayerNetwork or ComputationGraph) -> ONNX: scanned first, converted over named
tensors in DL4J's topological order, checked against DL4J."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
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
from . import activations, conv, conv2d, dense, frozen, heads, normalization, preprocessors, vertices  # noqa: F401  (they register converters)
from .registry import (
    ACTIVATION_FREE,
    FLOAT,
    LAYERS,
    PREPROCESSORS,
    VERTICES,
    Graph,
    Tensor,
    layer_problems,
    registry_problems,
)
from .walk import LAYER, PREPROCESSOR, Network, walk

__all__ = ["export_onnx", "to_onnx", "scan", "ExportReport", "OPSETS", "Parity", "parity", "parity_limit"]

# Every op the converters emit has had its current form since opset 13 at the latest (Softmax's axis, Clip's
# and Pad's inputs, ReduceSum's axes input, Squeeze's and Slice's inputs); the one form that changes later,
# the other reductions' axes (input from 18), goes through Graph.reduce.
OPSETS = range(13, 22)
DEFAULT_OPSET = 17  # IR 8: ONNX Runtime 1.13 or newer (opset 21, IR 10, needs 1.18)
# Parity: ONNX Runtime's float32 output may be off the exact (DL4J float64) answer by this much, or by twice
# DL4J float32's own error where that is larger.
PARITY_FLOOR = 1e-5
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
    max_abs_diff: float | None  # DL4J float32 vs ONNX Runtime on the verification batch; None without verify
    seconds: float
    onnx_error: float | None = None  # ONNX Runtime vs the exact answer (DL4J in float64)
    dl4j_error: float | None = None  # DL4J float32 vs the exact answer


def _ir_version(opset: int) -> int:
    """The IR version of the ONNX release that introduced the opset (13, 14: 7; 15-18: 8; 19, 20: 9; 21: 10),
    so that a runtime that knows the opset also reads the file."""
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


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
    net,
    opset: int = DEFAULT_OPSET,
    labels=None,
    model_name: str | None = None,
    scaling: str | None = None,
    input_shape=None,
) -> onnx.ModelProto:
    """The ONNX model of a DL4J network (no verification, nothing written).

    input_shape: the per-example shape of an image input in the network's own layout, (C, H, W) or
    (H, W, C) for NHWC networks, where DL4J's configuration does not record it (InputType.convolutional);
    a dict {input name: shape} for graphs with several inputs.

    opset: 13..21 (default 17). The ONNX names come from DL4J's layer and vertex names (`conv1/Conv`,
    `conv1/W`; a MultiLayerNetwork's unnamed layers are `layer0`, `layer1`...), and each node's doc_string
    names the DL4J class and configuration it implements.
    """
    if not isinstance(opset, (int, np.integer)) or isinstance(opset, bool) or opset not in OPSETS:
        raise DataError(
            f"Received an invalid value for `opset`. Received: opset={opset}. Expected {OPSETS.start}..{OPSETS.stop - 1}."
        )
    opset = int(opset)
    java = as_java(net)
    with java_errors("reading the DL4J configuration"):
        network = walk(java, is_graph(java))
    problems = scan(network)
    if problems:
        raise UnsupportedLayerError(
            "This network cannot be exported to ONNX exactly:\n  - " + "\n  - ".join(problems) + "\n" + HOW_TO_ADD
        )
    specs = _input_tensors(net, network, input_shape)
    outputs = _output_names(network)
    g = Graph(opset=opset, used={t.name for t in specs.values()} | set(outputs.values()))
    images = _image_inputs(net)
    tensors = _convert(g, network, _flattened(g, specs, images))
    for dl4j_name, onnx_name in outputs.items():
        g.nodes.append(
            helper.make_node(
                "Identity",
                [tensors[dl4j_name].name],
                [onnx_name],
                name=onnx_name,
                doc_string=f"network output: DL4J's {dl4j_name!r}",
            )
        )
    name = model_name or (net.name if isinstance(net, BridgeNetwork) else "dl4j-network")
    labels = labels if labels is not None else (net.labels if isinstance(net, BridgeNetwork) else None)
    graph = helper.make_graph(
        g.nodes,
        name,
        [
            helper.make_tensor_value_info(t.name, FLOAT, ["N", *images.get(dl4j_name, (None, t.shape))[1]])
            for dl4j_name, t in specs.items()
        ],
        [helper.make_tensor_value_info(o, FLOAT, ["N", *tensors[d].shape]) for d, o in outputs.items()],
        g.initializers,
    )
    return _model(graph, opset, name, scaling, labels, _layouts(net, specs, images), _flat_rows(specs, images))


def _image_inputs(net) -> dict[str, tuple[str, tuple[int, ...]]]:
    """DL4J input name -> (layout, per-example image shape) for the inputs whose flat rows DL4J reshapes into an
    image (InputType.convolutionalFlat; DL4J 1.0.0-M2.1's FeedForwardToCnnPreProcessor is NCHW only): the ONNX
    model takes those as images [N, C, H, W], so that an image in the other channel order has the wrong shape
    instead of the right number of values."""
    return {spec.name: ("NCHW", spec.image) for spec in input_specs(net) if spec.image is not None}


def _flattened(g: Graph, specs: dict[str, Tensor], images: dict) -> dict[str, Tensor]:
    """The tensors DL4J's first layers read: an image graph input flattened back to the flat row (C order of
    its own layout) that DL4J's preprocessor reshapes; ONNX Runtime makes both a view."""
    tensors = dict(specs)
    for dl4j_name, (layout, shape) in images.items():
        t = specs[dl4j_name]
        g.scope, g.doc = t.name, f"network input {t.name!r}: {layout} images, as flat rows for DL4J's preprocessor"
        tensors[dl4j_name] = g.apply("Flatten", Tensor(t.name, shape), t.shape, "flat_rows", axis=1)
    return tensors


def _flat_rows(specs: dict[str, Tensor], images: dict) -> str:
    """The "input_flat_rows" metadata: which image inputs also take flat rows, and the reshape that reads them."""
    parts = [
        f"[N,{specs[name].shape[0]}] reshaped in C order to {layout} [N,{','.join(map(str, shape))}]"
        for name, (layout, shape) in images.items()
    ]
    if len(specs) > 1:
        parts = [f"{specs[name].name}: {part}" for name, part in zip(images, parts)]
    return "; ".join(parts)


def _convert(g: Graph, network: Network, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    for node in network.nodes:
        inputs = [tensors[name] for name in node.inputs]
        g.scope, g.doc = node.label, describe(node.conf, node.label)
        if node.kind == PREPROCESSOR:
            tensors[node.name] = PREPROCESSORS[node.java_class].convert(g, node.conf, inputs[0])
        elif node.kind == LAYER:
            tensors[node.name] = LAYERS[node.java_class].convert(g, node.conf, node.params(), inputs[0])
        else:
            tensors[node.name] = VERTICES[node.java_class].convert(g, node.conf, node.params(), inputs)
    return tensors


# Configuration keys that only matter in training, left out of the doc_strings.
_TRAINING_KEYS = {
    "@class", "layerName", "iUpdater", "biasUpdater", "regularization", "regularizationBias", "weightInitFn",
    "biasInit", "gainInit", "idropout", "weightNoise", "constraints", "gradientNormalization",
    "gradientNormalizationThreshold", "lossFn", "cudnnAlgoMode", "cudnnFwdAlgo", "cudnnBwdFilterAlgo",
    "cudnnBwdDataAlgo", "cudnnAllowFallback", "lambdaCoord", "lambdaNoObj", "iupdater", "biasupdater",
    "minibatch", "decay", "modified",
}  # fmt: skip
_SUMMARY_CHARS = 600


def describe(conf: dict, label: str) -> str:
    """A node's doc_string: the DL4J class, its name and its inference settings, e.g.
    "ConvolutionLayer 'block1_conv1': nIn=3, nOut=64, kernelSize=[3, 3], ..., activationFn=ActivationReLU"."""
    settings = []
    for key, value in conf.items():
        if key in _TRAINING_KEYS or value is None or (key == "activationFn" and conf["@class"] in ACTIVATION_FREE):
            continue
        if isinstance(value, dict):
            if "@class" not in value:
                continue
            value = value["@class"].rsplit(".", 1)[-1]  # an activation or a wrapped layer, by class
        elif isinstance(value, list) and not all(isinstance(v, (int, float, str, bool)) for v in value):
            continue
        settings.append(f"{key}={value}")
    summary = f"{conf['@class'].rsplit('.', 1)[-1]} {label!r}: {', '.join(settings)}"
    return summary if len(summary) <= _SUMMARY_CHARS else summary[: _SUMMARY_CHARS - 3] + "..."


def _model(graph, opset: int, name: str, scaling, labels, layout: str, flat_rows: str = "") -> onnx.ModelProto:
    model = helper.make_model(
        graph, producer_name="dl4j-bridge", producer_version=__version__, opset_imports=[helper.make_opsetid("", opset)]
    )
    model.ir_version = _ir_version(opset)
    meta = {
        "model_name": name,
        "dl4j_version": DL4J_VERSION,
        "input_layout": layout,
        # Flat rows of an image input are still taken, reshaped as this says: runtimes reshape only where it is set.
        "input_flat_rows": flat_rows,
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


def _layouts(net, tensors: dict[str, Tensor], images: dict) -> str:
    """The "input_layout" metadata: the layout of every input, as the ONNX model takes it."""
    parts = []
    for spec in input_specs(net):
        t = tensors[spec.name]
        dims = ",".join(map(str, t.shape))
        if spec.name in images:
            layout, shape = images[spec.name]
            parts.append(f"{layout} [N,{','.join(map(str, shape))}]")
        else:
            parts.append(f"{spec.layout} [N,{dims}]" if spec.layout != "flat" else f"[N,{dims}]")
    return parts[0] if len(parts) == 1 else "; ".join(f"{name}: {p}" for name, p in zip(tensors, parts))


@java_boundary("export_onnx")
def export_onnx(
    net,
    path,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    tolerance: float | None = None,
    sample=None,
    labels=None,
    model_name: str | None = None,
    scaling: str | None = None,
    input_shape=None,
) -> ExportReport:
    """Export a bridge Network, a raw MultiLayerNetwork or ComputationGraph, or a DL4J model zip (path).

    verify: run ONNX Runtime (CPU, float32), DL4J in float32 and DL4J in float64 (the exact answer) on
    `sample` (default: seeded random values in [0, 1) of the model's input shape) and raise ParityError,
    writing nothing, unless ONNX Runtime is within max(1e-5, 2 x DL4J float32's own error) of the exact
    answer, per output (max abs differences; DL4J's error counted as at least one float32 step at the
    output's largest value). A converter off by more than DL4J's own rounding fails
    whatever `tolerance` says: tolerance (absolute, optional) can only tighten the check, as a ceiling on
    |ONNX Runtime - exact|. The file is written atomically. One input is named "input" ([N, features],
    [N, C, H, W] or [N, H, W, C], the network's own layout); one output "probabilities" (softmax) or
    "output". Graphs with several inputs or outputs keep DL4J's names. See to_onnx for opset, names and
    input_shape.
    """
    start = time.perf_counter()

    target_path(path, "ONNX model")  # a folder or an unwritable place is refused before the work
    if isinstance(net, (str, os.PathLike)):
        net = load(net)
    model = to_onnx(net, opset, labels, model_name, scaling, input_shape)
    payload = model.SerializeToString()
    del model
    checked = _verify(net, payload, sample, tolerance) if verify else None
    _write_atomic(Path(path), payload)
    remember_input_shape(net, input_shape)  # given once: later exports and save() need it no more
    if checked is None:
        return ExportReport(Path(path), opset, None, time.perf_counter() - start)
    return ExportReport(
        Path(path),
        opset,
        checked.max_abs_diff,
        time.perf_counter() - start,
        checked.onnx_error,
        checked.dl4j_error,
    )


def _write_atomic(path: Path, payload: bytes) -> None:
    write_atomic(path, payload, "ONNX model")


def dl4j_outputs(net, feeds: list[np.ndarray], dtype=np.float32) -> list[np.ndarray]:
    """DL4J's own output() for the inputs in network-input order: one array per network output.

    dtype np.float64: the exact answer, from a float64 copy of the network (convertDataType(DOUBLE); the
    network itself is left as it is) on the inputs cast to float64."""
    import jpype

    java = as_java(net)
    with java_errors("DL4J output()"):
        arrays = jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray"))(
            [to_indarray(np.ascontiguousarray(f, dtype=dtype)) for f in feeds]
        )
        if dtype != np.float64:
            return _output(java, arrays)
        with _default_float64():
            return _output(java.convertDataType(jclass("org.nd4j.linalg.api.buffer.DataType").DOUBLE), arrays)


def _output(java, arrays) -> list[np.ndarray]:
    # Networks.output: DL4J's output() without the oneDNN helpers that are wrong for NHWC layers.
    return [to_numpy(o) for o in jclass("ai.dl4jbridge.train.Networks").output(java, arrays)]


@contextmanager
def _default_float64():
    """ND4J's default float type set to DOUBLE meanwhile: some DL4J vertices (L2NormalizeVertex) allocate
    their results in the default type, which a float64 network then cannot write into."""
    nd4j, types = jclass("org.nd4j.linalg.factory.Nd4j"), jclass("org.nd4j.linalg.api.buffer.DataType")
    before = (nd4j.dataType(), nd4j.defaultFloatingPointType())
    nd4j.setDefaultDataTypes(types.DOUBLE, types.DOUBLE)
    try:
        yield
    finally:
        nd4j.setDefaultDataTypes(*before)


def parity_limit(dl4j_error: float, largest: float = 0.0) -> float:
    """How far ONNX Runtime's float32 output may be from the exact answer: max(1e-5, 2 x DL4J float32's own
    error), that error counted as at least one float32 step at the output's largest value `largest` (where
    DL4J happens to round as well as float32 can, one more step of ONNX Runtime's own rounding is not a
    defect). Deep nets, exp() or a peaked softmax magnify float32 rounding in any float32 engine; an
    exporter that is off by more than DL4J's own rounding is wrong, whatever the user would tolerate."""
    step = float(np.spacing(np.float32(abs(largest)))) if np.isfinite(largest) else 0.0
    return max(PARITY_FLOOR, 2.0 * max(dl4j_error, step))


@dataclass(frozen=True)
class Parity:
    """One network output on the verification sample: max abs differences between ONNX Runtime (float32),
    DL4J float32 and the exact answer (DL4J float64)."""

    name: str
    onnx_error: float  # |ONNX Runtime - exact|
    dl4j_error: float  # |DL4J float32 - exact|
    max_abs_diff: float  # |ONNX Runtime - DL4J float32|
    largest: float = 0.0  # max |exact|

    @property
    def limit(self) -> float:
        return parity_limit(self.dl4j_error, self.largest)

    def problem(self, tolerance: float | None = None) -> str | None:
        """Why this output fails the check (None: it passes). tolerance: an absolute ceiling on onnx_error,
        which can only make the check stricter."""
        if not self.onnx_error <= self.limit:
            return (
                f"output {self.name!r}: ONNX Runtime is {self.onnx_error:.3g} off the exact answer (DL4J in float64), "
                f"DL4J float32 {self.dl4j_error:.3g}; allowed max(1e-5, 2 x DL4J float32's error, counted as at "
                f"least one float32 step at the largest value {self.largest:.3g}) = {self.limit:.3g} "
                f"(ONNX Runtime vs DL4J float32: {self.max_abs_diff:.3g})"
            )
        if tolerance is not None and not self.onnx_error <= tolerance:
            return (
                f"output {self.name!r}: ONNX Runtime is {self.onnx_error:.3g} off the exact answer (DL4J in float64), "
                f"over the tolerance {tolerance:g} (DL4J float32 {self.dl4j_error:.3g})"
            )
        return None


def parity(net, payload, sample=None) -> list[Parity]:
    """ONNX Runtime vs DL4J float32 vs DL4J float64 on `sample` (an array for one input, or a dict by input
    name; None: seeded random values in [0, 1)), one Parity per output. payload: the model's bytes or an
    ONNX Runtime session."""
    import onnxruntime as ort

    session = (
        payload
        if isinstance(payload, ort.InferenceSession)
        else ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    )
    feeds = _feeds(session, sample)
    inputs = _dl4j_feeds(net, [feeds[i.name] for i in session.get_inputs()])
    expected, exact = dl4j_outputs(net, inputs), dl4j_outputs(net, inputs, np.float64)
    results = []
    for meta, output, want, truth in zip(session.get_outputs(), session.run(None, feeds), expected, exact):
        if output.shape != want.shape or output.dtype != want.dtype:
            raise ParityError(f"ONNX output {output.dtype}{output.shape} differs from DL4J's {want.dtype}{want.shape}.")
        largest = float(np.max(np.abs(truth))) if truth.size else 0.0
        results.append(
            Parity(meta.name, _max_diff(output, truth), _max_diff(want, truth), _max_diff(output, want), largest)
        )
    return results


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def max_abs_diff(net, payload, sample=None) -> float:
    """Max |DL4J float32 output - ONNX Runtime output| on `sample` (see parity)."""
    return max((p.max_abs_diff for p in parity(net, payload, sample)), default=0.0)


def _feeds(session, sample) -> dict[str, np.ndarray]:
    inputs = [i.name for i in session.get_inputs()]
    feeds = _default_sample(session) if sample is None else sample if isinstance(sample, dict) else {inputs[0]: sample}
    if len(inputs) == 1 and inputs[0] not in feeds:
        feeds = {inputs[0]: next(iter(feeds.values()))}
    missing = [name for name in inputs if name not in feeds]
    if missing:
        raise DataError(f"The verification sample lacks inputs {missing}; the model takes {inputs}.")
    return {
        i.name: np.ascontiguousarray(feeds[i.name], dtype=np.float32).reshape(len(feeds[i.name]), *i.shape[1:])
        for i in session.get_inputs()
    }


def _dl4j_feeds(net, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """The ONNX feeds as DL4J takes them: images of a convolutionalFlat input as the flat rows its preprocessor reads."""
    return [
        f.reshape(len(f), -1) if spec.layout == "flat" and f.ndim > 2 else f for spec, f in zip(input_specs(net), feeds)
    ]


def _default_sample(session) -> dict[str, np.ndarray]:
    rng, feeds = np.random.default_rng(0), {}
    for value in session.get_inputs():
        shape = tuple(int(d) for d in value.shape[1:])
        rows = _SAMPLE_ROWS if int(np.prod(shape)) <= _BIG_EXAMPLE else 2
        feeds[value.name] = rng.random((rows, *shape), dtype=np.float32)
    return feeds


@dataclass(frozen=True)
class _Checked:
    onnx_error: float
    dl4j_error: float
    max_abs_diff: float


def _verify(net, payload: bytes, sample, tolerance: float | None) -> _Checked:
    results = parity(net, payload, sample)
    problems = [problem for p in results if (problem := p.problem(tolerance)) is not None]
    if problems:
        import onnxruntime

        raise ParityError(
            f"ONNX Runtime {onnxruntime.__version__} and DL4J {DL4J_VERSION} disagree: "
            + "; ".join(problems)
            + "; nothing was written."
        )
    return _Checked(
        max((p.onnx_error for p in results), default=0.0),
        max((p.dl4j_error for p in results), default=0.0),
        max((p.max_abs_diff for p in results), default=0.0),
    )
