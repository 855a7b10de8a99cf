"""Output heads and parametrised activations: LossLayer, CnnLossLayer, Yolo2OutputLayer, PReLULayer."""
from __future__ import annotations
