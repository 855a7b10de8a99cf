"""Write the tiny ONNX model the runtime's unit tests use: java/runtime/src/test/resources/.../tiny.onnx.

    .venv/bin/python java/runtime/src/test/python/make_tiny_model.py

Same contract as the exported models: input "input" float32 [N, 784], output probabilities [N, 10]
(Gemm + Softmax), metadata props like the exporter's. The weights are a closed formula so that the
Java test recomputes the expected probabilities itself (TinyModel.java), independently of ONNX Runtime:
    W[i, j] = sin(0.37 * i + 1.3 * j) / 10,   b[j] = (j - 4.5) / 20
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N_IN, N_OUT = 784, 10
OUT = Path(__file__).resolve().parents[1] / "resources" / "ai" / "dl4jbridge" / "runtime" / "tiny.onnx"


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
    model.ir_version = 8  # ONNX Runtime Java 1.29 and every runtime we support accept IR 8.
    helper.set_model_props(model, {
        "labels": '["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]',
        "input_layout": "NCHW [N, 1, 28, 28] flattened to [N, 784]",
        "input_scaling": "uint8 / 255",
        "model_name": "tiny",
    })
    onnx.checker.check_model(model, full_check=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
