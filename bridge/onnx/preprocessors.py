"""The input preprocessors that InputType.convolutionalFlat / convolutional insert between layers."""
from __future__ import annotations

import numpy as np

from .registry import Graph, preprocessor

_P = "org.deeplearning4j.nn.conf.preprocessor."


def _format_check(conf: dict) -> list[str]:
    data_format = conf.get("format") or "NCHW"
    return [f"format={data_format} (only NCHW is exported)"] if data_format != "NCHW" else []


@preprocessor(_P + "FeedForwardToCnnPreProcessor", check=_format_check)
def feed_forward_to_cnn(g: Graph, conf: dict) -> None:
    """A flat row of C*H*W values, C order, becomes [N, C, H, W]."""
    shape = (int(conf["numChannels"]), int(conf["inputHeight"]), int(conf["inputWidth"]))
    g.op("Reshape", [g.x, g.constant("cnn_shape", np.array((-1, *shape), np.int64))], "to_nchw")
    g.shape = shape


@preprocessor(_P + "CnnToFeedForwardPreProcessor", check=_format_check)
def cnn_to_feed_forward(g: Graph, conf: dict) -> None:
    g.apply("Flatten", "flatten", axis=1)
    g.shape = (int(np.prod(g.shape)),)
