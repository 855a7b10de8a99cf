"""BatchNormalization (inference: global mean and variance) and LocalResponseNormalization."""
from __future__ import annotations

import numpy as np

from .registry import ACTIVATION_FREE, Graph, layer

_L = "org.deeplearning4j.nn.conf.layers."


def _bn_checks(conf: dict) -> list[str]:
    data_format = conf.get("cnn2DFormat") or "NCHW"
    return [f"cnn2DFormat={data_format} (only NCHW is exported)"] if data_format != "NCHW" else []


ACTIVATION_FREE.add(_L + "BatchNormalization")


@layer(_L + "BatchNormalization", check=_bn_checks)
def batch_norm(g: Graph, conf: dict, params: dict) -> None:
    """(x - mean) / sqrt(var + eps) * gamma + beta, DL4J's inference formula.

    With useLogStd DL4J stores log10(stdev) and still divides by sqrt(stdev^2 + eps) (checked against
    its output). DL4J applies no activation function in this layer, whatever the configuration says.
    """
    channels = g.shape[0]
    if "log10stdev" in params:
        var = (10.0 ** params["log10stdev"].astype(np.float64)) ** 2
    else:
        var = params["var"]
    eps = float(conf.get("eps", 1e-5))
    if conf.get("lockGammaBeta"):
        gamma = np.full(channels, conf.get("gamma", 1.0), np.float32)
        beta = np.full(channels, conf.get("beta", 0.0), np.float32)
    else:
        gamma, beta = params["gamma"], params["beta"]
    inputs = [g.x] + [g.constant(name, np.asarray(v, np.float32).reshape(-1))
                      for name, v in (("gamma", gamma), ("beta", beta), ("mean", params["mean"]), ("var", var))]
    g.op("BatchNormalization", inputs, "batchnorm", epsilon=eps)


def _lrn_checks(conf: dict) -> list[str]:
    n = conf.get("n", 5.0)
    problems = [] if float(n).is_integer() and int(n) % 2 == 1 else [f"n={n} (an odd integer window is exported)"]
    data_format = conf.get("dataFormat") or conf.get("cnn2dDataFormat") or "NCHW"
    return problems + ([f"data format {data_format} (only NCHW is exported)"] if data_format != "NCHW" else [])


@layer(_L + "LocalResponseNormalization", check=_lrn_checks)
def local_response_norm(g: Graph, conf: dict, params: dict) -> None:
    """DL4J: x / (k + alpha * sum of squares over n channels)^beta; ONNX divides alpha by size."""
    n = int(conf.get("n", 5.0))
    g.apply("LRN", "lrn", size=n, alpha=float(conf.get("alpha", 1e-4)) * n, beta=float(conf.get("beta", 0.75)),
            bias=float(conf.get("k", 2.0)))
