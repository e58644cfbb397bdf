"""The regression rule: median -/+ max(k * 1.4826 * MAD, floor) over the last N earlier runs."""

from __future__ import annotations

import pytest

from hil_service.expectations import MetricInfo
from hil_service.history import Rule, direction, judge, sparkline


def test_fewer_than_three_earlier_runs_give_no_verdict() -> None:
    assert judge([0.95, 0.95], 0.10, "higher") is None
    assert judge([0.95, 0.95, 0.95], 0.10, "higher") is not None


def test_a_drop_beyond_the_noise_is_flagged_with_its_figures() -> None:
    baseline = [0.94, 0.95, 0.96, 0.95]
    median, mad, threshold = judge(baseline, 0.80, "higher") or (0, 0, 0)
    assert median == pytest.approx(0.95) and mad == pytest.approx(0.005)
    # 3 * 1.4826 * 0.005 = 0.0222 > floor max(0.02 * 0.95, 0.01) = 0.019
    assert threshold == pytest.approx(0.95 - 3 * 1.4826 * 0.005)
    assert judge(baseline, 0.93, "higher") is None  # within the noise


def test_a_noisy_series_tolerates_more() -> None:
    noisy = [0.80, 0.90, 0.85, 0.95, 0.88]
    assert judge(noisy, 0.80, "higher") is None
    assert judge([0.88, 0.88, 0.88, 0.88, 0.88], 0.80, "higher") is not None


def test_a_deterministic_series_needs_the_floor_to_be_crossed() -> None:
    # MAD 0 (QEMU -icount): a few cycles more are not a regression, 3 % more is
    same = [1000.0] * 5
    assert judge(same, 1015.0, "lower") is None
    assert judge(same, 1030.0, "lower") == (1000.0, 0.0, pytest.approx(1020.0))
    # for shares the floor is at least 0.01 even near 0
    assert judge([0.05] * 4, 0.059, "lower", ratio=True) is None
    assert judge([0.05] * 4, 0.061, "lower", ratio=True) is not None


def test_direction_decides_the_worse_side() -> None:
    base = [100.0, 101.0, 99.0, 100.0]
    assert judge(base, 150.0, "lower") is not None and judge(base, 150.0, "higher") is None
    assert judge(base, 50.0, "higher") is not None and judge(base, 50.0, "lower") is None


def test_only_the_last_window_counts() -> None:
    # an old era at 0.5 is forgotten once `window` newer runs exist
    old_then_new = [0.5] * 20 + [0.9] * 10
    assert judge(old_then_new, 0.6, "higher") is not None
    assert judge(old_then_new, 0.6, "higher", rule=Rule(window=30)) is None


def test_direction_from_the_catalogue_then_the_unit() -> None:
    cat = {"accuracy": MetricInfo("ratio", "a", better="higher"),
           "backward_macs_ratio": MetricInfo("ratio", "b", better="lower"),
           "train_step_us_p95": MetricInfo("µs", "c"), "ram_bytes": MetricInfo("bytes", "d"),
           "samples_trained": MetricInfo("samples", "e"), "churn": MetricInfo("ratio", "f")}
    assert direction("accuracy", cat) == "higher"
    assert direction("backward_macs_ratio", cat) == "lower"
    assert direction("train_step_us_p95", cat) == "lower" and direction("ram_bytes", cat) == "lower"
    assert direction("samples_trained", cat) is None and direction("churn", cat) is None
    assert direction("unknown", cat) is None


def test_the_shipped_catalogue_knows_accuracy_and_latency() -> None:
    assert direction("accuracy") == "higher" and direction("accuracy_gain") == "higher"
    assert direction("train_step_us_p95") == "lower" and direction("loss") == "lower"


def test_sparkline() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3, 3, 3]) == "▄▄▄"
    assert sparkline([1.0, 2.0, 0.5], [False, False, True]) == "▃█!"
    assert sparkline([]) == ""
