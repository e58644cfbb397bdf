"""Accuracy of the C core's strategies on scikit-learn's digits (host build)."""

from __future__ import annotations

import pytest

from hil_service.core_eval import LEARNING_RATE, adapt_to_shift, train_from_scratch
from hil_service.reference import Strategy, TrainParams


@pytest.fixture(scope="module")
def full(core):
    return train_from_scratch(core, TrainParams(Strategy.FULL, learning_rate=LEARNING_RATE))


def test_full_backprop_from_scratch_reaches_093(full):
    assert full.accuracy >= 0.93
    assert full.backward_share == pytest.approx(1.0)


def test_tinyprop_matches_full_backprop_at_a_third_of_the_backward_cost(core, full):
    tiny = train_from_scratch(core, TrainParams(Strategy.TINYPROP, learning_rate=LEARNING_RATE))
    assert tiny.accuracy >= full.accuracy - 0.02
    assert tiny.backward_share <= 0.35
    # adaptive, not a fixed sparsity: the mean k per layer lies strictly inside 1..n
    assert all(1.0 <= k < n for k, n in zip(tiny.k_mean, (32, 10), strict=False))


def test_last_layer_adaptation_recovers_a_shifted_sensor(core):
    fig = adapt_to_shift(core, TrainParams(Strategy.LAST_LAYER, learning_rate=LEARNING_RATE))
    # the shift really hurts the base model ...
    assert fig.base_accuracy_source - fig.base_accuracy_shifted >= 0.08
    # ... and on-device last-layer learning wins most of it back
    assert fig.adapted_accuracy - fig.base_accuracy_shifted >= 0.08
    assert fig.run.k_mean[0] == 0  # the hidden layer never learned


def test_misaligned_sensor_is_harder_but_still_recovered(core):
    fig = adapt_to_shift(core, TrainParams(Strategy.LAST_LAYER, learning_rate=LEARNING_RATE),
                         shift="misaligned")
    assert fig.base_accuracy_shifted < 0.6
    assert fig.adapted_accuracy - fig.base_accuracy_shifted >= 0.15
