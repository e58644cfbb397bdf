"""The few_shot section and its metrics are checked when the plan loads, at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service import base_models
from hil_service.expectations import catalogue
from hil_service.plan import PlanError, load_plan
from hil_service.runner import check_plan_fits
from hil_service.workflows import PlanMismatch, get
from hil_service.workflows.few_shot import K_CHOICES, FewShotSpec

from .conftest import write_plan

PLANS = Path(__file__).resolve().parents[2] / "test_plans"
GOOD = """\
    few_shot: {k: [1, 5], seeds: [0, 1]}
    expect: {accuracy_k5_mean: ">= 0.5", accuracy_k1_sd: "<= 0.2", accuracy_gain: "> 0"}
"""


def test_the_section_implies_the_workflow_and_is_validated(tmp_path: Path) -> None:
    (run,) = load_plan(write_plan(tmp_path, GOOD)).strategies
    assert run.workflow == "few_shot"
    assert run.section == FewShotSpec(k=(1, 5), seeds=(0, 1))


def test_every_k_choice_has_registered_mean_and_spread() -> None:
    cat = catalogue()
    measured = get("few_shot").metrics
    for k in K_CHOICES:
        for name in (f"accuracy_k{k}_mean", f"accuracy_k{k}_sd"):
            assert name in cat and name in measured
            assert cat[name].unit == "ratio"
    assert "accuracy_k5_mean" not in get("stream").metrics


@pytest.mark.parametrize(("section", "message"), [
    ("{k: [4], seeds: [0, 1]}", "k 4 is not one of 1, 2, 3, 5, 10, 20"),
    ("{k: [5, 1], seeds: [0, 1]}", "k values must be increasing"),
    ("{k: [1, 1], seeds: [0, 1]}", "k values must be increasing"),
    ("{k: [1], seeds: [0]}", "seeds"),
    ("{k: [1], seeds: [3, 3]}", "a seed is listed twice"),
    ("{k: [1], seeds: [0, -1]}", "seeds"),
    ("{k: [1], seeds: [0, 1], shots: 3}", "shots"),
    ("{seeds: [0, 1]}", "k"),
])
def test_a_bad_section_names_its_line(tmp_path: Path, section: str, message: str) -> None:
    path = write_plan(tmp_path, f"    few_shot: {section}\n    expect: {{accuracy: \">= 0\"}}\n")
    with pytest.raises(PlanError, match=message) as err:
        load_plan(path)
    assert "plan.yaml:9: strategies[0].few_shot" in str(err.value)


def test_a_metric_of_a_k_outside_the_choices_is_unknown(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "    few_shot: {k: [1], seeds: [0, 1]}\n"
                                "    expect: {accuracy_k7_mean: \">= 0.5\"}\n")
    with pytest.raises(PlanError, match=r"plan.yaml:10: .*unknown metric 'accuracy_k7_mean'"):
        load_plan(path)


def test_a_metric_of_another_workflow_is_refused(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "    few_shot: {k: [1], seeds: [0, 1]}\n"
                                "    expect: {train_step_us_p95: \"<= 500\"}\n")
    with pytest.raises(PlanError, match="not measured by workflow few_shot"):
        load_plan(path)


def _fits(path: Path) -> None:
    plan = load_plan(path)
    check_plan_fits(plan, base_models.prepare_data(plan))


def test_k_beyond_a_class_of_the_stream_split_is_found_before_any_device(tmp_path: Path) -> None:
    # stream 0.05 of digits: 9 samples of each class (class 0 has the fewest)
    with pytest.raises(PlanMismatch, match=r"few_shot.k 10 is more than the 9 samples of class"):
        _fits(write_plan(tmp_path, "    few_shot: {k: [1, 10], seeds: [0, 1]}\n"
                                   "    expect: {accuracy: \">= 0\"}\n", stream=0.05))
    _fits(write_plan(tmp_path, "    few_shot: {k: [1, 5], seeds: [0, 1]}\n"
                               "    expect: {accuracy: \">= 0\"}\n", stream=0.05))


def test_stream_samples_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanMismatch, match="stream.samples is not used by few_shot"):
        _fits(write_plan(tmp_path, "    few_shot: {k: [1], seeds: [0, 1]}\n"
                                   "    stream: {samples: 10}\n    expect: {accuracy: \">= 0\"}\n"))


@pytest.mark.parametrize("name", ["few_shot", "few_shot_sensor"])
def test_the_shipped_plans_load_and_fit(name: str) -> None:
    plan = load_plan(PLANS / f"{name}.yaml")
    check_plan_fits(plan, base_models.prepare_data(plan))
    assert all(r.workflow == "few_shot" for r in plan.strategies)
    assert {r.strategy for r in plan.strategies} == {"full", "last_layer", "tinyprop"}
    for run in plan.strategies:
        fs = run.section
        assert isinstance(fs, FewShotSpec) and len(fs.seeds) >= 3 and len(fs.k) >= 3
