"""The image shape a network was trained on travels with it (issue 25, part 4): a ComputationGraph built with
DL4J's own builders and InputType.convolutional (whose saved configuration keeps no height and width), trained
with bridge.fit on (n, 1, 28, 28), saved and loaded, exports to ONNX without input_shape=, in DL4J's parity."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import onnx
import pytest
from dl4j_builders import GraphSpec, conv, conv_input, dense, max_pool, output

import bridge
from bridge.cli.main import main as cli
from bridge.errors import DataError
from bridge.model.inputs import input_specs
from bridge.model.modelfile import METADATA_ENTRY
from bridge.onnx.export import max_abs_diff
from bridge.train.streams import NpyStream


def _graph():
    """A small CNN for 28 x 28 grey images, built as Java users build it (InputType.convolutional(28, 28, 1))."""
    spec = GraphSpec(seed=7).input("pixels", conv_input(28, 28, 1))
    spec.layer("c1", conv(4, 5), "pixels").layer("p1", max_pool(), "c1").layer("d1", dense(16), "p1")
    return spec.layer("out", output(10), "d1").build("out")


def _digits(n: int = 64):
    rng = np.random.default_rng(3)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(raw graph after bridge.fit, its saved zip)."""
    graph = _graph()
    x, y = _digits()
    bridge.fit(graph, x, y, epochs=1, batch_size=32, progress=False)
    path = tmp_path_factory.mktemp("trained") / "graph.zip"
    bridge.save(graph, path)
    return graph, path


def test_a_fresh_graph_asks_for_the_shape_once(tmp_path):
    graph = _graph()
    with pytest.raises(DataError, match="input_shape"):
        bridge.export_onnx(graph, tmp_path / "m.onnx")
    bridge.export_onnx(graph, tmp_path / "m.onnx", input_shape=(1, 28, 28))
    assert bridge.export_onnx(graph, tmp_path / "again.onnx").max_abs_diff <= 1e-5  # given once: remembered
    bridge.save(graph, tmp_path / "g.zip")
    assert bridge.load(tmp_path / "g.zip").input_shapes == {"pixels": (1, 28, 28)}


def test_fit_records_the_trained_shape_on_the_raw_graph_and_the_wrapper(trained):
    graph, _ = trained
    assert input_specs(graph)[0].shape == (1, 28, 28)
    assert input_specs(bridge.Network(graph))[0].shape == (1, 28, 28)  # wrapped after training
    assert bridge.transfer(graph, freeze="c1").input_shapes == {"pixels": (1, 28, 28)}
    wrapped = bridge.Network(_graph(), name="cnn")
    x, y = _digits(8)
    bridge.fit(wrapped, x, y, epochs=1, progress=False)
    assert wrapped.input_shapes == {"pixels": (1, 28, 28)}


def test_the_zip_keeps_the_shape_and_the_loaded_graph_exports_without_input_shape(trained, tmp_path):
    graph, path = trained
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read(METADATA_ENTRY))["input_shapes"] == {"pixels": [1, 28, 28]}
    loaded = bridge.load(path)
    assert loaded.input_shapes == {"pixels": (1, 28, 28)}
    report = bridge.export_onnx(loaded, tmp_path / "cnn.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    model = onnx.load(str(tmp_path / "cnn.onnx"))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, 28, 28]
    x, _ = _digits(10)
    assert max_abs_diff(loaded, (tmp_path / "cnn.onnx").read_bytes(), x) <= 1e-5  # on other digits, too
    np.testing.assert_allclose(
        bridge.OnnxModel(tmp_path / "cnn.onnx").predict(x), bridge.predict(graph, x), atol=1e-5
    )  # the loaded graph's ONNX answers what the trained one does


def test_the_raw_graph_exports_without_input_shape(trained, tmp_path):
    graph, _ = trained
    assert bridge.export_onnx(graph, tmp_path / "raw.onnx").max_abs_diff <= 1e-5


def test_cli_export_of_the_saved_zip_needs_no_input_shape(trained, tmp_path, capsys):
    _, path = trained
    assert cli(["export", str(path), str(tmp_path / "cli.onnx")]) == 0
    assert "max abs diff vs DL4J" in capsys.readouterr().out
    assert bridge.OnnxModel(tmp_path / "cli.onnx").input_shape == (1, 28, 28)


def test_a_minibatch_stream_records_the_shape_too(tmp_path):
    x, y = _digits(40)
    np.save(tmp_path / "x.npy", x), np.save(tmp_path / "y.npy", y)
    graph = _graph()
    bridge.fit(graph, NpyStream(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=20), epochs=1, progress=False)
    assert input_specs(graph)[0].shape == (1, 28, 28)
