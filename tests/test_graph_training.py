"""ComputationGraphs built with DL4J's own GraphBuilder (through JPype, not bridge.nets): training, inference,
model files, Spark, and the input checks for image layouts and named inputs/outputs."""

import jpype
import numpy as np
import pytest
from dl4j_builders import batch_norm_in, conv, conv_input, global_avg_pool, output, sequential

import bridge
from bridge import nets
from bridge.errors import DataError, ShapeError
from bridge.jvm import jclass
from bridge.model.inputs import InputSpec, input_specs, output_names

C = "org.deeplearning4j.nn.conf."
N_TRAIN = 1000


def _activation(name):
    return jclass("org.nd4j.linalg.activations.Activation").valueOf(name)


def _graph_builder(seed=7):
    adam = jclass("org.nd4j.linalg.learning.config.Adam")(3e-3)
    return jclass(C + "NeuralNetConfiguration$Builder")().seed(seed).updater(adam).graphBuilder()


def _conv(n_out, nhwc=False):
    ints = jpype.JArray(jpype.JInt)
    b = (
        jclass(C + "layers.ConvolutionLayer$Builder")(ints([3, 3]), ints([1, 1]), ints([0, 0]))
        .nOut(n_out)
        .convolutionMode(jclass(C + "ConvolutionMode").Same)
        .activation(_activation("RELU"))
    )
    return (b.dataFormat(jclass(C + "CNN2DFormat").NHWC) if nhwc else b).build()


def _output(n_out):
    return jclass(C + "layers.OutputLayer$Builder")().nOut(n_out).activation(_activation("SOFTMAX")).build()


def _init(builder):
    graph = jclass("org.deeplearning4j.nn.graph.ComputationGraph")(builder.build())
    graph.init()
    return graph


def residual_cnn(nhwc=False, seed=7):
    """in (12x12x3) -> c1 -> c2, add(c1, c2) -> 2x2 max pool -> softmax(10): a residual block."""
    fmt = jclass(C + "CNN2DFormat").NHWC if nhwc else jclass(C + "CNN2DFormat").NCHW
    pool = (
        jclass(C + "layers.SubsamplingLayer$Builder")(jclass(C + "layers.SubsamplingLayer$PoolingType").MAX)
        .kernelSize(2, 2)
        .stride(2, 2)
        .dataFormat(fmt)
        .build()
    )
    add = jclass(C + "graph.ElementWiseVertex")(jclass(C + "graph.ElementWiseVertex$Op").Add)
    b = (
        _graph_builder(seed)
        .addInputs("image")
        .setInputTypes(jclass(C + "inputs.InputType").convolutional(12, 12, 3, fmt))
        .addLayer("c1", _conv(8, nhwc), "image")
        .addLayer("c2", _conv(8, nhwc), "c1")
        .addVertex("add", add, "c1", "c2")
        .addLayer("pool", pool, "add")
        .addLayer("digit", _output(10), "pool")
        .setOutputs("digit")
    )
    return _init(b)


def two_in_two_out(seed=7):
    """left / right halves of a digit (392 pixels each) -> dense each -> merge -> digit (10) and parity (2)."""
    dense = lambda n: jclass(C + "layers.DenseLayer$Builder")().nOut(n).activation(_activation("RELU")).build()  # noqa: E731
    ff = jclass(C + "inputs.InputType").feedForward(392)
    b = (
        _graph_builder(seed)
        .addInputs("left", "right")
        .setInputTypes(ff, ff)
        .addLayer("l", dense(32), "left")
        .addLayer("r", dense(32), "right")
        .addVertex("merged", jclass(C + "graph.MergeVertex")(), "l", "r")
        .addLayer("digit", _output(10), "merged")
        .addLayer("parity", _output(2), "merged")
        .setOutputs("digit", "parity")
    )
    return _init(b)


def small_images(x):
    """Real MNIST digits as 12x12x3 NCHW images: a 24x24 crop, 2x2 mean-pooled, and three channels."""
    img = x.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(-1, 12, 2, 12, 2).mean(axis=(2, 4))
    return np.stack([img, img**2, 1.0 - img], axis=1).astype(np.float32)


