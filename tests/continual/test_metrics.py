"""R -> average accuracy, forgetting, backward transfer: hand-computed cases."""

from __future__ import annotations

import pytest

from hil_service.workflows.continual_metrics import average_accuracy, backward_transfer, forgetting

# class-incremental shape: None where a task's classes do not exist yet
R = [[0.9, None, None],
     [0.6, 0.95, None],
     [0.3, 0.8, 1.0]]


def test_average_is_the_final_row_mean() -> None:
    assert average_accuracy(R) == pytest.approx((0.3 + 0.8 + 1.0) / 3)


def test_forgetting_takes_the_best_earlier_accuracy() -> None:
    # task 0: best 0.9 (row 0) - final 0.3 = 0.6; task 1: best 0.95 - 0.8 = 0.15
    assert forgetting(R) == pytest.approx((0.6 + 0.15) / 2)


def test_forgetting_uses_the_maximum_not_the_first_row() -> None:
    # task 0 improves after task 1 (0.5 -> 0.7), then drops to 0.4: forgetting 0.3, not 0.1
    r = [[0.5, None, None], [0.7, 0.9, None], [0.4, 0.9, 1.0]]
    assert forgetting(r) == pytest.approx((0.3 + 0.0) / 2)
    # backward transfer compares with the accuracy right after learning: 0.4 - 0.5, 0.9 - 0.9
    assert backward_transfer(r) == pytest.approx((-0.1 + 0.0) / 2)


def test_backward_transfer_is_negative_forgetting_without_later_gains() -> None:
    assert backward_transfer(R) == pytest.approx(-(forgetting(R) or 0))


def test_positive_backward_transfer_domain_incremental() -> None:
    # domain-incremental: every entry exists; later tasks helped task 0
    r = [[0.7, 0.5], [0.8, 0.9]]
    assert backward_transfer(r) == pytest.approx(0.1)
    assert forgetting(r) == pytest.approx(-0.1)
    assert average_accuracy(r) == pytest.approx(0.85)


def test_single_task_has_nothing_to_forget() -> None:
    assert forgetting([[0.9]]) is None and backward_transfer([[0.9]]) is None
    assert average_accuracy([[0.9]]) == pytest.approx(0.9)


@pytest.mark.parametrize("bad", [[], [[0.9, 0.1]], [[0.9, None], [None, 0.8]]])
def test_malformed_matrix_is_refused(bad: list[list[float | None]]) -> None:
    with pytest.raises(ValueError, match="R"):
        forgetting(bad)
        average_accuracy(bad)
