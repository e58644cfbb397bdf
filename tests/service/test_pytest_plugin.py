"""The pytest plugin in a real pytest subprocess: items per expectation, failures that
name the metric, a bad plan as a collection error, and the `dut` fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import FAILING_RUN, PASSING_RUN, small_plan


def test_plan_items_and_verdicts(pytester: pytest.Pytester, tmp_path: Path) -> None:
    plan = small_plan(tmp_path, PASSING_RUN + FAILING_RUN)
    out = tmp_path / "run"
    result = pytester.runpytest_subprocess("--hil-plan", str(plan), "--hil-backend", "native",
                                           "--hil-out", str(out), "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines([
        "*plan.yaml::native::last_layer::accuracy PASSED*",
        "*plan.yaml::native::tinyprop::accuracy FAILED*",
        "*native tinyprop: accuracy = * misses >= 0.999*",
        "*hil plan small*",
        "FAIL native tinyprop: 2/3 expectations*",
    ])
    data = json.loads((out / "run.json").read_text())
    assert [r["strategy"] for r in data["runs"]] == ["last_layer", "tinyprop"]
    assert (out / "junit.xml").is_file()


def test_bad_plan_is_a_collection_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    plan = small_plan(tmp_path, PASSING_RUN.replace("last_layer", "sgd"))
    result = pytester.runpytest_subprocess("--hil-plan", str(plan), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert f"{plan}:8: strategies[0].strategy: unknown strategy 'sgd'" in result.stdout.str()


def test_dut_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="""
        def test_hello(dut):
            assert dut.entry.id == "native"
            assert dut.hello.fw_version == "0.1.0"
            assert dut.device.metrics().configured is False

        def test_same_session_device(dut):
            assert dut.target.alive()
    """)
    result = pytester.runpytest_subprocess("--hil-backend", "native", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result = pytester.runpytest_subprocess("--hil-dut", "nrf52840dk-1", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*device nrf52840dk-1 is not available: probe 000683290670 not connected*"])


@pytest.mark.parametrize("history_accuracy, regressed", [(0.95, True), (0.30, False)],
                         ids=["below_history", "above_history"])
def test_fail_on_regression_judges_the_run_against_its_history(
        pytester: pytest.Pytester, tmp_path: Path, history_accuracy: float, regressed: bool) -> None:
    """Four earlier nights of the same plan, device and run (written with the runner's own
    journal API), then the real plan on the native firmware through the plugin: its
    accuracy is judged against theirs, in a `regressions` item and the terminal summary.
    A learning rate 500 times too small (a bad plan edit) keeps the accuracy near the
    base model's."""
    from tests.history.conftest import night

    runs = tmp_path / "runs"
    for day in range(1, 5):
        night(runs, day, history_accuracy, plan="small", device="native", strategy="last_layer",
              clock="host_clock")
    plan = small_plan(tmp_path, PASSING_RUN.replace("strategy: last_layer",
                                                    "strategy: last_layer\n    params: {learning_rate: 0.0001}"))
    out = runs / "now"
    result = pytester.runpytest_subprocess("--hil-plan", str(plan), "--hil-backend", "native",
                                           "--hil-out", str(out), "--hil-fail-on-regression", "-v",
                                           "-p", "no:cacheprovider")
    data = json.loads((out / "run.json").read_text())
    accuracy = data["runs"][0]["metrics"]["accuracy"]
    assert 0.5 <= accuracy < 0.9  # between the two histories: the plan's own check passes
    assert data["fail_on_regression"] is True
    if regressed:
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines([
            "*plan.yaml::native::last_layer::accuracy PASSED*",
            "*plan.yaml::native::last_layer::regressions FAILED*",
            f"*REGRESSION native last_layer: accuracy {accuracy:.4g} < * (median 0.95 of 4 earlier runs*",
            "*hil plan small*",
        ])
        assert data["status"] == "failed"
    else:
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines(["*plan.yaml::native::last_layer::regressions PASSED*"])
        assert "REGRESSION" not in result.stdout.str()
        assert data["status"] == "passed"


def test_without_the_option_there_is_no_regressions_item(pytester: pytest.Pytester, tmp_path: Path) -> None:
    plan = small_plan(tmp_path, PASSING_RUN)
    result = pytester.runpytest_subprocess("--hil-plan", str(plan), "--hil-backend", "native", "--collect-only",
                                           "-q", "-p", "no:cacheprovider")
    assert "regressions" not in result.stdout.str() and "native::last_layer::accuracy" in result.stdout.str()