def halves(x):
    img = x.reshape(-1, 28, 28)
    return {
        "left": np.ascontiguousarray(img[:, :, :14]).reshape(-1, 392),
        "right": np.ascontiguousarray(img[:, :, 14:]).reshape(-1, 392),
    }


@pytest.fixture(scope="module")
def images(mnist):
    x, y, xt, yt = mnist
    return small_images(x[:N_TRAIN]), y[:N_TRAIN], small_images(xt[:300]), yt[:300]


@pytest.fixture(scope="module")
def trained_residual(images):
    x, y, _, _ = images
    net = bridge.Network(residual_cnn(), name="residual", input_shapes={"image": (3, 12, 12)})
    history = bridge.fit(net, x, y, epochs=3, batch_size=32, progress=False)
    return net, history


def _java_output(graph, *arrays):
    return [bridge.to_numpy(a) for a in graph.output(False, *[bridge.to_indarray(a) for a in arrays])]


def test_input_specs_read_layout_and_channels_from_the_configuration():
    assert input_specs(residual_cnn()) == [InputSpec("image", "NCHW", None, None, 3)]
    assert input_specs(residual_cnn(nhwc=True)) == [InputSpec("image", "NHWC", None, None, 3)]
    assert input_specs(bridge.Network(residual_cnn(), input_shapes={"image": (3, 12, 12)}))[0].shape == (3, 12, 12)
    assert [s.name for s in input_specs(two_in_two_out())] == ["left", "right"]
    assert input_specs(two_in_two_out())[0] == InputSpec("left", "flat", (392,))
    assert output_names(two_in_two_out()) == ["digit", "parity"]
    assert input_specs(nets.lenet())[0].image == (1, 28, 28)


@pytest.mark.slow
def test_residual_cnn_learns_real_digits(trained_residual, images):
    net, history = trained_residual
    assert net.is_graph and [h.epoch for h in history] == [1, 2, 3]
    assert history[-1].loss < history[0].loss
    _, _, xt, yt = images
    result = bridge.evaluate(net, xt, yt)
    predicted = bridge.predict(net, xt).argmax(axis=1)
    assert result.accuracy == pytest.approx(float((predicted == yt).mean()))  # DL4J's Evaluation vs numpy
    assert result.accuracy > 0.6


@pytest.mark.parametrize("batch_size", [1024, 7])
def test_predict_equals_the_graphs_own_output(trained_residual, images, batch_size):
    net, _ = trained_residual
    xt = images[2][:50]
    expected = _java_output(net.java, xt)[0]
    np.testing.assert_allclose(bridge.predict(net.java, xt, batch_size=batch_size), expected, rtol=1e-5, atol=1e-7)


def test_save_and_load_keep_the_kind_outputs_and_metadata(trained_residual, images, tmp_path):
    net, _ = trained_residual
    restored = bridge.load(bridge.save(net, tmp_path / "residual.zip"))
    assert restored.is_graph and restored.name == "residual" and restored.input_shapes == {"image": (3, 12, 12)}
    np.testing.assert_array_equal(bridge.predict(restored, images[2][:20]), bridge.predict(net, images[2][:20]))
    # a zip DL4J wrote itself (no bridge metadata) is recognised as a graph too
    raw = tmp_path / "raw.zip"
    jclass("org.deeplearning4j.util.ModelSerializer").writeModel(net.java, jclass("java.io.File")(str(raw)), True)
    assert bridge.load(raw).is_graph


def test_nhwc_graph_takes_channels_last_images(images):
    x, y, xt, _ = images
    graph = residual_cnn(nhwc=True)
    channels_last = np.ascontiguousarray(np.transpose(x[:200], (0, 2, 3, 1)))
    bridge.fit(graph, channels_last, y[:200], epochs=1, progress=False)
    test = np.ascontiguousarray(np.transpose(xt[:10], (0, 2, 3, 1)))
    np.testing.assert_allclose(bridge.predict(graph, test), _java_output(graph, test)[0], rtol=1e-5, atol=1e-7)
    with pytest.raises(ShapeError, match=r"channels-first.*np\.transpose\(x, \(0, 2, 3, 1\)\)"):
        bridge.predict(graph, xt[:10])


