"""Uncertainty scores for data point selection, as odl_uncertainty.c computes them."""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class ScoreKind(IntEnum):
    NONE = 0
    LEAST_CONFIDENCE = 1  # 1 - p1, high = uncertain
    MARGIN = 2  # p1 - p2, LOW = uncertain
    RATIO = 3  # p2 / p1, high = uncertain
    ENTROPY = 4  # -sum p ln p / ln C, high = uncertain


def top2(p: np.ndarray) -> tuple[int, float, int, float]:
    """Indices and values of the two largest entries; ties to the lower index."""
    order = np.argsort(-p, kind="stable")
    i1, i2 = int(order[0]), int(order[1])
    return i1, float(p[i1]), i2, float(p[i2])


def score(p: np.ndarray, kind: ScoreKind) -> np.float32:
    p = np.asarray(p, dtype=np.float32)
    _, p1, _, p2 = top2(p)
    f1, f2 = np.float32(p1), np.float32(p2)
    if kind == ScoreKind.NONE:
        return np.float32(0.0)
    if kind == ScoreKind.LEAST_CONFIDENCE:
        return np.float32(1.0) - f1
    if kind == ScoreKind.MARGIN:
        return f1 - f2
    if kind == ScoreKind.RATIO:
        return f2 / f1 if f1 > 0 else np.float32(1.0)
    if kind == ScoreKind.ENTROPY:
        safe = np.where(p > 0, p, np.float32(1.0))
        terms = np.where(p > 0, p * np.log(safe), np.float32(0.0)).astype(np.float32)
        h = -np.cumsum(terms, dtype=np.float32)[-1]
        return np.float32(h / np.log(np.float32(p.size)))
    raise ValueError(f"unknown score kind {kind!r}")


def selects(kind: ScoreKind, value: float, threshold: float) -> bool:
    """Whether the score calls for the label (MARGIN: <= threshold, others: >=)."""
    if kind == ScoreKind.NONE:
        return True
    if kind == ScoreKind.MARGIN:
        return bool(value <= threshold)
    return bool(value >= threshold)


def confident(kind: ScoreKind, value: float, threshold: float) -> bool:
    """Whether a score is certain enough for a pseudo label, as odl_uncertainty_confident()
    decides it in float32: MARGIN score >= threshold, the others score <= threshold (the
    bound included); NONE: always."""
    if kind == ScoreKind.NONE:
        return True
    v, t = np.float32(value), np.float32(threshold)
    if kind == ScoreKind.MARGIN:
        return bool(v >= t)
    return bool(v <= t)


def batch_scores(probs: np.ndarray, kind: ScoreKind) -> np.ndarray:
    """Vectorised scores of many probability rows (for the host's labelling oracle)."""
    probs = np.asarray(probs, dtype=np.float32)
    top = -np.sort(-probs, axis=1)
    p1, p2 = top[:, 0], top[:, 1]
    if kind == ScoreKind.NONE:
        return np.zeros(len(probs), dtype=np.float32)
    if kind == ScoreKind.LEAST_CONFIDENCE:
        return np.asarray(1.0 - p1, dtype=np.float32)
    if kind == ScoreKind.MARGIN:
        return np.asarray(p1 - p2, dtype=np.float32)
    if kind == ScoreKind.RATIO:
        return np.where(p1 > 0, p2 / np.where(p1 > 0, p1, 1), 1.0).astype(np.float32)
    if kind == ScoreKind.ENTROPY:
        safe = np.where(probs > 0, probs, 1.0)
        h = -(probs * np.log(safe)).sum(axis=1)
        return np.asarray(h / np.log(probs.shape[1]), dtype=np.float32)
    raise ValueError(f"unknown score kind {kind!r}")
