"""The CNN families people build, made with DL4J's own Java builders through JPype (DL4J's zoo, or DL4J's
GraphBuilder where the zoo lacks the feature; not bridge.nets), at realistic sizes: exported to ONNX and
checked against DL4J's output() in ONNX Runtime Python and, from the same file, in ONNX Runtime Java
(ai.dl4jbridge.runtime.ParityCheck in the runtime module's service jar).

Weights: the zoo's (or DL4J's) initialisation, batch-norm statistics calibrated and then perturbed
(dl4j_families.perturb_batch_norm), the classifier or detection head centred on the checked images
(dl4j_families.calibrate_head) so that the images get different arg-maxes and the arg-max check means
something. Each network is built once per module (module-scoped fixture); small batches keep the file
within a few minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pytest
from dl4j_families import (
    calibrate_convolutions,
    calibrate_head,
    darknet_passthrough,
    images,
    inception,
    mobilenet,
    perturb_batch_norm,
    unet_deconv,
    zoo,
)
from onnx_helpers import assert_parity

from bridge.jvm import java_home
from bridge.onnx import export_onnx
from bridge.onnx.export import dl4j_outputs, parity_limit
from bridge.serve.service import service_jar

pytestmark = pytest.mark.slow  # zoo-size networks (ResNet-50, Xception, ...): tens of seconds each

PARITY_CHECK = "ai.dl4jbridge.runtime.ParityCheck"
# YOLOv2 output channels per anchor box: x, y (sigmoid), w, h (prior * exp), confidence (sigmoid), classes (softmax).
_YOLO_CLASSES = 20


@dataclass(frozen=True)
class Family:
    build: Callable
    shape: tuple[int, int, int]
    min_params: int
    output: str = "classes"  # "classes": softmax rows; "mask": per-pixel sigmoid; "yolo": YOLOv2 head
    batch: int = 3
    spread: float = 2.0  # calibrate_head: standard deviation of the head's pre-activations
    pooled: bool = False  # calibrate_head: the head is a 1x1 convolution followed by global pooling
    convolutions: bool = False  # calibrate_convolutions first (networks without batch norm that lose the input)


# Parity is the exporter's rule: ONNX Runtime within max(1e-5, 2 x DL4J float32's own error) of DL4J in float64.
# ResNet-50: DL4J float32 7.0e-5 off float64 (its rounding over 53 batch-norm layers), ONNX Runtime 1.1e-5.
# TinyYOLO: box sizes prior * exp(logit) up to ~1000 grid cells, where exp() turns the logits' float32 rounding
# into an error proportional to the size, in DL4J (1.7e-5 relative) as in ONNX Runtime (0.9e-5).
# InceptionResNetV1 (127 batch norms, 21 scaled residual blocks): DL4J float32 4.1e-5 off float64 on these images;
# ONNX Runtime 4.5e-5 under ORT_ENABLE_ALL (export_onnx's session), 2.5e-5 under ORT_ENABLE_EXTENDED. With each
# batch norm's factor gamma / sqrt(var + eps) computed in float32 in the graph it was 8.7e-5 (over the 8.1e-5
# allowed) and 5.7e-5: normalization.batch_norm now computes it in float64 and rounds it once.
FAMILIES = {
    "resnet50-zoo-224": Family(lambda: zoo("ResNet50", (3, 224, 224), 1000), (3, 224, 224), 25_000_000),
    "inception-googlenet-224": Family(lambda: inception(224), (3, 224, 224), 2_000_000),
    "xception-zoo-160": Family(lambda: zoo("Xception", (3, 160, 160), 1000), (3, 160, 160), 22_000_000),
    "mobilenet-v1-160": Family(lambda: mobilenet(160), (3, 160, 160), 1_000_000),
    "squeezenet-zoo-224": Family(
        lambda: zoo("SqueezeNet", (3, 224, 224), 1000), (3, 224, 224), 1_200_000, pooled=True, convolutions=True
    ),
    "darknet-passthrough-224": Family(lambda: darknet_passthrough(224), (3, 224, 224), 5_000_000, pooled=True),
    "unet-deconv-128": Family(lambda: unet_deconv(128), (3, 128, 128), 1_900_000, output="mask"),
    "inception-resnet-v1-zoo-160": Family(
        lambda: zoo("InceptionResNetV1", (3, 160, 160), 1000), (3, 160, 160), 15_000_000
    ),
    "tinyyolo-zoo-224": Family(
        lambda: zoo("TinyYOLO", (3, 224, 224), _YOLO_CLASSES), (3, 224, 224), 15_000_000, output="yolo", spread=1.0
    ),
}


@dataclass
class Exported:
    name: str
    family: Family
    net: object
    x: np.ndarray
    path: object
    expected: np.ndarray  # DL4J's output() on x
    params: int
    export_seconds: float
    limit: float  # how far ONNX Runtime may be from the exact answer (DL4J float64) on x
    dl4j_error: float  # DL4J float32 vs the exact answer
    exact: np.ndarray  # DL4J in float64 on x


@pytest.fixture(scope="module", params=list(FAMILIES))
def exported(request, tmp_path_factory) -> Exported:
    family = FAMILIES[request.param]
    net = family.build()
    perturb_batch_norm(net, seed=1, calibrate=images(4, family.shape, seed=99))
    x = images(family.batch, family.shape, seed=0)
    if family.convolutions:
        calibrate_convolutions(net, images(4, family.shape, seed=99))
    calibrate_head(net, x, family.spread, family.pooled)
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    start = time.perf_counter()
    # verify=False: the tests below are the verification, on this very file.
    export_onnx(net, path, input_shape=family.shape, verify=False)
    seconds = time.perf_counter() - start
    params = int(net.numParams())
    assert params >= family.min_params, f"{request.param}: {params:,} parameters, expected >= {family.min_params:,}"
    expected, exact = dl4j_outputs(net, [x])[0], dl4j_outputs(net, [x], np.float64)[0]
    dl4j_error = float(np.abs(expected - exact).max())
    limit = parity_limit(dl4j_error, float(np.abs(exact).max()))
    return Exported(request.param, family, net, x, path, expected, params, seconds, limit, dl4j_error, exact)


def test_python_parity(exported: Exported):
    family, x = exported.family, exported.x
    start = time.perf_counter()
    worst = assert_parity(exported.net, x, input_shape=family.shape, argmax=family.output == "classes")
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    got, want = session.run(None, {"input": x})[0], exported.expected
    summary = (
        f"{worst:.3g} (DL4J float32 vs float64 {exported.dl4j_error:.3g}, ONNX Runtime allowed {exported.limit:.3g})"
    )
    if family.output == "classes":
        # An arg-max check over images that all get one class would compare one number over and over.
        assert len(set(want.argmax(-1).tolist())) > 1, f"DL4J gives every image class {want.argmax(-1)[0]}"
    elif family.output == "mask":
        _assert_masks_agree(got, want, exported.limit + exported.dl4j_error)
    else:
        _assert_yolo_classes_agree(got, want)
    print(
        f"\n{exported.name}: {exported.params:,} params, export {exported.export_seconds:.1f} s, "
        f"python max abs diff {summary}, checked in {time.perf_counter() - start:.1f} s"
    )


@pytest.mark.parametrize("level", ["ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"])
def test_parity_at_every_optimisation_level(exported: Exported, level):
    """The rule holds whatever graph optimisations ONNX Runtime applies to the file: ORT_ENABLE_ALL (the default,
    and export_onnx's check) adds the NCHWc layout transformer, whose blocked convolutions round in another
    order; no family needs a session option to pass."""
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    session = ort.InferenceSession(str(exported.path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": exported.x})[0].astype(np.float64)
    error = float(np.abs(got - exported.exact).max())
    assert error <= exported.limit, (
        f"{exported.name} under {level}: ONNX Runtime {error:.3g} off DL4J float64, allowed {exported.limit:.3g} "
        f"(DL4J float32 {exported.dl4j_error:.3g})"
    )
    print(f"\n{exported.name} {level}: {error:.3g} off float64, allowed {exported.limit:.3g}")


def _assert_masks_agree(got: np.ndarray, want: np.ndarray, bound: float) -> None:
    # A per-pixel sigmoid has one output channel: an arg-max over it (or over the image's width, which is
    # the last axis) means nothing. What a segmentation user reads is the 0.5-threshold mask: it must agree
    # on every pixel, except a pixel within the bound of 0.5, where a difference the bound allows flips it.
    flipped = (got > 0.5) != (want > 0.5)
    decided = np.abs(want - 0.5) > bound
    assert not (flipped & decided).any(), f"{int((flipped & decided).sum())} mask pixels differ"
    foreground = float((want > 0.5).mean())
    assert 0.05 < foreground < 0.95, f"the mask is {foreground:.0%} foreground: the comparison would be trivial"


def _assert_yolo_classes_agree(got: np.ndarray, want: np.ndarray) -> None:
    """The arg-max that means something for a YOLO head: the class of each anchor box in each grid cell."""
    n, channels, h, w = want.shape
    boxes = channels // (5 + _YOLO_CLASSES)
    got, want = got.reshape(n, boxes, -1, h, w), want.reshape(n, boxes, -1, h, w)
    agree = float(np.mean(got[:, :, 5:].argmax(2) == want[:, :, 5:].argmax(2)))
    assert agree == 1.0, f"YOLO class arg-max agreement {agree:.4f}"


def test_java_parity(exported: Exported, tmp_path):
    """The same ONNX file in ONNX Runtime Java, against DL4J's output (raw float32 files)."""
    inputs, expected = tmp_path / "input.f32", tmp_path / "expected.f32"
    exported.x.tofile(inputs)
    exported.expected.tofile(expected)
    shape = ",".join(str(d) for d in exported.x.shape)
    cmd = [
        str(java_home() / "bin" / "java"),
        "-cp",
        str(service_jar()),
        PARITY_CHECK,
        str(exported.path),
        str(inputs),
        shape,
        str(expected),
    ]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"ParityCheck exit {result.returncode}: {result.stderr[-2000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rows"] == len(exported.x)
    assert tuple(report["row_shape"]) == exported.expected.shape[1:]
    # ParityCheck compares with DL4J float32: |ONNX - DL4J float32| <= |ONNX - exact| + |DL4J float32 - exact|.
    bound = exported.limit + exported.dl4j_error
    diff = report["max_abs_diff"]
    assert diff <= bound, f"ONNX Runtime Java: max abs diff {diff:.3g} > {bound:.3g}"
    # ParityCheck takes the arg-max over the last axis: the classes for a classifier; for the YOLO head the
    # grid's width, a weaker check (the class arg-max per box runs in Python above). For the U-Net's
    # per-pixel sigmoid it would be the arg-max along each image row, meaningless: neighbouring pixels
    # saturate to the same float32 value and tie (the 0.5-threshold mask is compared in Python instead).
    if exported.family.output != "mask":
        assert report["argmax_agreement"] == 1.0, f"ONNX Runtime Java: arg-max agreement {report['argmax_agreement']}"
    print(
        f"\n{exported.name}: java max abs diff {report['max_abs_diff']:.3g}, "
        f"argmax agreement {report['argmax_agreement']}, {time.perf_counter() - start:.1f} s"
    )
