"""The training curve of a strategy run, from its TRAIN replies, compact enough for run.json.

Each TRAIN reply carries the loss summed over its samples (cross-entropy of the
forward pass before each update) and, per sample, whether that forward pass
predicted the label: a test-then-train ("prequential") measure, taken on data
the model has not trained on yet. Replies are merged into at most `max_points`
points of equal sample count, so a stream of 50 000 samples costs the journal
a few kilobytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["MAX_POINTS", "train_curve"]

MAX_POINTS = 120


class _Batches(Protocol):
    @property
    def batches(self) -> tuple[tuple[int, int, float], ...]: ...


def _flatten(summaries: Iterable[_Batches]) -> list[tuple[int, int, float]]:
    return [b for s in summaries for b in s.batches if b[0] > 0]


def train_curve(summaries: Sequence[_Batches], max_points: int = MAX_POINTS
                ) -> dict[str, list[float]] | None:
    """{"samples": cumulative samples at each point, "loss": mean loss of the point's samples,
    "accuracy": running (cumulative) accuracy, "accuracy_window": the point's own accuracy};
    None when no reply arrived."""
    batches = _flatten(summaries)
    if not batches:
        return None
    total = sum(n for n, _, _ in batches)
    per_point = max(1, -(-total // max(1, max_points)))  # ceil: at most max_points points
    samples: list[float] = []
    loss: list[float] = []
    running: list[float] = []
    window: list[float] = []
    seen = right = 0
    n_pt = right_pt = 0
    loss_pt = 0.0
    for n, correct, loss_sum in batches:
        n_pt, right_pt, loss_pt = n_pt + n, right_pt + correct, loss_pt + loss_sum
        seen, right = seen + n, right + correct
        if n_pt >= per_point:
            samples.append(seen)
            loss.append(round(loss_pt / n_pt, 5))
            running.append(round(right / seen, 5))
            window.append(round(right_pt / n_pt, 5))
            n_pt = right_pt = 0
            loss_pt = 0.0
    if n_pt:
        samples.append(seen)
        loss.append(round(loss_pt / n_pt, 5))
        running.append(round(right / seen, 5))
        window.append(round(right_pt / n_pt, 5))
    return {"samples": samples, "loss": loss, "accuracy": running, "accuracy_window": window}
