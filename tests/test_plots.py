"""The plotting helper: per-iteration loss from DL4J's own listener, per-epoch curves, honest axes."""

from __future__ import annotations

import numpy as np

import bridge
from bridge import nets, plots


def test_iteration_losses_collects_one_score_per_minibatch_for_the_run_only(mnist):
    net = nets.sequential([nets.Dense(16), nets.Output(10)], 784, seed=5)
    x, y = mnist[0][:640], mnist[1][:640]
    with plots.iteration_losses(net) as losses:
        history = bridge.fit(net, x, y, epochs=2, batch_size=64, progress=False)
    assert [i for i, _ in losses] == list(range(20))  # 10 minibatches x 2 epochs
    assert all(np.isfinite(v) and v > 0 for _, v in losses)
    # the epoch means the loop reports are the means of the same minibatch scores
    np.testing.assert_allclose(
        [np.mean([v for _, v in losses[:10]]), np.mean([v for _, v in losses[10:]])],
        [e.loss for e in history],
        rtol=1e-5,
    )
    assert list(net.java.getListeners() or []) == []


def test_plot_history_draws_every_curve_on_honest_axes(tmp_path):
    history = [
        {"epoch": 1, "loss": 0.9, "val_loss": 1.0, "accuracy": 0.97, "val_accuracy": 0.975},
        {"epoch": 2, "loss": 0.5, "val_loss": 0.6, "accuracy": 0.98, "val_accuracy": 0.979},
    ]
    iterations = [(i, 2.0 - i * 0.05) for i in range(20)]
    path = tmp_path / "training.png"
    fig = plots.plot_history(history, path, iterations=iterations, title="t")
    ax_loss, ax_acc = fig.axes
    assert ax_acc.get_ylim() == (0.0, 1.0)  # not zoomed onto 0.97..0.98
    assert ax_loss.get_ylim()[0] == 0.0
    assert [line.get_label() for line in ax_loss.lines] == ["train (minibatch)", "train (epoch mean)", "validation"]
    assert [line.get_label() for line in ax_acc.lines] == ["train", "validation"]
    assert len(ax_loss.lines[0].get_xdata()) == 20
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in tmp_path.iterdir()] == ["training.png"]
