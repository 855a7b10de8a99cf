"""FrozenLayer, FrozenLayerWithBackprop and FrozenVertex: the layer they wrap, as it is at inference."""
from __future__ import annotations
