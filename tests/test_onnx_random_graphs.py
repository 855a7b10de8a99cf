"""Seeded random ComputationGraphs through the exporter: parity or a refusal, never a third outcome.

Each seed draws a DAG over the supported 2D CNN layers (convolutions with random kernels, strides, dilations and
modes, batch norm, pooling, activation, depthwise, separable and transposed convolutions, padding, cropping,
upsampling, space-to-depth, LRN, dropout), with branches joined by MergeVertex concatenations and ElementWiseVertex residual
combinations (shapes matched with 1x1 convolutions), on a random small image, NCHW or NHWC; every map left
open is globally pooled, the vectors concatenated and read by dense layers. DL4J builds the graph with its own
builders and default (Xavier) weights; biases and batch-norm statistics are randomised. The network must export
with parity (DL4J's output() vs ONNX Runtime, two batch sizes, 1e-5) or be refused with UnsupportedLayerError;
any other exception fails with the seed and the drawn architecture in the message.
The generator steers clear of what DL4J 1.0.0-M2.1 itself gets wrong or cannot run (see separable(), lrn(),
reshape_spatially()): there the reference, not the export, would be at fault.
"""

from __future__ import annotations

import math

import jpype
import numpy as np
import pytest
from dl4j_builders import (
    GraphSpec,
    L,
    activation,
    batch_norm_in,
    cnn_format,
    concat,
    conv_input,
    cropping,
    deconv,
    dense,
    depthwise_conv,
    element_wise,
    global_pooling,
    ints,
    lrn,
    mode,
    output,
    pooling,
    separable_conv,
    space_to_depth,
    upsampling,
    zero_padding,
)
from onnx_helpers import assert_parity

import bridge
from bridge.errors import BridgeError, UnsupportedLayerError
from bridge.jvm import jclass
from bridge.nets import as_java

SEEDS = range(30)
ROWS = 3
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity", "leakyrelu", "elu", "softsign", "hardtanh", "swish", "relu6")
MODES = ("Same", "Truncate", "Strict")
DL4J_FAILED = "DL4J output()"  # how bridge.onnx.export.dl4j_outputs prefixes the Java errors it translates


def conv_out(size: int, k: int, s: int, p: int, d: int, conv_mode: str) -> int | None:
    """DL4J's output size along one axis, or None where the setting does not fit (Strict needs an exact fit)."""
    effective = (k - 1) * d + 1
    if conv_mode == "Same":
        return math.ceil(size / s)
    if size + 2 * p < effective:
        return None
    if conv_mode == "Strict" and (size + 2 * p - effective) % s:
        return None
    return (size + 2 * p - effective) // s + 1


