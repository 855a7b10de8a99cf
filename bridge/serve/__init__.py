"""Running exported models: OnnxModel (runtime, ONNX Runtime in this process), the Java service (service) and the
inputs `dl4j-bridge predict` reads (userinputs). Needs no JVM for ONNX inference."""
