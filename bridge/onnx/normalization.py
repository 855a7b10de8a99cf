"""BatchNormalization (inference: global mean and variance) and LocalResponseNormalization."""

from __future__ import annotations

import numpy as np

from .registry import ACTIVATION_FREE, Graph, Tensor, data_format, from_nchw, layer, to_nchw

_L = "org.deeplearning4j.nn.conf.layers."


ACTIVATION_FREE.add(_L + "BatchNormalization")


@layer(_L + "BatchNormalization")
def batch_norm(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta, DL4J's inference formula, in that order: a Sub of the mean,
    then ONNX BatchNormalization with a zero mean, the per-channel factor gamma / sqrt(var + eps) computed here
    in float64 (rounded to float32 once) and given as its scale, with var 1 and epsilon 0 (sqrt(1 + 0) = 1 exactly).

    ONNX Runtime's BatchNormalization computes x * scale + (beta - mean * scale) in float32, which cancels where
    the mean is large beside the deviation: on Xception 4.2e-5 off the exact answer where DL4J's float32 is
    9.4e-6 off; subtracting the mean first gives 3.3e-6, at the same speed (batch 1, 92 ms either way).
    The factor computed by ONNX Runtime in float32 (var + eps, sqrt, gamma / that: three more roundings) is a
    per-channel error that every later layer carries: DL4J's zoo InceptionResNetV1 (127 batch norms, the families
    test's images) was 5.7e-5 off the exact answer under ORT_ENABLE_EXTENDED and 8.7e-5 under ORT_ENABLE_ALL (over
    the rule's 8.1e-5) with it, 2.5e-5 and 4.5e-5 with the factor rounded once (three more batches: at most
    7.7e-5 before, 5.1e-5 after, under ORT_ENABLE_ALL). On ResNet50, Xception, YOLO2 and Darknet19 the change
    moves the mean error by -11%..+25%, within the noise of float32 summation order.
    With useLogStd DL4J stores log10(stdev) and still divides by sqrt(stdev^2 + eps) (checked against
    its output). DL4J applies no activation function in this layer, whatever the configuration says.
    """
    fmt = data_format(conf)
    x = to_nchw(g, x, fmt)
    channels = x.shape[0]
    if "log10stdev" in params:
        var = (10.0 ** params["log10stdev"].astype(np.float64)) ** 2
    else:
        var = params["var"].astype(np.float64)
    eps = float(conf.get("eps", 1e-5))
    if conf.get("lockGammaBeta"):
        gamma = np.full(channels, conf.get("gamma", 1.0), np.float64)
        beta = np.full(channels, conf.get("beta", 0.0), np.float32)
    else:
        gamma, beta = params["gamma"].astype(np.float64), params["beta"]
    factor = gamma.reshape(-1) / np.sqrt(var.reshape(-1) + eps)
    mean = np.asarray(params["mean"], np.float32).reshape(channels, *([1] * (len(x.shape) - 1)))
    centred = g.apply("Sub", x, hint="batchnorm_centre", extra_inputs=(g.constant("mean", mean),))
    inputs = tuple(
        g.constant(name, np.asarray(v, np.float32).reshape(-1))
        for name, v in (
            ("factor", factor),
            ("beta", beta),
            ("zero_mean", np.zeros(channels)),
            ("unit_var", np.ones(channels)),
        )
    )
    y = g.apply("BatchNormalization", centred, hint="batchnorm", extra_inputs=inputs, epsilon=0.0)
    return from_nchw(g, y, fmt)


def _lrn_checks(conf: dict) -> list[str]:
    n = conf.get("n", 5.0)
    return [] if float(n).is_integer() and int(n) % 2 == 1 else [f"n={n} (an odd integer window is exported)"]


@layer(_L + "LocalResponseNormalization", check=_lrn_checks)
def local_response_norm(g: Graph, conf: dict, params: dict, x: Tensor) -> Tensor:
    """DL4J: x / (k + alpha * sum of squares over n channels)^beta; ONNX divides alpha by size."""
    n = int(conf.get("n", 5.0))
    fmt = data_format(conf)
    y = g.apply(
        "LRN",
        to_nchw(g, x, fmt),
        hint="lrn",
        size=n,
        alpha=float(conf.get("alpha", 1e-4)) * n,
        beta=float(conf.get("beta", 0.75)),
        bias=float(conf.get("k", 2.0)),
    )
    return from_nchw(g, y, fmt)
