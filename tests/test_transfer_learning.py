"""Transfer learning with DL4J's own TransferLearning builders, fitted with bridge.fit, exported with parity.

A trained network's feature layers are frozen (`setFeatureExtractor`: DL4J wraps their configurations in
FrozenLayer, a graph's other vertices in FrozenVertex), its output layer replaced by a new one, and the result
fitted for one epoch on the real MNIST digits. Two cases:
- lenet: bridge.nets.lenet() trained one epoch here; TransferLearning.Builder freezes layers 0-3 (conv, pool,
  conv, pool), keeps the dense layer trainable and puts a new OutputLayer on it.
- resnet: the shared vector models/vectors/resnet/model.zip (bridge.nets.resnet_small trained by bridge.fit in
  models/make_vectors.py; loaded rather than retrained, to keep this file fast); TransferLearning.GraphBuilder
  freezes everything up to the last residual block ("block2") and puts a new OutputLayer on the pooling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from dl4j_builders import output_in
from network_parts import FROZEN_LAYER, FROZEN_VERTEX, configurations, owner, params

import bridge
from bridge import nets
from bridge.jvm import jclass

pytestmark = pytest.mark.slow  # trains the base networks it transfers from

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
TL = "org.deeplearning4j.nn.transferlearning."


@dataclass
class Transfer:
    """A transferred network before and after its fit, and the network it came from."""

    base: nets.Network
    net: nets.Network
    frozen: set[str]  # layer indices (MultiLayerNetwork) or vertex names (graph) expected frozen
    trained: set[str]  # those whose parameters the fit must change
    base_params: dict  # the base's parameters when the transfer was built
    before: dict  # the transferred network's parameters before / after its fit
    after: dict
    x_test: np.ndarray
    y_test: np.ndarray
    min_accuracy: float
    seconds: float


def _unwrapped(conf):
    if isinstance(conf, jclass(FROZEN_LAYER)):
        return conf.getLayer()
    return conf.getUnderlying() if isinstance(conf, jclass(FROZEN_VERTEX)) else conf


def _fine_tune(learning_rate: float):
    adam = jclass("org.nd4j.linalg.learning.config.Adam")(learning_rate)
    return jclass(TL + "FineTuneConfiguration$Builder")().updater(adam).seed(7).build()


def _lenet(mnist):
    x_train, y_train, _, _ = mnist
    base = nets.lenet(seed=42)
    bridge.fit(base, x_train, y_train, epochs=1, batch_size=64, seed=42, progress=False)
    java = (
        jclass(TL + "TransferLearning$Builder")(base.java)
        .fineTuneConfiguration(_fine_tune(1e-3))
        .setFeatureExtractor(3)
        .removeOutputLayer()
        .addLayer(output_in(500, 10))
        .build()
    )
    return base, java, {"0", "1", "2", "3"}, {"4", "5"}, 0.9


def _resnet(mnist):
    base = bridge.load(VECTORS / "resnet" / "model.zip")
    java = (
        jclass(TL + "TransferLearning$GraphBuilder")(base.java)
        .fineTuneConfiguration(_fine_tune(1e-2))
        .setFeatureExtractor("block2")
        .removeVertexAndConnections("out")
        .addLayer("head", output_in(16, 10), "pool")
        .setOutputs("head")
        .build()
    )
    frozen = set(configurations(base.java)) - {"pool", "out"}
    # Only the new head learns: 0.86 after one epoch, the base's own accuracy (0.864, meta.json).
    return base, java, frozen, {"head"}, 0.8


@pytest.fixture(scope="module", params=[_lenet, _resnet], ids=["lenet", "resnet"])
def transfer(request, mnist) -> Transfer:
    base, java, frozen, trained, min_accuracy = request.param(mnist)
    base_params = params(base.java)
    net = nets.Network(java, name=f"{base.name}_transfer", labels=base.labels, input_shapes=base.input_shapes)
    shape = next(iter(base.input_shapes.values())) if base.input_shapes else (784,)
    x_train, y_train, x_test, y_test = (a.reshape(-1, *shape) if a.ndim == 2 else a for a in mnist)
    before = params(java)
    start = time.perf_counter()
    bridge.fit(net, x_train, y_train, epochs=1, batch_size=64, seed=42, progress=False)
    return Transfer(
        base,
        net,
        frozen,
        trained,
        base_params,
        before,
        params(java),
        x_test,
        y_test,
        min_accuracy,
        time.perf_counter() - start,
    )


def test_feature_layers_are_frozen_wrappers_of_the_base_layers(transfer):
    confs, base_confs = configurations(transfer.net.java), configurations(transfer.base.java)
    frozen = {k for k, c in confs.items() if isinstance(c, (jclass(FROZEN_LAYER), jclass(FROZEN_VERTEX)))}
    assert frozen == transfer.frozen
    for name in frozen:  # each wraps the base's own layer (or vertex) type
        assert _unwrapped(confs[name]).getClass() == base_confs[name].getClass(), name
    assert transfer.trained <= set(confs) - frozen


def test_fit_leaves_frozen_parameters_bit_identical_and_trains_the_head(transfer):
    assert set(transfer.after) == set(transfer.before)
    for key, value in transfer.before.items():
        layer = owner(key)
        if layer in transfer.frozen:
            np.testing.assert_array_equal(
                value, transfer.base_params[key], err_msg=f"{key}: not the base's trained value"
            )
            np.testing.assert_array_equal(transfer.after[key], value, err_msg=f"{key}: a frozen parameter moved")
        else:
            assert layer in transfer.trained, f"{key}: neither frozen nor expected to train"
            assert not np.array_equal(transfer.after[key], value), f"{key}: the fit did not change it"
    assert any(owner(k) in transfer.frozen for k in transfer.before), "no frozen parameters: the test proves nothing"


def test_fit_leaves_the_base_network_untouched(transfer):
    now = params(transfer.base.java)
    for key, value in transfer.base_params.items():
        np.testing.assert_array_equal(now[key], value, err_msg=f"base network's {key} changed")


def test_transferred_network_classifies_the_test_digits(transfer):
    accuracy = bridge.evaluate(transfer.net, transfer.x_test, transfer.y_test).accuracy
    assert accuracy >= transfer.min_accuracy, f"accuracy {accuracy:.3f} after one epoch ({transfer.seconds:.1f} s)"


def test_export_has_parity_and_onnx_runtime_predicts_as_dl4j(transfer, tmp_path):
    path = tmp_path / "transfer.onnx"
    x = transfer.x_test
    report = bridge.export_onnx(transfer.net, path, sample=x[:256])
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5, report
    dl4j = bridge.predict(transfer.net, x)
    onnx_out = bridge.OnnxModel(path, providers="cpu").predict(x)
    assert onnx_out.shape == dl4j.shape == (len(x), 10)
    assert np.max(np.abs(onnx_out - dl4j)) <= 1e-5, "ONNX Runtime vs DL4J on the 1,000 test digits"
    np.testing.assert_array_equal(onnx_out.argmax(1), dl4j.argmax(1))
