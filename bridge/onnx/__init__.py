"""ONNX export of DL4J networks: one converter per DL4J layer, preprocessor and activation type."""
from .export import OPSETS, ExportReport, export_onnx, scan, to_onnx
from .registry import ACTIVATIONS, LAYERS, PREPROCESSORS

__all__ = ["export_onnx", "to_onnx", "scan", "ExportReport", "OPSETS", "LAYERS", "PREPROCESSORS", "ACTIVATIONS"]
