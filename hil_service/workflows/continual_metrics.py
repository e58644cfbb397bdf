"""Continual-learning figures from the accuracy matrix, and their catalogue entries.

R[i][j] is the accuracy on task j's test set after training on task i (None where
task j's classes do not exist yet, class-incremental j > i). With T tasks:
- average_accuracy = mean_j R[T-1][j];
- forgetting = mean over j < T-1 of (max_{j <= i < T-1} R[i][j]) - R[T-1][j]
  (Chaudhry et al. 2018: the best accuracy a task ever had minus its final one);
- backward_transfer = mean over j < T-1 of R[T-1][j] - R[j][j] (Lopez-Paz & Ranzato
  2017, GEM; negative when learning later tasks hurt earlier ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hil_service.expectations import RATIO_CHANGE, MetricInfo
from hil_service.workflows.adaptation import ADAPTATION_METRICS

__all__ = ["CONTINUAL_METRICS", "Matrix", "average_accuracy", "backward_transfer", "forgetting"]

Matrix = Sequence[Sequence[float | None]]


def _final(r: Matrix) -> Sequence[float | None]:
    if not r or len(r[-1]) != len(r):
        raise ValueError(f"R must be square (T rows of T tasks), got {len(r)} rows")
    return r[-1]


def _at(r: Matrix, i: int, j: int) -> float:
    v = r[i][j]
    if v is None:
        raise ValueError(f"R[{i}][{j}] is missing: task {j} is scored from row {j} on")
    return float(v)


def average_accuracy(r: Matrix) -> float:
    final = _final(r)
    return sum(_at(r, len(r) - 1, j) for j in range(len(final))) / len(final)


def forgetting(r: Matrix) -> float | None:
    """None with a single task (nothing to forget)."""
    t = len(_final(r))
    if t < 2:
        return None
    return sum(max(_at(r, i, j) for i in range(j, t - 1)) - _at(r, t - 1, j)
               for j in range(t - 1)) / (t - 1)


def backward_transfer(r: Matrix) -> float | None:
    t = len(_final(r))
    if t < 2:
        return None
    return sum(_at(r, t - 1, j) - _at(r, j, j) for j in range(t - 1)) / (t - 1)


CONTINUAL_METRICS: Mapping[str, MetricInfo] = {
    "accuracy": ADAPTATION_METRICS["accuracy"],
    "arena_bytes": ADAPTATION_METRICS["arena_bytes"],
    "ram_bytes": ADAPTATION_METRICS["ram_bytes"],
    "flash_bytes": ADAPTATION_METRICS["flash_bytes"],
    "average_accuracy": MetricInfo(
        "ratio", "continual: mean over tasks of the final model's accuracy on each task's test set"),
    "forgetting": MetricInfo(
        "ratio", "continual: mean over the earlier tasks of their best accuracy after any task "
        "minus their final accuracy", kind=RATIO_CHANGE),
    "backward_transfer": MetricInfo(
        "ratio", "continual: mean over the earlier tasks of the final accuracy minus the accuracy "
        "right after learning them (negative: later tasks hurt them)", kind=RATIO_CHANGE),
    "replay_bytes": MetricInfo("bytes", "continual: largest replay memory the device held"),
    "model_params": MetricInfo("parameters", "continual: weights and biases of the final model"),
    "inference_macs": MetricInfo("MACs", "continual: multiply-accumulates of one inference of the "
                                         "final model"),
    "training_macs_total": MetricInfo(
        "MACs", "continual: forward and backward multiply-accumulates the device spent training "
        "(new and replay steps of every task, counted by the device)"),
    "growth_steps": MetricInfo("steps", "continual: times the hidden layers were widened"),
    "joint_accuracy": MetricInfo(
        "ratio", "continual: the upper bound: average accuracy of the final-size model trained on "
        "all tasks' data at once (host twin, the base model's recipe)"),
    "joint_gap": MetricInfo(
        "ratio", "continual: joint_accuracy minus average_accuracy", kind=RATIO_CHANGE),
}