class RandomGraph:
    """One seed's architecture, built with DL4J's GraphBuilder; shapes tracked as (C, H, W) whatever the layout."""

    def __init__(self, seed: int):
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.nhwc = seed % 3 == 2  # a third of the seeds run channels-last
        h, w, c = int(self.rng.integers(5, 15)), int(self.rng.integers(5, 15)), int(self.rng.integers(1, 5))
        self.spec = GraphSpec(seed=seed).input("image", conv_input(h, w, c, self.nhwc))
        self.shapes = {"image": (c, h, w)}
        self.taps: list[str] = []  # maps that the head also pools (multi-scale features)
        self.lines = [f"seed {seed}: image {'NHWC' if self.nhwc else 'NCHW'} (C,H,W)={(c, h, w)}"]
        self.outputs: list[str] = []

    # ---- bookkeeping ----
    def _add(self, kind: str, layer_conf, inputs: tuple[str, ...], shape, what: str, vertex: bool = False) -> str:
        name = f"v{len(self.lines)}_{kind}"
        if vertex:
            self.spec.vertex(name, layer_conf, *inputs)
        else:
            self.spec.layer(name, layer_conf, *inputs)
        self.shapes[name] = shape
        self.lines.append(f"  {name} <- {', '.join(inputs)}: {what} -> {shape}")
        return name

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def _act(self) -> str:
        return self._pick(ACTIVATIONS)

    # ---- single layers ----
    def conv(
        self,
        x: str,
        n_out: int | None = None,
        k: int | tuple | None = None,
        stride: int | None = None,
        conv_mode: str | None = None,
        keep_size: bool = False,
    ) -> str:
        c, h, w = self.shapes[x]
        rng = self.rng
        n_out = n_out or int(rng.integers(2, 9))
        if k is None:
            square = rng.random() < 0.8
            k = (self._pick((1, 2, 3, 3, 5)),) * 2 if square else tuple(int(v) for v in rng.integers(1, 5, 2))
        kh, kw = (k, k) if isinstance(k, int) else k
        stride = stride or (1 if keep_size or rng.random() < 0.6 else 2)
        conv_mode = conv_mode or ("Same" if keep_size else self._pick(MODES))
        padding = int(rng.integers(0, 2)) if conv_mode != "Same" else 0
        dilation = 2 if rng.random() < 0.15 else 1
        out_h, out_w = (
            conv_out(h, kh, stride, padding, dilation, conv_mode),
            conv_out(w, kw, stride, padding, dilation, conv_mode),
        )
        if out_h is None or out_w is None:  # the drawn geometry does not fit this map: Same always does
            conv_mode, padding = "Same", 0
            out_h, out_w = math.ceil(h / stride), math.ceil(w / stride)
        act, bias = self._act(), bool(rng.random() < 0.8)
        b = (
            jclass(L + "ConvolutionLayer$Builder")(ints(kh, kw), ints(stride, stride), ints(padding, padding))
            .dilation(ints(dilation, dilation))
            .nOut(n_out)
            .convolutionMode(mode(conv_mode))
            .activation(activation(act))
            .hasBias(bias)
            .dataFormat(cnn_format(self.nhwc))
        )
        what = f"conv {kh}x{kw} s{stride} p{padding} d{dilation} {conv_mode} nOut={n_out} {act} bias={bias}"
        return self._add("conv", b.build(), (x,), (n_out, out_h, out_w), what)

    def batch_norm(self, x: str) -> str:
        return self._add("bn", batch_norm_in(self.nhwc), (x,), self.shapes[x], "batch norm")

    def activation_layer(self, x: str) -> str:
        act = self._act()
        layer_conf = jclass(L + "ActivationLayer$Builder")().activation(activation(act)).build()
        return self._add("act", layer_conf, (x,), self.shapes[x], f"activation {act}")

    def dropout(self, x: str) -> str:
        return self._add("drop", jclass(L + "DropoutLayer$Builder")(0.7).build(), (x,), self.shapes[x], "dropout 0.7")

    def pool(self, x: str) -> str:
        c, h, w = self.shapes[x]
        kind, k = self._pick(("MAX", "MAX", "AVG", "PNORM")), self._pick((2, 3))
        stride, conv_mode = self._pick((1, 2, 2)), self._pick(("Same", "Truncate"))
        padding = int(self.rng.integers(0, 2)) if conv_mode == "Truncate" else 0
        out_h, out_w = (conv_out(h, k, stride, padding, 1, conv_mode), conv_out(w, k, stride, padding, 1, conv_mode))
        if out_h is None or out_w is None:
            conv_mode, padding, out_h, out_w = "Same", 0, math.ceil(h / stride), math.ceil(w / stride)
        pnorm = self._pick((1, 2, 3))
        layer_conf = pooling(kind, k, stride, conv_mode=conv_mode, pnorm=pnorm, nhwc=self.nhwc, padding=padding)
        what = f"{kind} pool {k}x{k} s{stride} p{padding} {conv_mode}" + (f" p={pnorm}" if kind == "PNORM" else "")
        return self._add("pool", layer_conf, (x,), (c, out_h, out_w), what)

    def depthwise(self, x: str) -> str:
        c, h, w = self.shapes[x]
        multiplier, act = self._pick((1, 2)), self._act()
        layer_conf = depthwise_conv(3, 1, conv_mode="Same", multiplier=multiplier, act=act, nhwc=self.nhwc)
        return self._add("dw", layer_conf, (x,), (c * multiplier, h, w), f"depthwise 3x3 Same m={multiplier} {act}")

    def separable(self, x: str) -> str:
        """NCHW only, two channels or more: DL4J 1.0.0-M2.1 cannot run it on one input channel (sconv2d: "bad
        input shape"), and in NHWC it returns a permuted array that its oneDNN-backed convolution and batch
        norm then read as if it were C-ordered (garbage of order 1e32: DL4J's own output is wrong)."""
        c, h, w = self.shapes[x]
        if self.nhwc or c < 2:
            return self.depthwise(x)
        n_out, stride, act = int(self.rng.integers(2, 9)), self._pick((1, 2)), self._act()
        layer_conf = separable_conv(n_out, 3, stride, conv_mode="Same", act=act, nhwc=self.nhwc)
        shape = (n_out, math.ceil(h / stride), math.ceil(w / stride))
        return self._add("sep", layer_conf, (x,), shape, f"separable 3x3 s{stride} Same nOut={n_out} {act}")

    def deconvolution(self, x: str) -> str:
        c, h, w = self.shapes[x]
        n_out, k, stride, act = int(self.rng.integers(2, 7)), self._pick((2, 3)), self._pick((1, 2)), self._act()
        conv_mode = self._pick(("Same", "Truncate"))
        shape = (
            (n_out, h * stride, w * stride)
            if conv_mode == "Same"
            else (n_out, stride * (h - 1) + k, stride * (w - 1) + k)
        )
        layer_conf = deconv(n_out, k, stride, conv_mode=conv_mode, act=act, nhwc=self.nhwc)
        what = f"deconvolution {k}x{k} s{stride} {conv_mode} nOut={n_out} {act}"
        return self._add("deconv", layer_conf, (x,), shape, what)

    def reshape_spatially(self, x: str) -> str:
        """Padding, cropping, upsampling or space-to-depth, whichever fits the map (and DL4J runs right)."""
        c, h, w = self.shapes[x]
        if h % 2 == 0 and w % 2 == 0 and self.rng.random() < 0.3:
            return self._add("s2d", space_to_depth(2, self.nhwc), (x,), (4 * c, h // 2, w // 2), "space-to-depth 2")
        if h <= 4 or w <= 4:
            return self._add("up", upsampling(2, 2, self.nhwc), (x,), (c, 2 * h, 2 * w), "upsampling 2x2")
        t, b, left, right = (int(v) for v in self.rng.integers(0, 2, 4))
        # DL4J 1.0.0-M2.1's oneDNN-backed convolution and batch norm misread an NHWC crop of the network input
        # (a view of the input array): its own output is wrong there (right with the generic ND4J build).
        if self.rng.random() < 0.5 or (self.nhwc and x == "image"):
            return self._add(
                "pad",
                zero_padding(t, b, left, right, self.nhwc),
                (x,),
                (c, h + t + b, w + left + right),
                f"zero padding {[t, b, left, right]}",
            )
        return self._add(
            "crop",
            cropping(t, b, left, right, self.nhwc),
            (x,),
            (c, h - t - b, w - left - right),
            f"cropping {[t, b, left, right]}",
        )

    def lrn(self, x: str) -> str:
        """Three channels or more: DL4J's LRN (n=5) fails on fewer ("addi on empty array")."""
        if self.shapes[x][0] < 3:
            return self.batch_norm(x)
        return self._add("lrn", lrn(nhwc=self.nhwc), (x,), self.shapes[x], "LRN n=5")

    # ---- branches ----
    def inception(self, x: str) -> str:
        """2-3 branches that keep the map's size, concatenated along the channels."""
        branches = []
        for _ in range(int(self.rng.integers(2, 4))):
            choice = self.rng.random()
            if choice < 0.5:
                y = self.conv(x, keep_size=True)
            elif choice < 0.75:
                y = self.conv(self.conv(x, k=1, keep_size=True), keep_size=True)
            else:
                c, h, w = self.shapes[x]
                y = self._add(
                    "pool",
                    pooling("MAX", 3, 1, conv_mode="Same", nhwc=self.nhwc),
                    (x,),
                    (c, h, w),
                    "MAX pool 3x3 s1 Same",
                )
            branches.append(y)
        c = sum(self.shapes[b][0] for b in branches)
        return self._add("cat", concat(), tuple(branches), (c, *self.shapes[x][1:]), "MergeVertex", vertex=True)

    def residual(self, x: str) -> str:
        """body(x) combined with x (a 1x1 convolution where the channel counts differ), ResNet style."""
        c, h, w = self.shapes[x]
        width = c if self.rng.random() < 0.5 else int(self.rng.integers(2, 9))
        body = self.conv(x, keep_size=True)
        if self.rng.random() < 0.5:
            body = self.batch_norm(body)
        body = self.conv(body, n_out=width, keep_size=True)
        shortcut = x if width == c else self.conv(x, n_out=width, k=1, keep_size=True)
        op = self._pick(("Add", "Add", "Add", "Product", "Max", "Average", "Subtract"))
        return self._add(
            "res", element_wise(op), (body, shortcut), (width, h, w), f"ElementWiseVertex {op}", vertex=True
        )

    def strided_merge(self, x: str) -> str:
        """Two stride-2 branches (Same mode: ceil(size / 2) both), concatenated: a reduction block."""
        a = self.conv(x, stride=2, conv_mode="Same")
        c, h, w = self.shapes[x]
        b = self._add(
            "pool",
            pooling("MAX", 2, 2, conv_mode="Same", nhwc=self.nhwc),
            (x,),
            (c, math.ceil(h / 2), math.ceil(w / 2)),
            "MAX pool 2x2 s2 Same",
        )
        return self._add(
            "cat", concat(), (a, b), (self.shapes[a][0] + c, *self.shapes[a][1:]), "MergeVertex", vertex=True
        )

    def skip_merge(self, x: str) -> str:
        """Concatenate with an earlier map of the same size (U-Net style), or add to one with the same shape."""
        earlier = [n for n in self.shapes if n != x and self.shapes[n][1:] == self.shapes[x][1:]]
        if not earlier:
            return self.conv(x)
        other = self._pick(earlier)
        if self.shapes[other] == self.shapes[x] and self.rng.random() < 0.5:
            return self._add(
                "res", element_wise("Add"), (x, other), self.shapes[x], "ElementWiseVertex Add", vertex=True
            )
        c = self.shapes[x][0] + self.shapes[other][0]
        return self._add("cat", concat(), (x, other), (c, *self.shapes[x][1:]), "MergeVertex", vertex=True)

    # ---- the whole graph ----
    # (method, weight): how often each step is drawn
    STEPS = (
        ("conv", 5),
        ("batch_norm", 2),
        ("pool", 2),
        ("activation_layer", 1),
        ("dropout", 0.5),
        ("depthwise", 1),
        ("separable", 1),
        ("deconvolution", 0.7),
        ("reshape_spatially", 1.5),
        ("lrn", 0.5),
        ("inception", 2),
        ("residual", 2.5),
        ("strided_merge", 1),
        ("skip_merge", 1.5),
    )

    def head(self, x: str) -> None:
        """Every open map globally pooled, concatenated, then dense layers; or (small maps) an output on the map."""
        c, h, w = self.shapes[x]
        if not self.taps and c * h * w <= 300 and self.rng.random() < 0.25:
            self.outputs.append(self._add("out", output(int(self.rng.integers(2, 6))), (x,), (0,), "output on the map"))
            return
        vectors = []
        for m in [*self.taps, x]:
            kind = self._pick(("AVG", "MAX", "PNORM", "SUM"))
            vectors.append(self._add("gp", global_pooling(kind), (m,), (self.shapes[m][0],), f"global {kind} pool"))
        features = (
            vectors[0]
            if len(vectors) == 1
            else self._add(
                "cat", concat(), tuple(vectors), (sum(self.shapes[v][0] for v in vectors),), "MergeVertex", vertex=True
            )
        )
        if self.rng.random() < 0.7:
            width, act = int(self.rng.integers(3, 10)), self._act()
            features = self._add("dense", dense(width, act), (features,), (width,), f"dense {width} {act}")
        self.outputs.append(self._add("out", output(int(self.rng.integers(2, 6))), (features,), (0,), "softmax output"))
        if len(vectors) > 1 and self.rng.random() < 0.5:  # a second output on the first pooled map alone
            self.outputs.append(self._add("out", output(2, "sigmoid", "XENT"), (vectors[0],), (0,), "sigmoid output"))

    def build(self):
        names, weights = zip(*self.STEPS)
        p = np.asarray(weights) / sum(weights)
        x = "image"
        for _ in range(int(self.rng.integers(3, 9))):
            x = getattr(self, names[int(self.rng.choice(len(names), p=p))])(x)
            if self.rng.random() < 0.15 and x not in self.taps:
                self.taps.append(x)
        self.head(x)
        net = self.spec.build(*self.outputs)
        _perturb(net, self.rng)
        return net

    def example_shape(self) -> tuple[int, int, int]:
        c, h, w = self.shapes["image"]
        return (h, w, c) if self.nhwc else (c, h, w)

    def describe(self) -> str:
        return "\n".join(self.lines + [f"  outputs: {self.outputs}"])


def _perturb(net, rng) -> None:
    """Random biases and batch-norm parameters and statistics (DL4J initialises them to constants); the
    weights keep DL4J's Xavier initialisation, scaled to each layer's fan-in so activations stay of order 1."""
    java = as_java(net)
    for key, value in dict(java.paramTable()).items():
        name, shape = str(key).rsplit("_", 1)[1], tuple(int(d) for d in value.shape())
        if name in ("b", "beta", "mean"):
            array = rng.normal(0, 0.3, shape)
        elif name in ("gamma", "var"):
            array = rng.uniform(0.5, 1.5, shape)
        elif name == "log10stdev":
            array = rng.uniform(-0.3, 0.3, shape)
        else:
            continue
        java.setParam(str(key), bridge.to_indarray(array.astype(np.float32)))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_exports_with_parity_or_is_refused(seed):
    graph = RandomGraph(seed)
    x = np.random.default_rng(1000 + seed).normal(0, 1, (ROWS, *graph.example_shape())).astype(np.float32)
    try:
        net = graph.build()
    except jpype.JException as error:  # the generator's mistake, not the exporter's
        pytest.fail(f"seed {seed}: DL4J refused the drawn graph ({error}); fix the generator\n{graph.describe()}")
    try:
        assert_parity(net, x, input_shape=graph.example_shape())
    except UnsupportedLayerError as error:
        assert "cannot be exported to ONNX exactly" in str(error), f"seed {seed}: {error}\n{graph.describe()}"
    except AssertionError as error:
        pytest.fail(f"seed {seed}: no parity: {error}\n{graph.describe()}")
    except BridgeError as error:
        if str(error).startswith(DL4J_FAILED):  # DL4J's own forward pass, after the export succeeded
            pytest.fail(
                f"seed {seed}: DL4J cannot run the drawn graph ({error}); fix the generator\n{graph.describe()}"
            )
        pytest.fail(f"seed {seed}: {type(error).__name__} escaped the export: {error}\n{graph.describe()}")
    except Exception as error:  # noqa: BLE001  (the third outcome this test exists to catch)
        pytest.fail(f"seed {seed}: {type(error).__name__} escaped the export: {error}\n{graph.describe()}")


def _padded_max_pool():
    """ZeroPaddingLayer then a MAX SubsamplingLayer, and negative inputs (drawn by seed 117 while exploring)."""
    spec = GraphSpec(seed=3).input("image", conv_input(6, 7, 2))
    spec.layer("pad", zero_padding(1, 0, 1, 1), "image").layer("pool", pooling("MAX", 2, 2), "pad")
    net = spec.layer("gap", global_pooling("AVG"), "pool").layer("out", output(3), "gap").build("out")
    _perturb(net, np.random.default_rng(3))
    return net, -np.abs(np.random.default_rng(4).normal(0, 1, (ROWS, 2, 6, 7))).astype(np.float32)


def test_zero_padding_before_max_pool():
    """ONNX Runtime's PadFusion would fold a constant-zero Pad into MaxPool's -inf padding (conv2d.zero_padding)."""
    net, x = _padded_max_pool()
    assert_parity(net, x, input_shape=(2, 6, 7))


def test_zero_padding_before_max_pool_survives_constant_folding(tmp_path):
    """The file as onnx-simplifier leaves it (the batch size fixed, every constant computation folded; here ONNX
    Runtime's own basic optimisations, saved), then run with all of ONNX Runtime's: still DL4J's zeros (a Pad
    with a zero computed at run time was folded into MaxPool's -inf padding, 0.48 off)."""
    import onnx
    import onnxruntime as ort

    from bridge.onnx import to_onnx
    from bridge.onnx.export import dl4j_outputs

    net, x = _padded_max_pool()
    model = to_onnx(net, input_shape=(2, 6, 7))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = len(x)
    folded = tmp_path / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    assert "Shape" not in {node.op_type for node in onnx.load(folded).graph.node}  # folded: nothing left to compute
    session = ort.InferenceSession(str(folded), providers=["CPUExecutionProvider"])
    got, want = session.run(None, {"input": x})[0], dl4j_outputs(net, [x])[0]
    assert float(np.max(np.abs(got - want))) <= 1e-5
