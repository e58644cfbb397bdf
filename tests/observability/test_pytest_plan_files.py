"""CI friendliness of the pytest plugin: `pytest test_plans/x.yaml` runs only that plan's
items; a directory of plans, -k and --hil-plan work; a plain `pytest` walks past YAML."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import FAILING_RUN, PASSING_RUN, small_plan

UNIT_TEST = "def test_unit():\n    assert False, 'the unit suite ran'\n"


def _lab(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit=UNIT_TEST)
    # an inventory next to the plans: YAML, but not a plan
    (pytester.path / "lab.yaml").write_text("devices:\n  - {id: x, backend: native}\n")


def test_a_plan_file_argument_runs_only_its_items(pytester: pytest.Pytester) -> None:
    _lab(pytester)
    plan = small_plan(pytester.path, PASSING_RUN, backend="native")
    result = pytester.runpytest_subprocess(str(plan), "--hil-out", str(pytester.path / "out"),
                                           "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*plan.yaml::native::last_layer::accuracy PASSED*",
                                 "*plan.yaml::native::last_layer::samples_trained PASSED*"])
    assert "test_unit" not in result.stdout.str()
    data = json.loads((pytester.path / "out" / "run.json").read_text())
    assert [r["strategy"] for r in data["runs"]] == ["last_layer"]


def test_a_directory_of_plans_and_the_unit_suite_together(pytester: pytest.Pytester) -> None:
    _lab(pytester)
    small_plan(pytester.path, PASSING_RUN, backend="native")
    small_plan(pytester.path, FAILING_RUN, backend="native", name="other.yml")
    result = pytester.runpytest_subprocess(str(pytester.path), "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "plan.yaml::native::last_layer::accuracy" in out
    assert "other.yml::native::tinyprop::backward_macs_ratio" in out
    assert "test_unit.py::test_unit" in out
    assert "lab.yaml" not in out
    assert result.ret == pytest.ExitCode.OK


def test_k_selects_expectations_of_a_plan_file(pytester: pytest.Pytester) -> None:
    plan = small_plan(pytester.path, PASSING_RUN + FAILING_RUN, backend="native")
    result = pytester.runpytest_subprocess(str(plan), "-k", "tinyprop and macs", "--collect-only",
                                           "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*plan.yaml::native::tinyprop::backward_macs_ratio",
                                 "1/6 tests collected (5 deselected)*"])


def test_plain_pytest_does_not_collect_yaml(pytester: pytest.Pytester) -> None:
    _lab(pytester)
    small_plan(pytester.path, PASSING_RUN, backend="native")
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "test_unit.py::test_unit" in out and "plan.yaml" not in out
    # --hil-plan still adds a plan to whatever else is collected
    result = pytester.runpytest_subprocess("--hil-plan", "plan.yaml", "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "plan.yaml::native::last_layer::accuracy" in out and "test_unit.py::test_unit" in out
