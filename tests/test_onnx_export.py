"""Export behaviour: refusals, verification, atomic writes, metadata, the shared vectors, OnnxModel, CLI."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

import bridge
from bridge import nets
from bridge.errors import DataError, ModelFileError, ParityError, ProviderError, ShapeError, UnsupportedLayerError
from bridge.jvm import jclass
from bridge.serve.runtime import _gpu_driver_missing

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
_L = "org.deeplearning4j.nn.conf.layers."


def _digits():
    x = np.fromfile(VECTORS / "mnist_test_1000.u8", np.uint8).reshape(1000, 784).astype(np.float32) / np.float32(255)
    return x, np.fromfile(VECTORS / "mnist_test_1000_labels.u8", np.uint8)


@pytest.mark.parametrize(
    "model, min_accuracy",
    [
        ("mlp", 0.9),
        ("lenet", 0.9),
        ("resnet", 0.8),  # a small residual graph trained 3 epochs on 4,000 digits: 0.864 (meta.json)
    ],
)
def test_shared_vectors_dl4j_and_onnx_agree_on_1000_digits(model, min_accuracy, mnist):
    x, labels = _digits()
    np.testing.assert_array_equal(x, mnist[2])  # the vectors are the loader's held-out digits
    meta = json.loads((VECTORS / model / "meta.json").read_text())
    x = x.reshape(meta["input_shape"])  # (1000, 784) rows, or NCHW (1000, 1, 28, 28) for an image model
    expected = np.fromfile(VECTORS / model / "outputs.f32", "<f4").reshape(meta["output_shape"])
    dl4j = bridge.predict(bridge.load(VECTORS / model / "model.zip"), x)
    onnx_out = bridge.OnnxModel(VECTORS / model / "model.onnx").predict(x)
    assert np.max(np.abs(dl4j - expected)) <= 1e-5, f"{model}: DL4J (model.zip) vs outputs.f32"
    assert np.max(np.abs(onnx_out - dl4j)) <= 1e-5, f"{model}: ONNX Runtime vs DL4J"
    assert (onnx_out.argmax(1) == dl4j.argmax(1)).all()  # 100% argmax agreement
    accuracy = (dl4j.argmax(1) == labels).mean()
    assert accuracy == pytest.approx(meta["accuracy"]) and accuracy > min_accuracy, f"{model}: accuracy {accuracy}"


def test_exported_model_is_valid_and_carries_metadata(tmp_path):
    net = nets.lenet(seed=3, labels=[f"c{i}" for i in range(10)])
    report = bridge.export_onnx(net, tmp_path / "lenet.onnx", opset=18, scaling="uint8 / 255")
    model = onnx.load(report.path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert report.max_abs_diff <= 1e-5 and report.opset == 18
    assert model.opset_import[0].version == 18 and model.ir_version <= 10
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == [
        "probabilities"
    ]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # dynamic batch
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["labels"])[3] == "c3" and meta["dl4j_version"] == "1.0.0-M2.1"
    assert meta["input_layout"].startswith("NCHW [N,1,28,28]") and meta["input_scaling"] == "uint8 / 255"
    assert model.producer_name == "dl4j-bridge"


def test_export_from_a_model_zip_and_from_a_raw_java_network(tmp_path, mnist):
    net = nets.mlp(seed=4)
    zip_path = bridge.save(net, tmp_path / "mlp.zip")
    from_zip = bridge.export_onnx(zip_path, tmp_path / "a.onnx")
    from_raw = bridge.export_onnx(net.java, tmp_path / "b.onnx", sample=mnist[2][:32])
    assert from_zip.max_abs_diff <= 1e-5 and from_raw.max_abs_diff <= 1e-5
    a, b = bridge.OnnxModel(from_zip.path), bridge.OnnxModel(from_raw.path)
    np.testing.assert_array_equal(a.predict(mnist[2][:10]), b.predict(mnist[2][:10]))


def test_failed_verification_writes_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous good model")
    with pytest.raises(ParityError, match="nothing was written"):
        bridge.export_onnx(nets.mlp(seed=1), target, tolerance=-1.0)  # no difference can pass a negative tolerance
    assert target.read_bytes() == b"previous good model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def _raw_network(*layers):
    import jpype

    builder = jclass("org.deeplearning4j.nn.conf.NeuralNetConfiguration$Builder")().seed(1)
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(
        builder.list(jpype.JArray(jclass(_L + "Layer"))(list(layers))).build()
    )
    net.init()
    return net


def test_unsupported_layer_is_refused_with_index_class_and_how_to_add(tmp_path):
    embedding = jclass(_L + "EmbeddingLayer$Builder")().nIn(10).nOut(4).build()
    output = jclass(_L + "OutputLayer$Builder")().nIn(4).nOut(3).build()
    with pytest.raises(UnsupportedLayerError, match=r"layer 0 \(EmbeddingLayer\).*no layer converter") as error:
        bridge.export_onnx(_raw_network(embedding, output), tmp_path / "never.onnx")
    assert "@layer" in str(error.value)
    assert not (tmp_path / "never.onnx").exists()


def test_every_unsupported_part_is_listed_in_one_error():
    from dl4j_builders import conv, flat_image_input, lrn, output, sequential

    layer_norm = jclass("org.deeplearning4j.nn.conf.layers.DenseLayer$Builder")().nOut(8).hasLayerNorm(True).build()
    net = sequential([conv(4, 3), lrn(4), layer_norm, output(3)], flat_image_input(7, 7, 6))
    with pytest.raises(UnsupportedLayerError) as error:
        bridge.export_onnx(net, "/tmp/never.onnx")
    message = str(error.value)
    assert "layer 1 (LocalResponseNormalization)" in message and "n=4.0" in message
    assert "layer 2 (DenseLayer)" in message and "hasLayerNorm=true" in message


def test_bad_opset_is_refused():
    with pytest.raises(DataError, match="opset"):
        bridge.export_onnx(nets.mlp(), "/tmp/never.onnx", opset=11)


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory):
    return bridge.OnnxModel(VECTORS / "lenet" / "model.onnx")


def test_onnx_model_accepts_flat_and_image_shapes_and_batches(lenet_onnx):
    x, _ = _digits()
    flat = lenet_onnx.predict(x[:50])
    np.testing.assert_array_equal(lenet_onnx.predict(x[:50].reshape(50, 1, 28, 28)), flat)
    np.testing.assert_allclose(lenet_onnx.predict(x[:50], batch_size=7), flat, atol=1e-6)
    np.testing.assert_allclose(lenet_onnx.predict(x[:50].astype(np.float64)), flat, atol=1e-6)  # float64 is cast
    assert (lenet_onnx.predict_classes(x[:50]) == flat.argmax(1)).all()
    assert lenet_onnx.providers[-1] == "CPUExecutionProvider" and lenet_onnx.labels[0] == "0"


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((2, 700), np.float32), ShapeError, "784"),
        (np.zeros((0, 784), np.float32), ShapeError, "n >= 1"),
        (np.zeros((2, 784), np.uint8), DataError, "float32"),
        (np.full((2, 784), np.nan, np.float32), DataError, "NaN"),
        ([[0.0] * 784], DataError, "numpy array"),
    ],
    ids=["wrong-width", "empty", "uint8", "nan", "list"],
)
def test_onnx_model_bad_input(lenet_onnx, bad, error, message):
    with pytest.raises(error, match=message):
        lenet_onnx.predict(bad)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "No ONNX model"),
        (b"this is not onnx", "not a loadable ONNX model"),
        ("truncated", "not a loadable ONNX model"),
    ],
    ids=["missing", "garbage", "truncated"],
)
def test_onnx_model_bad_file(tmp_path, content, message):
    path = tmp_path / "m.onnx"
    if content == "truncated":
        path.write_bytes((VECTORS / "mlp" / "model.onnx").read_bytes()[:5000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        bridge.OnnxModel(path)


def test_gpu_providers_never_fall_back_silently():
    path = VECTORS / "mlp" / "model.onnx"
    if _gpu_driver_missing():
        with pytest.raises(ProviderError, match="CUDAExecutionProvider cannot run: no NVIDIA driver"):
            bridge.OnnxModel(path, providers="cuda")
        with pytest.warns(RuntimeWarning, match="CUDAExecutionProvider skipped"):
            model = bridge.OnnxModel(path, providers=["cuda", "cpu"])
        assert model.providers == ["CPUExecutionProvider"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "auto" on a machine without a GPU: quiet, and says so in .providers
            assert bridge.OnnxModel(path).providers == ["CPUExecutionProvider"]
    else:
        assert bridge.OnnxModel(path, providers="cuda").providers[0] == "CUDAExecutionProvider"


@pytest.mark.slow
def test_cli_export_and_predict(tmp_path):
    out = tmp_path / "lenet.onnx"
    run = lambda *a: subprocess.run([sys.executable, "-m", "bridge", *a], capture_output=True, text=True, timeout=300)
    exported = run("export", str(VECTORS / "lenet" / "model.zip"), str(out), "--opset", "13")
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "max abs diff vs DL4J" in exported.stdout and "vs DL4J float64" in exported.stdout and out.exists()
    model = onnx.load(out)
    assert model.opset_import[0].version == 13 and model.ir_version == 7
    predicted = run("predict", str(out), "--data", "mnist", "--benchmark", "--json", "--provider", "cpu")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    result = json.loads(predicted.stdout)
    assert result["accuracy"] > 0.9 and result["providers"] == ["CPUExecutionProvider"]
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p99"] and result["throughput_batch256_per_s"] > 0
    missing = run("export", str(tmp_path / "nope.zip"), str(tmp_path / "x.onnx"))
    assert missing.returncode == 1 and "No model file" in missing.stderr and "Traceback" not in missing.stderr
