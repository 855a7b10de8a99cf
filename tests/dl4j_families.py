"""The CNN families people build, made with DL4J's own Java builders through JPype (DL4J's model zoo where
it has the family, DL4J's GraphBuilder where the zoo lacks a feature), at realistic sizes.

Weights: the zoo's (or DL4J's default) initialisation for convolution and dense weights, which keeps
activations O(1) through deep stacks; batch-norm statistics and affine parameters set to mild random
values (`perturb_batch_norm`) so that exporting them wrongly (ignored, swapped, log-std misread) shows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dl4j_builders import (
    C,
    GraphSpec,
    L,
    activation,
    batch_norm,
    concat,
    conv,
    conv_input,
    global_avg_pool,
    ints,
    max_pool,
    mode,
    output,
)

import bridge
from bridge.jvm import jclass
from bridge.model.kinds import is_graph

ZOO = "org.deeplearning4j.zoo.model."
_BATCH_NORM_PARAMS = {"gamma", "beta", "mean", "var", "log10stdev"}


def zoo(name: str, shape: tuple[int, int, int], classes: int, **options):
    """A zoo model (random weights, nothing downloaded): e.g. zoo("ResNet50", (3, 224, 224), 1000)."""
    builder = jclass(ZOO + name).builder().numClasses(classes).inputShape(ints(*shape))
    for option, value in options.items():
        builder = getattr(builder, option)(value)
    return builder.build().init()


def perturb_batch_norm(net, seed: int, calibrate: np.ndarray | None = None) -> int:
    """Mild random batch-norm parameters, as after some training; returns how many were set.

    Without `calibrate`: mean ~ N(0, 0.1), var in [0.5, 1.5], gamma in [0.8, 1.2], beta ~ N(0, 0.1).
    With `calibrate` (a batch of inputs): gamma and beta as above, then each layer's mean and variance from
    the statistics of its own input on that batch (DL4J's training-mode forward pass, which normalises
    every batch-norm layer with the batch's statistics at once), perturbed mildly (mean + N(0, 0.1) std,
    var x [0.8, 1.25]). This is what training leaves behind, and deep stacks need it: the zoo's ResNet-50
    initialises its convolutions with N(0, 0.5), whose activations overflow to NaN by the last stage under
    fixed statistics, and ReLU6 stacks saturate to one constant output for every image.
    """
    rng = np.random.default_rng(seed)
    params = {str(key): value for key, value in dict(net.paramTable()).items()}
    count = 0
    for key, value in params.items():
        name = key.rsplit("_", 1)[1]
        if name in _BATCH_NORM_PARAMS and (calibrate is None or name in ("gamma", "beta")):
            shape = tuple(int(d) for d in value.shape())
            net.setParam(key, bridge.to_indarray(_batch_norm_values(name, shape, rng)))
            count += 1
    if calibrate is not None:
        count += _calibrate(net, params, calibrate, rng)
    return count


def layer_inputs(net, batch: np.ndarray, train: bool) -> Callable[[str], np.ndarray]:
    """DL4J's own forward pass over `batch`: a function from a layer's name (a ComputationGraph's vertex name,
    a MultiLayerNetwork's index as a string) to the activations that layer reads (before its preprocessor)."""
    activations = net.feedForward(bridge.to_indarray(np.ascontiguousarray(batch, np.float32)), train)
    if is_graph(net):
        inputs = {str(k): [str(v) for v in vs] for k, vs in dict(net.getConfiguration().getVertexInputs()).items()}
        return lambda layer: bridge.to_numpy(activations.get(inputs[layer][0])).astype(np.float64)
    # MultiLayerNetwork.feedForward: [the input, layer 0's output, layer 1's output, ...]
    return lambda layer: bridge.to_numpy(activations.get(int(layer))).astype(np.float64)


def _calibrate(net, params: dict, batch: np.ndarray, rng) -> int:
    # Training mode also applies dropout: none of these families has dropout before a batch norm.
    read = layer_inputs(net, batch, True)
    count = 0
    for key in params:
        layer, name = key.rsplit("_", 1)
        if name not in ("mean", "var", "log10stdev"):
            continue
        x = read(layer)
        axes = tuple(i for i in range(x.ndim) if i != 1)  # per channel: NCHW (or [N, features])
        mean, var = x.mean(axes), x.var(axes) + 1e-3
        if name == "mean":
            values = mean + rng.normal(0, 0.1, mean.shape) * np.sqrt(var)
        else:
            var = var * rng.uniform(0.8, 1.25, var.shape)
            values = var if name == "var" else np.log10(np.sqrt(var))
        _set(net, params, key, values)
        count += 1
    return count


def calibrate_head(net, batch: np.ndarray, spread: float = 2.0, pooled: bool = False) -> str:
    """Centre and scale the last weighted layer (the classifier or detection head: a dense/output layer or a
    1x1 convolution) so that its pre-activations over `batch` have zero mean per class and standard
    deviation `spread`; returns the layer's name. pooled: measure the spread on each image's spatial mean
    (a 1x1 convolution that feeds a global pooling, as SqueezeNet's and Darknet's classifiers do).

    Why: a randomly initialised deep network maps different images to features that share one large
    common component, which a random classifier turns into the same arg-max for every image (the check
    would compare one class over and over) and a near-uniform or saturated softmax. A trained head has
    learnt to ignore that component; centring it is the same.
    """
    if is_graph(net):
        order = [str(net.getVertices()[i].getVertexName()) for i in net.topologicalSortOrder()]
    else:
        order = [str(i) for i in range(int(net.getnLayers()))]
    params = {str(k): v for k, v in dict(net.paramTable()).items()}
    name = next(n for n in reversed(order) if f"{n}_W" in params and f"{n}_b" in params)
    w, b = (bridge.to_numpy(params[f"{name}_{p}"]).astype(np.float64) for p in ("W", "b"))
    x = layer_inputs(net, batch, False)(name)
    b = b.reshape(-1)
    if w.ndim == 2:  # dense / output layer: x [N, nIn] (c-order flatten of an image input), W [nIn, nOut]
        z, axes = x.reshape(len(x), -1) @ w + b, (0,)
    elif w.shape[2:] == (1, 1):  # 1x1 convolution, NCHW: W [nOut, nIn, 1, 1]
        z, axes = np.einsum("oi,nihw->nohw", w[:, :, 0, 0], x) + b[:, None, None], (0, 2, 3)
    else:
        raise ValueError(f"calibrate_head: the last weighted layer {name!r} (W {w.shape}) is neither dense nor 1x1")
    centre = z.mean(axes)
    deviation = z - np.expand_dims(centre, axes)
    scale = spread / (deviation.mean((2, 3)) if pooled and z.ndim == 4 else deviation).std()
    _set(net, params, f"{name}_W", w * scale)
    _set(net, params, f"{name}_b", (b - centre) * scale)
    return name


def calibrate_convolutions(net, batch: np.ndarray, spread: float = 2.0) -> int:
    """Data-dependent initialisation (Salimans and Kingma, 2016) of every plain ConvolutionLayer: scale and
    shift its weights and bias so that each output channel's pre-activation over `batch` has mean 0 and
    standard deviation `spread`, layer after layer in topological order; returns how many layers it set.

    Why: the zoo's SqueezeNet puts a sigmoid on every convolution (then a ReLU), and with its initial
    weights the differences between images shrink ~3x per layer, to 2e-8 at the classifier: every image
    gets the same output to float32 precision, and neither arg-max nor value checks would see a difference
    that depends on the input. Batch norm does this for the families that have it (perturb_batch_norm).
    """
    if not is_graph(net):
        return _calibrate_layer_convolutions(net, batch, spread)
    identity = jclass("org.nd4j.linalg.activations.impl.ActivationIdentity")()
    workspaces = jclass("org.deeplearning4j.nn.workspace.LayerWorkspaceMgr").noWorkspaces()
    vertices, params = net.getVertices(), {str(k): v for k, v in dict(net.paramTable()).items()}
    outputs, count = {}, 0
    for index in net.topologicalSortOrder():  # DL4J's own forward pass, one vertex at a time
        vertex = vertices[index]
        name = str(vertex.getVertexName())
        if vertex.isInputVertex():
            outputs[name] = bridge.to_indarray(np.ascontiguousarray(batch, np.float32))
            continue
        for i, source in enumerate(vertex.getInputVertices()):
            vertex.setInput(i, outputs[str(vertices[source.getVertexIndex()].getVertexName())], workspaces)
        conf = vertex.getLayer().conf().getLayer() if vertex.hasLayer() else None
        if conf is not None and conf.getClass().getSimpleName() == "ConvolutionLayer" and f"{name}_b" in params:
            act = conf.getActivationFn()
            conf.setActivationFn(identity)  # the pre-activation, from DL4J itself
            z = bridge.to_numpy(vertex.doForward(False, workspaces)).astype(np.float64)
            conf.setActivationFn(act)
            _rescale(net, params, name, z, spread)
            count += 1
        outputs[name] = vertex.doForward(False, workspaces).dup()
    net.clearLayersStates()
    return count


def _calibrate_layer_convolutions(net, batch: np.ndarray, spread: float) -> int:
    """calibrate_convolutions for a MultiLayerNetwork (NCHW): each ConvolutionLayer's pre-activation read from
    DL4J's feedForwardToLayer with the layer's activation set to identity meanwhile."""
    identity = jclass("org.nd4j.linalg.activations.impl.ActivationIdentity")()
    x = bridge.to_indarray(np.ascontiguousarray(batch, np.float32))
    params, count = {str(k): v for k, v in dict(net.paramTable()).items()}, 0
    for i in range(int(net.getnLayers())):
        conf = net.getLayer(i).conf().getLayer()
        if conf.getClass().getSimpleName() != "ConvolutionLayer" or f"{i}_b" not in params:
            continue
        act = conf.getActivationFn()
        conf.setActivationFn(identity)
        z = bridge.to_numpy(net.feedForwardToLayer(i, x, False).get(i + 1)).astype(np.float64)
        conf.setActivationFn(act)
        _rescale(net, params, i, z, spread)
        count += 1
    net.clearLayersStates()
    return count


def _rescale(net, params: dict, layer, z: np.ndarray, spread: float) -> None:
    """Scales and shifts a convolution's weights and bias so that its pre-activation `z` (NCHW, from DL4J) has mean 0
    and standard deviation `spread` per channel."""
    mean, scale = z.mean((0, 2, 3)), spread / (z.std((0, 2, 3)) + 1e-6)
    w, b = (bridge.to_numpy(params[f"{layer}_{p}"]).astype(np.float64) for p in ("W", "b"))
    _set(net, params, f"{layer}_W", w * scale[:, None, None, None])
    _set(net, params, f"{layer}_b", (b.reshape(-1) - mean) * scale)


def _set(net, params: dict, key: str, values: np.ndarray) -> None:
    shape = tuple(int(d) for d in params[key].shape())
    net.setParam(key, bridge.to_indarray(values.astype(np.float32).reshape(shape)))


def _batch_norm_values(name: str, shape, rng) -> np.ndarray:
    if name in ("var", "log10stdev"):
        var = rng.uniform(0.5, 1.5, shape)
        values = var if name == "var" else np.log10(np.sqrt(var))  # DL4J's default useLogStd stores log10(std)
    elif name == "gamma":
        values = rng.uniform(0.8, 1.2, shape)
    else:
        values = rng.normal(0, 0.1, shape)
    return values.astype(np.float32)


class HeGraphSpec(GraphSpec):
    """GraphSpec with He initialisation (DL4J's WeightInit.RELU), as ReLU networks are built: with DL4J's
    default Xavier, activations shrink layer after layer and a 1000-way softmax comes out uniform to 1e-5,
    which would make both the 1e-4 bound and the arg-max check meaningless."""

    def __init__(self, seed: int):
        super().__init__(seed)
        weight_init = jclass("org.deeplearning4j.nn.weights.WeightInit").RELU
        self.builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed).weightInit(weight_init).graphBuilder()


