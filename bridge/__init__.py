"""dl4j-bridge: train DL4J networks from Python (locally or on Spark), export them to ONNX, run them anywhere.

import bridge
x, y, xt, yt = bridge.data.load("mnist")
net = bridge.nets.lenet()
bridge.fit(net, x, y, epochs=5)
print(bridge.evaluate(net, xt, yt).accuracy)
"""

from . import augment, callbacks, data, errors, nets, schedules, spark
from .arrays import to_indarray, to_numpy
from .errors import BridgeError
from .jvm import start_jvm
from .nets import Network
from .onnx import export_onnx
from .runtime import OnnxModel
from .training import evaluate, fit, load, predict, save
from .transfer import transfer

__version__ = "0.1.0"

__all__ = [
    "start_jvm",
    "to_indarray",
    "to_numpy",
    "data",
    "nets",
    "errors",
    "spark",
    "callbacks",
    "schedules",
    "Network",
    "BridgeError",
    "fit",
    "evaluate",
    "predict",
    "save",
    "load",
    "export_onnx",
    "OnnxModel",
    "__version__",
    "transfer",
    "augment",
]
