"""Training curves: per-iteration loss, per-epoch train and validation loss and accuracy, on honest axes.

    with bridge.plots.iteration_losses(net) as losses:     # DL4J's CollectScoresIterationListener, for the run
        history = bridge.fit(net, x, y, epochs=5, validation=(xv, yv))
    bridge.plots.plot_history(history, "training.png", iterations=losses)

Accuracy axes span 0..1 (never auto-zoomed onto a 0.97..0.98 band); loss axes start at 0; epochs are integer
ticks. A curve is drawn only for what the history holds (EpochResult's loss and val_accuracy; val_loss and
accuracy too when the history provides them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..files import atomic_path
from ..jvm import jclass
from ..model.kinds import as_java

__all__ = ["plot_history", "iteration_losses"]


@contextlib.contextmanager
def iteration_losses(net, every: int = 1) -> Iterator[list]:
    """Collect (iteration, loss) pairs of every `every`-th minibatch while the block trains `net`.

    Yields a list that is filled when the block ends; DL4J's CollectScoresIterationListener is added to the
    network for the block only."""
    java = as_java(net)
    collector = jclass("org.deeplearning4j.optimize.listeners.CollectScoresIterationListener")(int(every))
    before = list(java.getListeners() or [])
    java.addListeners(collector)
    collected: list = []
    try:
        yield collected
    finally:
        java.setListeners(jclass("java.util.ArrayList")(before))
        scores = collector.getScoreVsIter()  # DL4J's own (iteration, score) pairs
        iterations, values = list(scores.getEffectiveIndexes()), list(scores.getEffectiveScores())
        collected.extend((int(i), float(v)) for i, v in zip(iterations, values))


def _series(history, field: str) -> list:
    values = [getattr(e, field, None) if not isinstance(e, dict) else e.get(field) for e in history]
    return values if any(v is not None for v in values) else []


def plot_history(history, path=None, iterations=None, title: str | None = None):
    """A two-panel figure: loss (per iteration and per epoch, train and validation) and accuracy (0..1).

    history: a list of EpochResult (or dicts with epoch, loss, val_loss, accuracy, val_accuracy);
    iterations: optional (iteration, loss) pairs (iteration_losses()); path: write a PNG there atomically.
    Returns the matplotlib Figure (closed when written to `path`)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(e["epoch"] if isinstance(e, dict) else e.epoch) for e in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    _plot_loss(ax_loss, history, epochs, iterations)
    _plot_accuracy(ax_acc, history, epochs)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
    return fig


def _plot_loss(ax, history, epochs: list[int], iterations) -> None:
    ax.set(xlabel="epoch", ylabel="loss", title="loss")
    per_batch = len(iterations) / max(1, len(epochs)) if iterations else 0
    if iterations:
        # per-iteration scores, placed on the epoch axis: iteration i of E epochs at i / per_batch
        xs = [(i + 1) / per_batch for i, _ in iterations]
        ax.plot(xs, [v for _, v in iterations], color="tab:blue", alpha=0.35, linewidth=0.8, label="train (minibatch)")
    for field, label, style in (("loss", "train (epoch mean)", "o-"), ("val_loss", "validation", "s-")):
        values = _series(history, field)
        if values:
            ax.plot(epochs, values, style, label=label)
    ax.set_ylim(bottom=0)
    _epoch_ticks(ax, epochs)
    ax.legend(fontsize=8)


def _plot_accuracy(ax, history, epochs: list[int]) -> None:
    ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    drawn = False
    for field, label, style in (("accuracy", "train", "o-"), ("val_accuracy", "validation", "s-")):
        values = _series(history, field)
        if values:
            ax.plot(epochs, values, style, label=label)
            drawn = True
    ax.set_ylim(0, 1)  # honest: the whole range, not a zoom onto the last decimals
    _epoch_ticks(ax, epochs)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(
            0.5,
            0.5,
            "no accuracy recorded\n(train with validation data)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="gray",
        )


def _epoch_ticks(ax, epochs: list[int]) -> None:
    ax.grid(alpha=0.3)
    if epochs:
        ax.set_xlim(0, max(epochs) + 0.25)
        step = max(1, len(epochs) // 10)
        ax.set_xticks(list(range(0, max(epochs) + 1, step)))