def _layer(kind: str, *args):
    return jclass(L + kind + "$Builder")(*args)


def _act_layer(name: str):
    return _layer("ActivationLayer").activation(activation(name)).build()


def _leaky(alpha: float = 0.1):
    return (
        _layer("ActivationLayer").activation(jclass("org.nd4j.linalg.activations.impl.ActivationLReLU")(alpha)).build()
    )


def _conv(n_out: int, k: int, stride: int = 1, act: str = "identity", bias: bool = True):
    return conv(n_out, k, stride=stride, conv_mode="Same", act=act, bias=bias)


# --- Inception (GoogLeNet v1 layout: 1x1, 1x1->3x3, 1x1->5x5 and pool->1x1 branches concatenated) ---


def _inception(spec: GraphSpec, name: str, x: str, c1: int, r3: int, c3: int, r5: int, c5: int, pool: int) -> str:
    spec.layer(f"{name}-1x1", _conv(c1, 1, act="relu"), x)
    spec.layer(f"{name}-3x3r", _conv(r3, 1, act="relu"), x).layer(
        f"{name}-3x3", _conv(c3, 3, act="relu"), f"{name}-3x3r"
    )
    spec.layer(f"{name}-5x5r", _conv(r5, 1, act="relu"), x).layer(
        f"{name}-5x5", _conv(c5, 5, act="relu"), f"{name}-5x5r"
    )
    spec.layer(f"{name}-pool", max_pool(3, 1, conv_mode="Same"), x).layer(
        f"{name}-poolproj", _conv(pool, 1, act="relu"), f"{name}-pool"
    )
    spec.vertex(name, concat(), f"{name}-1x1", f"{name}-3x3", f"{name}-5x5", f"{name}-poolproj")
    return name


