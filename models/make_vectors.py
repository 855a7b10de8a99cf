"""Write the shared test vectors (models/README.md): the 1,000 MNIST test digits, and for the MLP, LeNet
and a small residual ComputationGraph (resnet: DL4J's GraphBuilder, InputType.convolutional(28, 28, 1))
trained briefly with a fixed seed, the ONNX file, the DL4J zip and DL4J's outputs on those digits.

Run: .venv/bin/python models/make_vectors.py [mlp] [lenet] [resnet]     (no names: all of them)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import bridge
from bridge import data, nets
from bridge.jvm import jclass
from bridge.onnx import export_onnx
from bridge.onnx.export import DL4J_VERSION

VECTORS = Path(__file__).resolve().parent / "vectors"
EPOCHS, SEED, OPSET, TOLERANCE = 2, 42, 17, 1e-5


def write_digits(x_test: np.ndarray, y_test: np.ndarray) -> None:
    pixels = np.rint(x_test * 255).astype(np.uint8)
    assert np.array_equal(pixels.astype(np.float32) / np.float32(255), x_test), "u8 / 255 must rebuild the inputs"
    pixels.tofile(VECTORS / "mnist_test_1000.u8")
    y_test.astype(np.uint8).tofile(VECTORS / "mnist_test_1000_labels.u8")


def write_model(net, x_train, y_train, x_test, y_test, folder_name: str | None = None, epochs: int = EPOCHS) -> dict:
    """Train, export, save and run `net`; images go in as (n, *input shape) when the network takes images."""
    folder = VECTORS / (folder_name or net.name)
    folder.mkdir(parents=True, exist_ok=True)
    shape = _image_shape(net)
    if shape:
        x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
    bridge.fit(net, x_train, y_train, epochs=epochs, batch_size=64, seed=SEED, progress=False)
    report = export_onnx(
        net,
        folder / "model.onnx",
        opset=OPSET,
        sample=x_test[:256],
        tolerance=TOLERANCE,
        scaling="uint8 / 255 as float32",
    )
    _write_zip(net, folder / "model.zip")
    outputs = bridge.predict(net, x_test)
    outputs.astype("<f4").tofile(folder / "outputs.f32")
    meta = {
        "model": folder.name,
        "kind": "ComputationGraph" if net.is_graph else "MultiLayerNetwork",
        "input": "../mnist_test_1000.u8",
        "labels_file": "../mnist_test_1000_labels.u8",
        "input_shape": list(x_test.shape),
        "input_layout": "NCHW" if shape else "flat",
        "output_shape": list(outputs.shape),
        "dtype": "float32 little-endian",
        "scaling": "float32(u8) / float32(255)",
        "dl4j_version": DL4J_VERSION,
        "opset": OPSET,
        "tolerance": TOLERANCE,
        "onnx_max_abs_diff": report.max_abs_diff,
        "accuracy": float((outputs.argmax(1) == y_test).mean()),
        "epochs": epochs,
        "seed": SEED,
        "onnx_input": "input",
        "onnx_output": "probabilities",
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _image_shape(net) -> tuple[int, ...] | None:
    """The per-example image shape of a network that takes (n, C, H, W) arrays, else None (flat rows)."""
    shapes = getattr(net, "input_shapes", None) or {}
    shape = next(iter(shapes.values()), None)
    return tuple(shape) if shape and len(shape) == 3 else None


def _write_zip(net, path: Path) -> None:
    """The DL4J zip without updater state, plus dl4j-bridge.json (name, labels, input_shapes) as save() writes it:
    DL4J keeps no InputType, and the Java Dl4jPredictor reads the input shape from there."""
    serializer = jclass("org.deeplearning4j.util.ModelSerializer")
    serializer.writeModel(net.java, jclass("java.io.File")(str(path)), False)
    shapes = {k: list(v) for k, v in net.input_shapes.items()} if getattr(net, "input_shapes", None) else None
    text = json.dumps({"name": net.name, "labels": list(net.labels) if net.labels else None, "input_shapes": shapes})
    serializer.addObjectToFile(jclass("java.io.File")(str(path)), "dl4j-bridge.json", jclass("java.lang.String")(text))


# name -> (builder, epochs)
MODELS = {
    "mlp": (lambda labels: nets.mlp(seed=SEED, labels=labels), EPOCHS),
    "lenet": (lambda labels: nets.lenet(seed=SEED, labels=labels), EPOCHS),
    # A residual ComputationGraph: GraphBuilder through JPype, InputType.convolutional(28, 28, 1), batch norm,
    # identity and 1x1-projection shortcuts (ElementWiseVertex Add), global average pooling. At the default
    # learning rate (1e-3) and 2 epochs it reached 0.55 on the test digits; 3e-3 and 3 epochs reach 0.86,
    # so its arg-max checks are not made on near-ties of an untrained network.
    "resnet": (
        lambda labels: nets.resnet_small(
            input_shape=(1, 28, 28), widths=(8, 16), learning_rate=3e-3, seed=SEED, labels=labels
        ),
        3,
    ),
}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    VECTORS.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = data.load("mnist")
    write_digits(x_test, y_test)
    for name in names or list(MODELS):
        build, epochs = MODELS[name]
        meta = write_model(
            build(data.labels_for("mnist")), x_train, y_train, x_test, y_test, folder_name=name, epochs=epochs
        )
        print(f"{name}: accuracy {meta['accuracy']:.3f}, ONNX max abs diff {meta['onnx_max_abs_diff']:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
