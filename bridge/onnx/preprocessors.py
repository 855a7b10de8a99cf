"""The input preprocessors that DL4J inserts between layers (InputType.convolutionalFlat / convolutional)."""

from __future__ import annotations

import numpy as np

from .registry import Graph, Tensor, data_format, preprocessor, refuse

_P = "org.deeplearning4j.nn.conf.preprocessor."


@preprocessor(_P + "FeedForwardToCnnPreProcessor")
def feed_forward_to_cnn(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """A flat row of C*H*W values in C order becomes [N, C, H, W] (or [N, H, W, C] for NHWC)."""
    c, h, w = (int(conf["numChannels"]), int(conf["inputHeight"]), int(conf["inputWidth"]))
    shape = (h, w, c) if data_format(conf) == "NHWC" else (c, h, w)
    if int(np.prod(x.shape)) != c * h * w:
        _mismatch("FeedForwardToCnnPreProcessor", shape, x)
    return g.apply("Reshape", x, shape, "to_image", extra_inputs=(g.ints("image_shape", (-1, *shape)),))


@preprocessor(_P + "CnnToFeedForwardPreProcessor")
def cnn_to_feed_forward(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """C-order flatten of the map in its own layout (DL4J flattens NHWC maps as they lie)."""
    c, h, w = (int(conf.get(key) or 0) for key in ("numChannels", "inputHeight", "inputWidth"))
    shape = (h, w, c) if data_format(conf) == "NHWC" else (c, h, w)
    if len(x.shape) == 3 and all(shape) and x.shape != shape:
        _mismatch("CnnToFeedForwardPreProcessor", shape, x)
    return g.apply("Flatten", x, (int(np.prod(x.shape)),), "flatten", axis=1)


def _mismatch(name: str, configured: tuple[int, ...], x: Tensor) -> None:
    """DL4J's preProcess throws on such an input ("Invalid input, does not match configuration"): its output()
    fails on this network too. It happens where a vertex's getOutputType disagrees with its forward pass
    (DL4J 1.0.0-M2.1's PoolHelperVertex reports its input's size, not one row and column less)."""
    refuse(
        f"{name} configured for [N,{','.join(map(str, configured))}] receives [N,{','.join(map(str, x.shape))}]; "
        "DL4J's own output() rejects this input too (its configuration disagrees with the shapes it computes)"
    )