@pytest.mark.parametrize("network", ["nchw-graph", "flat-image-lenet"])
def test_channels_last_images_are_refused_for_channels_first_networks(network, images, mnist):
    if network == "nchw-graph":
        net, x = residual_cnn(), np.transpose(images[2][:4], (0, 2, 3, 1))
        expected = r"\(n, 3, H, W\)"
    else:  # c*h*w matches the flat input: without the check it would be silently misread
        net, x = nets.lenet(), mnist[2][:4].reshape(4, 28, 28, 1)
        expected = r"\(n, 1, 28, 28\)"
    with pytest.raises(ShapeError, match=expected + r".*channels-last.*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        bridge.predict(net, x)
    with pytest.raises(ShapeError, match="channels-last"):
        bridge.fit(net, x, np.zeros(4, int), progress=False)


def test_two_inputs_and_two_outputs_by_name(mnist):
    x, y, xt, yt = mnist
    graph = two_in_two_out()
    labels = {"digit": y[:N_TRAIN], "parity": y[:N_TRAIN] % 2}
    history = bridge.fit(
        graph,
        halves(x[:N_TRAIN]),
        labels,
        epochs=2,
        progress=False,
        validation=(halves(xt[:200]), {"digit": yt[:200], "parity": yt[:200] % 2}),
    )
    assert history[-1].loss < history[0].loss and history[-1].val_accuracy > 0.6
    test = halves(xt[:40])
    out = bridge.predict(graph, test)
    assert list(out) == ["digit", "parity"] and out["parity"].shape == (40, 2)
    for name, java in zip(output_names(graph), _java_output(graph, test["left"], test["right"])):
        np.testing.assert_allclose(out[name], java, rtol=1e-5, atol=1e-7)
    results = bridge.evaluate(graph, test, {"digit": yt[:40], "parity": yt[:40] % 2})
    assert results["parity"].accuracy == pytest.approx(float((out["parity"].argmax(1) == yt[:40] % 2).mean()))


@pytest.mark.parametrize(
    "case, error, message",
    [
        ("wrong-keys", DataError, r"keys \['left', 'middle'\].*inputs are \['left', 'right'\]"),
        ("plain-array", DataError, r"2 inputs \['left', 'right'\]: pass `x` as a dict"),
        ("rows-differ", ShapeError, r"same number of rows.*left: 5, right: 4"),
        ("labels-not-a-dict", DataError, r"2 outputs \['digit', 'parity'\]: pass `y` as a dict"),
        ("wrong-label-keys", DataError, r"keys \['digit'\].*outputs are \['digit', 'parity'\]"),
        ("wrong-width", ShapeError, r"`x\['right'\]` of shape \(n, 392\)"),
    ],
)
def test_named_inputs_and_outputs_are_checked(case, error, message, mnist):
    x = halves(mnist[0][:5])
    y = {"digit": mnist[1][:5], "parity": mnist[1][:5] % 2}
    if case == "wrong-keys":
        x = {"left": x["left"], "middle": x["right"]}
    elif case == "plain-array":
        x = x["left"]
    elif case == "rows-differ":
        x["right"] = x["right"][:4]
    elif case == "labels-not-a-dict":
        y = y["digit"]
    elif case == "wrong-label-keys":
        y = {"digit": y["digit"]}
    elif case == "wrong-width":
        x["right"] = x["right"][:, :300]
    with pytest.raises(error, match=message):
        bridge.fit(two_in_two_out(), x, y, progress=False)


@pytest.mark.slow
def test_spark_local2_trains_a_graph_and_averages_the_updater_state(images):
    x, y, xt, yt = images
    graph = residual_cnn(seed=3)
    before = bridge.evaluate(graph, xt, yt).accuracy
    history = bridge.fit(
        graph, x, y, epochs=2, batch_size=16, seed=3, progress=False, spark="local[2]", averaging_frequency=5
    )
    assert [h.epoch for h in history] == [1, 2]
    assert bridge.evaluate(graph, xt, yt).accuracy > max(0.4, before + 0.2)
    # Adam's moments are averaged and brought back with the parameters (DL4J's default drops them each round)
    assert np.abs(bridge.to_numpy(graph.getUpdater().getStateViewArray())).sum() > 0


@pytest.mark.slow
def test_spark_trains_a_two_input_two_output_graph(mnist):
    x, y, xt, yt = mnist
    graph = two_in_two_out(seed=3)
    history = bridge.fit(
        graph,
        halves(x[:600]),
        {"digit": y[:600], "parity": y[:600] % 2},
        epochs=1,
        batch_size=16,
        progress=False,
        spark="local[2]",
        averaging_frequency=5,
        validation=(halves(xt[:200]), {"digit": yt[:200], "parity": yt[:200] % 2}),
    )
    assert history[0].val_accuracy > 0.5
    assert np.abs(bridge.to_numpy(graph.getUpdater().getStateViewArray())).sum() > 0


def test_flat_rows_are_images_in_the_networks_own_layout_when_its_shape_is_known(trained_residual, images):
    net, _ = trained_residual
    xt = images[2][:8]
    np.testing.assert_array_equal(bridge.predict(net, xt.reshape(8, -1)), bridge.predict(net, xt))
    with pytest.raises(ShapeError, match=r"\(n, 3, H, W\)"):  # H and W unknown: flat rows cannot be read
        bridge.predict(residual_cnn(), xt.reshape(8, -1))


def test_summary_of_graphs_names_their_layers():
    """DL4J's own ComputationGraph.summary() fails without input types; the bridge passes them."""
    table = str(nets.resnet_small(widths=(4, 8)))
    assert "block2_proj" in table and "ElementWiseVertex" in table
    nhwc = bridge.Network(residual_cnn(nhwc=True), input_shapes={"image": (12, 12, 3)})
    assert "c2" in str(nhwc)
    unknown = bridge.Network(residual_cnn())
    with pytest.raises(DataError, match="input_shapes"):
        unknown.summary()
    assert str(unknown) == repr(unknown)
    assert "layer" in str(nets.lenet()).lower()


def _layout_twins(nhwc: bool):
    """conv (Same) -> batch norm -> global average pool -> softmax: the same network and weights in either layout."""
    # Global pooling, not a flatten: flattening an NHWC map orders the features differently.
    layers = [conv(6, 3, conv_mode="Same", nhwc=nhwc), batch_norm_in(nhwc), global_avg_pool(), output(10)]
    net = sequential(layers, conv_input(12, 12, 3, nhwc), seed=3)
    rng = np.random.default_rng(3)  # identical parameters: DL4J keeps conv weights [nOut, nIn, kH, kW] in both
    for key, value in dict(net.paramTable()).items():
        shape = tuple(int(d) for d in value.shape())
        net.setParam(key, bridge.to_indarray(rng.normal(0, 0.3, shape).astype(np.float32)))
    return net


@pytest.mark.slow
def test_channels_last_training_matches_channels_first(images):
    """DL4J's oneDNN helpers train NHWC layers wrongly (batch norm diverges to NaN, conv gradients are off);
    the bridge gives NHWC layers none, so both layouts must learn the same parameters."""
    x, y, _, _ = images
    first, last = _layout_twins(False), _layout_twins(True)
    bridge.fit(first, x[:256], y[:256], epochs=2, batch_size=32, seed=1, progress=False)
    bridge.fit(
        last,
        np.ascontiguousarray(x[:256].transpose(0, 2, 3, 1)),
        y[:256],
        epochs=2,
        batch_size=32,
        seed=1,
        progress=False,
    )
    a, b = bridge.to_numpy(first.params()), bridge.to_numpy(last.params())
    assert np.isfinite(b).all()
    assert float(np.max(np.abs(a - b))) <= 1e-4


@pytest.mark.slow
def test_spark_workers_train_channels_last_like_channels_first(images):
    """Spark workers build their own copies of the network: a training hook gives helpers to channels-first layers only there too."""
    x, y, _, _ = images
    options = dict(epochs=1, batch_size=16, seed=2, progress=False, spark="local[2]", averaging_frequency=4)
    first, last = _layout_twins(False), _layout_twins(True)
    bridge.fit(first, x[:256], y[:256], **options)
    bridge.fit(last, np.ascontiguousarray(x[:256].transpose(0, 2, 3, 1)), y[:256], **options)
    a, b = bridge.to_numpy(first.params()), bridge.to_numpy(last.params())
    assert np.isfinite(b).all()  # with the helper: NaN after a few minibatches
    assert float(np.max(np.abs(a - b))) <= 1e-4
