"""The input preprocessors that DL4J inserts between layers (InputType.convolutionalFlat / convolutional)."""
from __future__ import annotations

import numpy as np

from .registry import Graph, Tensor, data_format, preprocessor

_P = "org.deeplearning4j.nn.conf.preprocessor."


@preprocessor(_P + "FeedForwardToCnnPreProcessor")
def feed_forward_to_cnn(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """A flat row of C*H*W values in C order becomes [N, C, H, W] (or [N, H, W, C] for NHWC)."""
    c, h, w = (int(conf["numChannels"]), int(conf["inputHeight"]), int(conf["inputWidth"]))
    shape = (h, w, c) if data_format(conf) == "NHWC" else (c, h, w)
    return g.apply("Reshape", x, shape, "to_image", extra_inputs=(g.ints("image_shape", (-1, *shape)),))


@preprocessor(_P + "CnnToFeedForwardPreProcessor")
def cnn_to_feed_forward(g: Graph, conf: dict, x: Tensor) -> Tensor:
    """C-order flatten of the map in its own layout (DL4J flattens NHWC maps as they lie)."""
    return g.apply("Flatten", x, (int(np.prod(x.shape)),), "flatten", axis=1)
