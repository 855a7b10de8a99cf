"""More 2D CNN layers: separable, depthwise and transposed convolutions, upsampling, padding, cropping, space-to-depth."""
from __future__ import annotations
