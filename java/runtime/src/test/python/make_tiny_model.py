"""Write the tiny ONNX models the runtime's unit tests use: java/runtime/src/test/resources/.../*.onnx.

    .venv/bin/python java/runtime/src/test/python/make_tiny_model.py

Same contract as the exported models: input "input" float32 [N, 784], output probabilities [N, 10]
(Gemm + Softmax), metadata props like the exporter's. The weights are a closed formula so that the
Java test recomputes the expected probabilities itself (TinyModel.java), independently of ONNX Runtime:
    W[i, j] = sin(0.37 * i + 1.3 * j) / 10,   b[j] = (j - 4.5) / 20

image.onnx (ImageModel.java): an image-shaped model, input [N, 3, 8, 8] (NCHW), output [N, 1, 8, 8]:
    out[n, 0, h, w] = sigmoid(sum_c wc[c] * x[n, c, h, w] + 0.1),   wc = (0.5, -0.25, 1.0)
two_inputs.onnx and two_outputs.onnx: graphs the single-input, single-output runtime must refuse by name.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N_IN, N_OUT = 784, 10
RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "ai" / "dl4jbridge" / "runtime"
OUT = RESOURCES / "tiny.onnx"


def main() -> None:
    i = np.arange(N_IN, dtype=np.float64)[:, None]
    j = np.arange(N_OUT, dtype=np.float64)[None, :]
    w = (np.sin(0.37 * i + 1.3 * j) / 10).astype(np.float32)
    b = ((np.arange(N_OUT) - 4.5) / 20).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", N_IN])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", N_OUT])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="dl4j-bridge-test")
    helper.set_model_props(model, {
        "labels": '["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]',
        "input_layout": "NCHW [N, 1, 28, 28] flattened to [N, 784]",
        "input_scaling": "uint8 / 255",
        "model_name": "tiny",
    })
    _save(model, OUT)
    write_graph_models()


def _save(model, path: Path) -> None:
    model.ir_version = 8  # ONNX Runtime Java 1.29 and every runtime we support accept IR 8.
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    print(f"wrote {path}")


def _value(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _model(nodes, inputs, outputs, initializers=(), props=None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="dl4j-bridge-test")
    if props:
        helper.set_model_props(model, props)
    return model


def write_graph_models() -> None:
    wc = np.array([0.5, -0.25, 1.0], np.float32).reshape(1, 3, 1, 1)
    image = _model([helper.make_node("Conv", ["input", "wc", "bc"], ["logit"]),
                    helper.make_node("Sigmoid", ["logit"], ["output"])],
                   [_value("input", ["N", 3, 8, 8])], [_value("output", ["N", 1, 8, 8])],
                   [numpy_helper.from_array(wc, "wc"), numpy_helper.from_array(np.array([0.1], np.float32), "bc")],
                   {"input_layout": "NCHW [N,3,8,8]", "model_name": "image"})
    _save(image, RESOURCES / "image.onnx")
    _save(_model([helper.make_node("Add", ["image", "mask"], ["output"])],
                 [_value("image", ["N", 4]), _value("mask", ["N", 4])], [_value("output", ["N", 4])]),
          RESOURCES / "two_inputs.onnx")
    _save(_model([helper.make_node("Relu", ["input"], ["boxes"]), helper.make_node("Neg", ["input"], ["scores"])],
                 [_value("input", ["N", 4])], [_value("boxes", ["N", 4]), _value("scores", ["N", 4])]),
          RESOURCES / "two_outputs.onnx")


if __name__ == "__main__":
    main()
