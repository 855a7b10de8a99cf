"""The progress bar: one rate per frame (tqdm's), dated from the epoch's start, so no absurd first frame."""

from __future__ import annotations

import re

import bridge
from bridge import nets


def _rates(text: str) -> list[float]:
    scale = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
    return [float(v) * scale[u] for v, u in re.findall(r"([\d.]+)([kMG]?)sample/s", text)]


def test_each_frame_shows_one_plausible_rate(mnist, capsys):
    net = nets.sequential([nets.Dense(64), nets.Output(10)], 784, seed=2)
    history = bridge.fit(net, mnist[0], mnist[1], epochs=2, batch_size=32, progress=True)
    frames = [f for f in re.split(r"[\r\n]+", capsys.readouterr().err) if "epoch " in f and "sample" in f]
    assert frames, "no progress bar drawn"
    assert not [f for f in frames if "samples_s" in f or len(_rates(f)) > 1]  # one rate per frame
    final = max(e.samples_per_sec for e in history)
    rates = [r for f in frames for r in _rates(f)]
    assert rates and max(rates) < 5 * final, (max(rates), final, frames[:3])