def inception(size: int = 96, classes: int = 1000):
    """GoogLeNet's stem (with local response normalisation) and inception modules 3a, 3b, 4a, 4b."""
    spec = HeGraphSpec(seed=11).input("image", conv_input(size, size, 3))
    spec.layer("stem-conv", _conv(64, 7, 2, act="relu"), "image").layer(
        "stem-pool", max_pool(3, 2, conv_mode="Same"), "stem-conv"
    )
    spec.layer("stem-lrn", _layer("LocalResponseNormalization").build(), "stem-pool")
    spec.layer("stem-1x1", _conv(64, 1, act="relu"), "stem-lrn").layer(
        "stem-3x3", _conv(192, 3, act="relu"), "stem-1x1"
    )
    spec.layer("stem-pool2", max_pool(3, 2, conv_mode="Same"), "stem-3x3")
    x = _inception(spec, "3a", "stem-pool2", 64, 96, 128, 16, 32, 32)
    x = _inception(spec, "3b", x, 128, 128, 192, 32, 96, 64)
    spec.layer("pool3", max_pool(3, 2, conv_mode="Same"), x)
    x = _inception(spec, "4a", "pool3", 192, 96, 208, 16, 48, 64)
    x = _inception(spec, "4b", x, 160, 112, 224, 24, 64, 64)
    spec.layer("gap", global_avg_pool(), x).layer("out", output(classes), "gap")
    return spec.build("out")


