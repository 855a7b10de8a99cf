"""DL4J -> ONNX export: one small converter per DL4J class, registered by decorator."""

from .export import ExportReport, export_onnx, scan, to_onnx
from .registry import ACTIVATIONS, LAYERS, PREPROCESSORS, VERTICES

__all__ = ["export_onnx", "to_onnx", "scan", "ExportReport", "LAYERS", "VERTICES", "PREPROCESSORS", "ACTIVATIONS"]
