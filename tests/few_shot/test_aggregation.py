"""Support sets and the aggregation over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.workflows.few_shot import aggregate, metric_names, support_indices

Y = np.repeat(np.arange(4), 12)[np.random.default_rng(5).permutation(48)]


def test_k_per_class_nested_in_k_and_fixed_by_the_seed() -> None:
    small, large = support_indices(Y, 4, 2, seed=3), support_indices(Y, 4, 5, seed=3)
    assert np.bincount(Y[small], minlength=4).tolist() == [2, 2, 2, 2]
    assert np.bincount(Y[large], minlength=4).tolist() == [5, 5, 5, 5]
    assert set(small) < set(large)  # more labels, not other labels
    assert len(set(large)) == len(large)
    np.testing.assert_array_equal(support_indices(Y, 4, 5, seed=3), large)
    assert set(support_indices(Y, 4, 5, seed=4)) != set(large)
    # shuffled: not grouped by class
    assert Y[large].tolist() != sorted(Y[large].tolist())


def test_a_class_with_fewer_than_k_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="class 3 has 1 samples, fewer than k=2"):
        support_indices(np.array([0, 0, 1, 1, 2, 2, 3]), 4, 2, seed=0)


def test_mean_and_sample_standard_deviation_per_k() -> None:
    rows = aggregate({5: [0.9, 0.8, 1.0], 1: [0.5, 0.7]})
    assert [r.k for r in rows] == [1, 5]
    assert rows[0].mean == pytest.approx(0.6) and rows[0].sd == pytest.approx(np.sqrt(0.02))
    assert rows[1].mean == pytest.approx(0.9) and rows[1].sd == pytest.approx(0.1)
    assert rows[1].accuracies == (0.9, 0.8, 1.0)
    assert metric_names(5) == ("accuracy_k5_mean", "accuracy_k5_sd")


def test_one_seed_has_no_spread() -> None:
    with pytest.raises(ValueError, match="k=1: 1 result"):
        aggregate({1: [0.5]})