# --- MobileNet v1 (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6), width multiplier 0.5 ---

_MOBILENET_BLOCKS = [(1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (1, 256), (2, 512), (1, 512)]


def _depthwise(stride: int):
    return (
        _layer("DepthwiseConvolution2D", ints(3, 3), ints(stride, stride))
        .depthMultiplier(1)
        .convolutionMode(mode("Same"))
        .activation(activation("identity"))
        .hasBias(False)
        .build()
    )


def _bn_relu6(spec: GraphSpec, name: str, x: str) -> str:
    spec.layer(f"{name}-bn", batch_norm(), x).layer(f"{name}-relu6", _act_layer("relu6"), f"{name}-bn")
    return f"{name}-relu6"


def mobilenet(size: int = 128, classes: int = 1000):
    spec = HeGraphSpec(seed=12).input("image", conv_input(size, size, 3))
    spec.layer("stem", _conv(16, 3, 2, bias=False), "image")
    x = _bn_relu6(spec, "stem", "stem")
    for i, (stride, n_out) in enumerate(_MOBILENET_BLOCKS):
        spec.layer(f"dw{i}", _depthwise(stride), x)
        x = _bn_relu6(spec, f"dw{i}", f"dw{i}")
        spec.layer(f"pw{i}", _conv(n_out, 1, bias=False), x)
        x = _bn_relu6(spec, f"pw{i}", f"pw{i}")
    spec.layer("gap", global_avg_pool(), x).layer("out", output(classes), "gap")
    return spec.build("out")


# --- Darknet with a space-to-depth passthrough (YOLOv2's reorg), classifier head ---


def _dark(spec: GraphSpec, name: str, x: str, n_out: int, k: int) -> str:
    spec.layer(name, _conv(n_out, k, bias=False), x).layer(f"{name}-bn", batch_norm(), name)
    spec.layer(f"{name}-leaky", _leaky(), f"{name}-bn")
    return f"{name}-leaky"


def darknet_passthrough(size: int = 128, classes: int = 1000):
    spec = HeGraphSpec(seed=13).input("image", conv_input(size, size, 3))
    x = _dark(spec, "c1", "image", 32, 3)
    for i, width in enumerate((64, 128, 256), start=2):
        spec.layer(f"p{i}", max_pool(), x)
        x = _dark(spec, f"c{i}a", f"p{i}", width, 3)
        x = _dark(spec, f"c{i}b", x, width // 2, 1)
        x = _dark(spec, f"c{i}c", x, width, 3)
    fine = _dark(spec, "pass", x, 32, 1)
    spec.layer("reorg", _layer("SpaceToDepthLayer").blocks(2).build(), fine)
    spec.layer("p5", max_pool(), x)
    x = _dark(spec, "c5a", "p5", 512, 3)
    spec.vertex("route", concat(), "reorg", x)
    x = _dark(spec, "c6", "route", 512, 3)
    spec.layer("logits", _conv(classes, 1), x).layer("gap", global_avg_pool(), "logits")
    loss = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").MCXENT
    spec.layer("out", _layer("LossLayer").lossFunction(loss).activation(activation("softmax")).build(), "gap")
    return spec.build("out")


# --- U-Net with transposed convolutions (the zoo's U-Net upsamples with Upsampling2D + conv) ---


def _double_conv(spec: GraphSpec, name: str, x: str, n_out: int) -> str:
    spec.layer(f"{name}-1", _conv(n_out, 3, act="relu"), x).layer(f"{name}-bn", batch_norm(), f"{name}-1")
    spec.layer(f"{name}-2", _conv(n_out, 3, act="relu"), f"{name}-bn")
    return f"{name}-2"


def _deconv(n_out: int):
    return (
        _layer("Deconvolution2D", ints(2, 2), ints(2, 2))
        .nOut(n_out)
        .convolutionMode(mode("Same"))
        .activation(activation("relu"))
        .build()
    )


def unet_deconv(size: int = 64, base: int = 32):
    """Four levels; the decoder alternates Deconvolution2D and Upsampling2D + 2x2 conv; sigmoid per pixel."""
    spec = HeGraphSpec(seed=14).input("image", conv_input(size, size, 3))
    skips, x = [], "image"
    for level in range(3):
        x = _double_conv(spec, f"down{level}", x, base << level)
        skips.append(x)
        spec.layer(f"pool{level}", max_pool(), x)
        x = f"pool{level}"
    x = _double_conv(spec, "bottom", x, base << 3)
    for level in reversed(range(3)):
        if level % 2 == 0:
            spec.layer(f"up{level}", _deconv(base << level), x)
        else:
            spec.layer(f"up{level}-nn", _layer("Upsampling2D").size(2).build(), x)
            spec.layer(f"up{level}", _conv(base << level, 2, act="relu"), f"up{level}-nn")
        spec.vertex(f"cat{level}", concat(), skips[level], f"up{level}")
        x = _double_conv(spec, f"dec{level}", f"cat{level}", base << level)
    spec.layer("mask", _conv(1, 1), x)
    xent = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").XENT
    spec.layer("out", _layer("CnnLossLayer").lossFunction(xent).activation(activation("sigmoid")).build(), "mask")
    return spec.build("out")


def images(n: int, shape, seed: int = 0) -> np.ndarray:
    """Random images, (C, H, W): coarse random blobs plus fine noise, each image with its own brightness and
    contrast. Plain i.i.d. noise would not do: a deep network's global pooling averages it to nearly the
    same features for every image, and the arg-max check would compare one class over and over."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    coarse = rng.random((n, c, -(-h // 8), -(-w // 8)))
    blobs = np.kron(coarse, np.ones((1, 1, 8, 8)))[:, :, :h, :w]
    contrast, brightness = rng.uniform(0.5, 1.5, (n, 1, 1, 1)), rng.uniform(-0.5, 0.5, (n, 1, 1, 1))
    return ((blobs + 0.3 * rng.random((n, *shape))) * contrast + brightness).astype(np.float32)


__all__ = [
    "zoo",
    "perturb_batch_norm",
    "calibrate_convolutions",
    "calibrate_head",
    "layer_inputs",
    "inception",
    "mobilenet",
    "darknet_passthrough",
    "unet_deconv",
    "images",
]
