"""ONNX export of DL4J networks."""
