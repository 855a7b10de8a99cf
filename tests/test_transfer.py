"""bridge.transfer: freeze, replace the output, remove and add layers, for MultiLayerNetworks and ComputationGraphs.

The bases are the shared trained vectors (models/vectors/lenet and resnet: trained by bridge.fit in
models/make_vectors.py), loaded rather than retrained to keep this file fast. Every transferred network is fitted
for one epoch on 1,000 real MNIST digits with bridge.fit, then checked: frozen parameters bit-identical to the
base's, every other parameter moved, the base untouched, ONNX export with parity, ONNX Runtime = DL4J.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from network_parts import FROZEN_LAYER, FROZEN_VERTEX, configurations, owner, params

import bridge
from bridge import nets
from bridge.errors import DataError
from bridge.jvm import jclass

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"


def _frozen(java) -> set[str]:
    return {k for k, c in configurations(java).items() if isinstance(c, (jclass(FROZEN_LAYER), jclass(FROZEN_VERTEX)))}


@dataclass(frozen=True)
class Case:
    base: str  # models/vectors/<base>/model.zip
    kwargs: dict
    frozen: set | None  # expected frozen layers (None: every vertex up to and including the freeze point)
    n_classes: int
    # parameter owners carried over from the base unchanged (frozen or not): layer index (or vertex) map
    carried: dict


def _graph_ancestors(java, name: str) -> set[str]:
    conf = java.getConfiguration()
    sources = {str(k): [str(s) for s in v] for k, v in conf.getVertexInputs().items()}
    found, stack = set(), [name]
    while stack:
        vertex = stack.pop()
        if vertex in sources and vertex not in found:
            found.add(vertex)
            stack.extend(sources[vertex])
    return found


CASES = {
    "lenet-new-output": Case(
        "lenet",
        dict(freeze=3, new_output=5, updater=nets.Adam(1e-3), seed=7),
        {"0", "1", "2", "3"},
        5,
        {"0": "0", "2": "2", "4": "4"},
    ),
    "lenet-remove-add": Case(
        "lenet", dict(freeze="layer1", remove_from=2, add=[nets.Dense(32), nets.Output(10)]), {"0", "1"}, 10, {"0": "0"}
    ),
    "resnet-new-output": Case("resnet", dict(freeze="block1", new_output=5, updater=nets.Adam(1e-3)), None, 5, {}),
    "resnet-remove-add": Case(
        "resnet",
        dict(freeze="block2", remove_from="pool", add=[nets.GlobalPool("max"), nets.Dense(16), nets.Output(3)]),
        None,
        3,
        {},
    ),
}


@dataclass
class Transferred:
    case: Case
    base: nets.Network
    net: nets.Network
    base_params: dict
    before: dict
    after: dict
    x: np.ndarray


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def transferred(request, mnist) -> Transferred:
    case = CASES[request.param]
    base = bridge.load(VECTORS / case.base / "model.zip")
    base_params = params(base.java)
    net = bridge.transfer(base, **case.kwargs)
    x_train, y_train, x_test, _ = mnist
    shape = (1, 28, 28) if net.is_graph else (784,)
    x, x_test = x_train[:1000].reshape(-1, *shape), x_test[:256].reshape(-1, *shape)
    before = params(net.java)
    bridge.fit(net, x, y_train[:1000] % case.n_classes, epochs=1, batch_size=64, seed=1, progress=False)
    return Transferred(case, base, net, base_params, before, params(net.java), x_test)


def _expected_frozen(t: Transferred) -> set[str]:
    if t.case.frozen is not None:
        return t.case.frozen
    return _graph_ancestors(t.base.java, t.case.kwargs["freeze"])


def test_frozen_layers_are_the_ones_asked_for(transferred):
    assert _frozen(transferred.net.java) == _expected_frozen(transferred)


def test_frozen_parameters_stay_bit_identical_and_the_others_train(transferred):
    frozen = _expected_frozen(transferred)
    assert set(transferred.after) == set(transferred.before)
    assert any(owner(k) in frozen for k in transferred.before), "no frozen parameters: the test proves nothing"
    for key, value in transferred.before.items():
        if owner(key) in frozen:
            np.testing.assert_array_equal(value, transferred.base_params[key], err_msg=f"{key}: not the base's value")
            np.testing.assert_array_equal(transferred.after[key], value, err_msg=f"{key}: a frozen parameter moved")
        else:
            assert not np.array_equal(transferred.after[key], value), f"{key}: trainable but unchanged by fit"


def test_kept_trainable_layers_start_from_the_base_weights(transferred):
    for new_owner, base_owner in transferred.case.carried.items():
        for param in ("W", "b"):
            np.testing.assert_array_equal(
                transferred.before[f"{new_owner}_{param}"], transferred.base_params[f"{base_owner}_{param}"]
            )


def test_base_network_is_untouched(transferred):
    now = params(transferred.base.java)
    for key, value in transferred.base_params.items():
        np.testing.assert_array_equal(now[key], value, err_msg=f"base's {key} changed")


def test_new_output_width_and_names(transferred):
    out = bridge.predict(transferred.net, transferred.x)
    assert out.shape == (len(transferred.x), transferred.case.n_classes)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # still a softmax head
    assert transferred.net.name == f"{transferred.base.name}_transfer"
    if transferred.net.is_graph:  # the graph keeps its output's name
        assert [str(o) for o in transferred.net.java.getConfiguration().getNetworkOutputs()] == ["out"]


def test_export_has_parity_with_dl4j(transferred, tmp_path):
    path = tmp_path / "transfer.onnx"
    report = bridge.export_onnx(transferred.net, path, sample=transferred.x)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5, report
    onnx_out = bridge.OnnxModel(path, providers="cpu").predict(transferred.x)
    assert np.max(np.abs(onnx_out - bridge.predict(transferred.net, transferred.x))) <= 1e-5


def test_fine_tune_updater_reaches_the_trainable_layers():
    base = bridge.load(VECTORS / "lenet" / "model.zip")
    net = bridge.transfer(base, freeze=3, updater=nets.Sgd(0.05))
    updater = net.java.getLayerWiseConfigurations().getConf(4).getLayer().getIUpdater()
    assert str(updater.getClass().getSimpleName()) == "Sgd" and float(updater.getLearningRate()) == 0.05
    assert net.labels == base.labels  # the output width did not change


def test_added_dense_after_convolution_gets_a_flattening_preprocessor():
    net = bridge.transfer(
        bridge.load(VECTORS / "lenet" / "model.zip"), remove_from=2, add=[nets.Dense(32), nets.Output(10)]
    )
    confs = net.java.getLayerWiseConfigurations()
    assert int(confs.getConf(2).getLayer().getNIn()) == 20 * 12 * 12  # 28 -> conv5 -> 24 -> pool2 -> 12
    assert "CnnToFeedForward" in str(confs.getInputPreProcess(2).getClass().getSimpleName())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(freeze="conv9", new_output=3), "'conv9' is not a layer of this network.*layer0"),
        (dict(freeze=6, new_output=3), "layer index 6 is out of range"),
        (dict(freeze=5), "must come before the output layer"),
        (dict(freeze=2, remove_from=2, add=[nets.Output(3)]), "must come before the first removed layer"),
        (dict(new_output=3, remove_from=4, add=[nets.Output(3)]), "both `new_output` and `add`"),
        (dict(remove_from=4), "`remove_from` and `add` go together"),
        (dict(remove_from=4, add=[nets.Dense(8)]), "must end with an output layer"),
        (dict(remove_from=4, add=["dense"]), "invalid entry in `add`"),
        (dict(new_output=0), "expected a positive integer"),
        (dict(freeze=1, updater=0.01), "invalid value for `updater`"),
        (dict(), "nothing to change"),
        (dict(freeze=1, weight_init="glorot"), "weight_init"),
    ],
    ids=[
        "unknown-name",
        "index-out-of-range",
        "freeze-output",
        "freeze-removed",
        "new-output-and-add",
        "remove-without-add",
        "add-without-output",
        "add-not-a-layer",
        "zero-classes",
        "bad-updater",
        "no-change",
        "bad-weight-init",
    ],
)
def test_multi_layer_misuse_raises_clear_errors(kwargs, message):
    base = bridge.load(VECTORS / "lenet" / "model.zip")
    with pytest.raises(DataError, match=message):
        bridge.transfer(base, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(freeze="block9", new_output=3), "'block9' is not a vertex of this graph.*stem"),
        (dict(freeze="out"), "it is an output layer"),
        (dict(freeze="block2", remove_from="block2", add=[nets.Output(3)]), "it is removed"),
        (dict(remove_from="nowhere", add=[nets.Output(3)]), "'nowhere' is not a vertex"),
        (dict(new_output={"digit": 3}), "'digit'.*not outputs of this graph"),
        (dict(remove_from="block2_add", add=[nets.Output(3)]), "reads 2 inputs: name the one"),
        (dict(remove_from="pool", attach_to="pool", add=[nets.GlobalPool(), nets.Output(3)]), "`attach_to`"),
        (dict(remove_from="pool", add=[("stem", nets.GlobalPool()), nets.Output(3)]), "'stem'.*already taken"),
    ],
    ids=[
        "unknown-vertex",
        "freeze-output",
        "freeze-removed",
        "remove-unknown",
        "unknown-output",
        "ambiguous-input",
        "attach-to-removed",
        "name-taken",
    ],
)
def test_graph_misuse_raises_clear_errors(kwargs, message):
    base = bridge.load(VECTORS / "resnet" / "model.zip")
    with pytest.raises(DataError, match=message):
        bridge.transfer(base, **kwargs)


def test_saved_and_loaded_transfer_keeps_frozen_layers_and_outputs(transferred, tmp_path):
    path = bridge.save(transferred.net, tmp_path / "transfer.zip")
    loaded = bridge.load(path)
    assert _frozen(loaded.java) == _expected_frozen(transferred)
    assert loaded.name == transferred.net.name and loaded.input_shapes == transferred.net.input_shapes
    np.testing.assert_array_equal(bridge.predict(loaded, transferred.x), bridge.predict(transferred.net, transferred.x))


def test_graph_freezes_every_named_vertex_and_what_leads_to_it():
    base = bridge.load(VECTORS / "resnet" / "model.zip")
    points = ["block2_proj_bn", "block2_bn1"]  # the shortcut and the first half of the last block's main path
    net = bridge.transfer(base, freeze=points, new_output=4)
    expected = _graph_ancestors(base.java, points[0]) | _graph_ancestors(base.java, points[1])
    assert _frozen(net.java) == expected
    assert "block2_conv2" not in expected and "block2_proj" in expected
    with pytest.raises(DataError, match="'nowhere' is not a vertex"):
        bridge.transfer(base, freeze=["block2_bn1", "nowhere"], new_output=4)
