"""dl4j-bridge: train DL4J networks from Python (locally or on Spark), export them to ONNX, run them anywhere.

import bridge
x, y, xt, yt = bridge.data.load("mnist")
net = bridge.nets.lenet()
bridge.fit(net, x, y, epochs=5)
print(bridge.evaluate(net, xt, yt).accuracy)

The package's layers, bottom to top (each imports only those below it; docs/architecture.md):
errors, validate, files -> jvm -> model, data -> onnx, train -> spark, serve -> cli.
"""

import sys

from . import data, errors, onnx, spark
from .errors import BridgeError
from .jvm import start_jvm
from .jvm.arrays import to_indarray, to_numpy
from .jvm.locate import VERSION as __version__
from .model import nets, schedules
from .model.modelfile import load, save
from .model.network import Network
from .model.transfer import transfer
from .onnx import export_onnx
from .onnx.triton import export_triton
from .serve.runtime import OnnxModel
from .train import augment, callbacks, plots, ui
from .train.api import evaluate, fit, predict

# The public namespaces live in the subpackages; `import bridge.nets` and `from bridge.callbacks import X` keep
# working through these names.
for _name, _module in {
    "nets": nets,
    "schedules": schedules,
    "callbacks": callbacks,
    "augment": augment,
    "ui": ui,
    "plots": plots,
}.items():
    sys.modules[f"{__name__}.{_name}"] = _module

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
    "augment",
    "ui",
    "plots",
    "onnx",
    "Network",
    "BridgeError",
    "fit",
    "evaluate",
    "predict",
    "save",
    "load",
    "export_onnx",
    "export_triton",
    "OnnxModel",
    "transfer",
    "__version__",
]
