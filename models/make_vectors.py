"""Write the shared test vectors (models/README.md): the 1,000 MNIST test digits, and for the MLP and
LeNet trained briefly with a fixed seed, the ONNX file, the DL4J zip and DL4J's outputs on those digits.

Run: .venv/bin/python models/make_vectors.py
"""
from __future__ import annotations

import json
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


def write_model(net, x_train, y_train, x_test, y_test) -> dict:
    folder = VECTORS / net.name
    folder.mkdir(parents=True, exist_ok=True)
    bridge.fit(net, x_train, y_train, epochs=EPOCHS, batch_size=64, seed=SEED, progress=False)
    report = export_onnx(net, folder / "model.onnx", opset=OPSET, sample=x_test[:256], tolerance=TOLERANCE,
                         scaling="uint8 / 255 as float32")
    jclass("org.deeplearning4j.util.ModelSerializer").writeModel(net.java, jclass("java.io.File")(str(folder / "model.zip")), False)
    outputs = bridge.predict(net, x_test)
    outputs.astype("<f4").tofile(folder / "outputs.f32")
    meta = {
        "model": net.name, "input": "../mnist_test_1000.u8", "labels_file": "../mnist_test_1000_labels.u8",
        "input_shape": list(x_test.shape), "output_shape": list(outputs.shape), "dtype": "float32 little-endian",
        "scaling": "float32(u8) / float32(255)", "dl4j_version": DL4J_VERSION, "opset": OPSET,
        "tolerance": TOLERANCE, "onnx_max_abs_diff": report.max_abs_diff,
        "accuracy": float((outputs.argmax(1) == y_test).mean()), "epochs": EPOCHS, "seed": SEED,
        "onnx_input": "input", "onnx_output": "probabilities",
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main() -> None:
    VECTORS.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = data.load("mnist")
    write_digits(x_test, y_test)
    for net in (nets.mlp(seed=SEED, labels=data.labels_for("mnist")), nets.lenet(seed=SEED, labels=data.labels_for("mnist"))):
        meta = write_model(net, x_train, y_train, x_test, y_test)
        print(f"{net.name}: accuracy {meta['accuracy']:.3f}, ONNX max abs diff {meta['onnx_max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
