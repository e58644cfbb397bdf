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
