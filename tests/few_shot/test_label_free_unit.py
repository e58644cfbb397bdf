"""The label_free section, what it refuses before any device, and how pseudo labels are graded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil_service import base_models
from hil_service.device import TrainSummary
from hil_service.plan import PlanError, load_plan
from hil_service.runner import check_plan_fits
from hil_service.workflows import PlanMismatch
from hil_service.workflows.label_free import LabelFreeSpec, grade_pseudo_labels

from .conftest import write_plan

PARAMS = "    params: {pseudo_score: margin, pseudo_threshold: 0.6}\n"


def _summary(pseudo: list[int] | None) -> TrainSummary:
    n = 0 if pseudo is None else len(pseudo)
    return TrainSummary(n, 0, 0, 0, 0.0, 0,
                        pseudo_labels=None if pseudo is None else np.array(pseudo, np.int16))


def test_precision_counts_only_the_pseudo_labelled_samples() -> None:
    grade = grade_pseudo_labels([_summary([3, -1, 2]), _summary([-1, 0])],
                                np.array([3, 1, 1, 0, 0]))
    assert (grade.used, grade.right) == (3, 2)
    assert grade.precision == pytest.approx(2 / 3)
    assert grade_pseudo_labels([_summary([-1, -1])], np.array([0, 1])).precision is None


def test_grading_refuses_what_cannot_be_matched() -> None:
    with pytest.raises(ValueError, match="2 pseudo labels for 3 samples"):
        grade_pseudo_labels([_summary([1, 2])], np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="without pseudo labels"):
        grade_pseudo_labels([_summary(None)], np.array([]))


def test_the_section_implies_the_workflow(tmp_path: Path) -> None:
    (run,) = load_plan(write_plan(tmp_path, PARAMS + "    label_free: {supervised_baseline: true}\n"
                                  "    expect: {gain_recovered: \">= 0.5\", labels_used: \"== 0\"}\n"
                                  )).strategies
    assert run.workflow == "label_free" and run.section == LabelFreeSpec(supervised_baseline=True)
    assert run.train_params().pseudo_threshold == pytest.approx(0.6)


def test_an_unknown_field_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"plan.yaml:10: strategies\[0\].label_free.threshold"):
        load_plan(write_plan(tmp_path, PARAMS + "    label_free: {threshold: 0.9}\n"
                                       "    expect: {accuracy: \">= 0\"}\n"))


def test_baseline_metrics_need_the_baseline(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, PARAMS + "    workflow: label_free\n"
                                "    expect: {pseudo_label_precision: \">= 0.9\"}\n"
                                "    expect_on: {qemu-an386: {supervised_gain: \"> 0\"}}\n"))
    with pytest.raises(PlanMismatch, match="supervised_gain is measured only with label_free"):
        check_plan_fits(plan, base_models.prepare_data(plan))
