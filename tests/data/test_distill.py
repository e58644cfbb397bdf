"""Replay sets: budgets, the cache, and distribution matching doing what it claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from hil_service import datasets, distill
from hil_service.reference import Arch, Mlp, Strategy, TrainParams

FAST = distill.DmParams(iterations=120, widths=(128,), real_batch=64)


@pytest.fixture(scope="module")
def three_digits() -> tuple[np.ndarray, np.ndarray]:
    sc = datasets.scenario(datasets.load("digits"), 0.75, 0.0, 0.25, seed=0)
    keep = sc.y_base < 3
    return sc.x_base[keep], sc.y_base[keep]


def test_budget_in_samples_and_bytes() -> None:
    assert distill.per_class(5, 64, samples=26) == 5
    # 64 float32 features and a label byte: 257 bytes a sample; 2570 bytes = 10 samples
    assert distill.per_class(5, 64, nbytes=2570) == 2
    assert distill.per_class(5, 64, nbytes=650, encoding="int8") == 2  # 65 bytes a sample
    with pytest.raises(distill.DistillError, match="cannot hold one sample"):
        distill.per_class(10, 64, samples=9)
    with pytest.raises(distill.DistillError, match="not both or neither"):
        distill.per_class(10, 64, samples=9, nbytes=100)


@pytest.mark.parametrize("method", list(distill.Method))
def test_budget_respected_and_cache_hit(method: distill.Method, three_digits: tuple[np.ndarray, np.ndarray],
                                        tmp_path: Path) -> None:
    x, y = three_digits
    k = distill.per_class(3, x.shape[1], nbytes=3 * 4 * distill.sample_bytes(64))
    first = distill.build(method, x, y, k, seed=1, dm=FAST, directory=tmp_path)
    assert first.x.shape == (3 * k, 64) and first.x.dtype == np.float32
    assert np.array_equal(np.bincount(first.y), [k, k, k])
    assert first.nbytes() <= 3 * 4 * distill.sample_bytes(64) and not first.cached
    again = distill.build(method, x, y, k, seed=1, dm=FAST, directory=tmp_path)
    assert again.cached and again.key == first.key
    assert np.array_equal(again.x, first.x) and np.array_equal(again.y, first.y)
    other = distill.build(method, x, y, k, seed=2, dm=FAST, directory=tmp_path)
    assert other.key != first.key and not other.cached
    if method is not distill.Method.HERDING:  # herding is deterministic: seed-independent
        assert not np.array_equal(other.x, first.x)
    if method is not distill.Method.DISTRIBUTION_MATCHING:  # real samples, unchanged
        rows = {r.tobytes() for r in x}
        assert all(r.tobytes() in rows for r in first.x)


def test_herding_beats_random_at_matching_the_class_mean(three_digits: tuple[np.ndarray, np.ndarray],
                                                       tmp_path: Path) -> None:
    x, y = three_digits
    h = distill.build("herding", x, y, 4, directory=tmp_path)
    gaps = {"herding": 0.0, "random": 0.0}
    for c in range(3):
        mu = x[y == c].mean(axis=0)
        mu = mu / np.linalg.norm(mu)
        gaps["herding"] += float(np.linalg.norm(h.x[h.y == c].mean(axis=0) - x[y == c].mean(axis=0)))
        r = distill.build("random", x, y, 4, seed=c, directory=tmp_path)
        gaps["random"] += float(np.linalg.norm(r.x[r.y == c].mean(axis=0) - x[y == c].mean(axis=0)))
    assert gaps["herding"] < gaps["random"]


def test_distribution_matching_improves_matching_on_unseen_networks(
        three_digits: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = three_digits
    dm = distill.build("distribution_matching", x, y, 3, seed=0, dm=FAST, directory=tmp_path)
    rnd = distill.build("random", x, y, 3, seed=0, directory=tmp_path)
    assert dm.matching_loss is not None and dm.matching_loss[1] < 0.5 * dm.matching_loss[0]
    for c in range(3):  # on networks the optimisation never saw (another seed range)
        got = distill.matching_loss(x[y == c], dm.x[dm.y == c], FAST, nets=10)
        base = distill.matching_loss(x[y == c], rnd.x[rnd.y == c], FAST, nets=10)
        assert got < 0.5 * base, (c, got, base)
    lo, hi = x.min(axis=0), x.max(axis=0)
    assert np.all(dm.x >= lo - 1e-6) and np.all(dm.x <= hi + 1e-6)  # inside the features' range


def test_distilled_replay_beats_random_on_a_small_fixed_case(tmp_path: Path) -> None:
    """Digits 0-2 learned, then 3-4 with one replay step per new sample from a
    2-per-class memory: distilled replay keeps more of the old classes than random
    replay of the same size (the same seeds, fixed)."""
    sc = datasets.scenario(datasets.load("digits"), 0.75, 0.0, 0.25, seed=0)
    x, y, xt, yt = sc.x_base, sc.y_base, sc.x_test, sc.y_test
    old, new = y < 3, (y >= 3) & (y < 5)
    base = Mlp(Arch((64, 16, 5)), TrainParams(Strategy.FULL, learning_rate=0.05)).init_weights(7)
    base.fit(x[old], y[old], epochs=10, shuffle_seed=0)
    test_old = yt < 3

    def old_accuracy(replay: distill.ReplaySet) -> float:
        m = base.copy()
        r = 0
        for i in np.random.default_rng(0).permutation(np.flatnonzero(new)):
            m.train_step(x[i], int(y[i]))
            m.train_step(replay.x[r % len(replay.x)], int(replay.y[r % len(replay.x)]))
            r += 1
        return m.accuracy(xt[test_old], yt[test_old])

    with threadpool_limits(1):  # tiny online products: BLAS threads only contend for the cores
        dm = distill.build("distribution_matching", x[old], y[old], 2, seed=0, dm=FAST,
                           directory=tmp_path)
        rnd = np.mean([old_accuracy(distill.build("random", x[old], y[old], 2, seed=s,
                                                  directory=tmp_path)) for s in range(3)])
        got = old_accuracy(dm)
    print(f"old-class accuracy: distilled {got:.3f}, random {rnd:.3f}")
    assert got > rnd


def test_matching_gradient_agrees_with_finite_differences() -> None:
    rng = np.random.default_rng(0)
    layers = distill._random_net(5, (7, 4), seed=3)
    syn, target = rng.random((3, 5)), rng.random(4)

    def loss(s: np.ndarray) -> float:
        mean, _ = distill._embed_grad(layers, s, None)
        return float((mean - target) @ (mean - target))

    mean, _ = distill._embed_grad(layers, syn, None)
    _, grad = distill._embed_grad(layers, syn, 2.0 * (mean - target))
    assert grad is not None
    eps = 1e-6
    numeric = np.zeros_like(syn)
    for idx in np.ndindex(syn.shape):
        d = np.zeros_like(syn)
        d[idx] = eps
        numeric[idx] = (loss(syn + d) - loss(syn - d)) / (2 * eps)
    assert np.allclose(grad, numeric, atol=1e-6) and np.abs(numeric).max() > 1e-3
