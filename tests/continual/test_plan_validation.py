"""The continual: section: every mistake fails at load time, naming the line and the field;
and what the data cannot give fails before any device starts (check_fits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service import base_models
from hil_service.plan import PlanError, load_plan
from hil_service.runner import check_plan_fits
from hil_service.workflows import PlanMismatch
from hil_service.workflows.continual_data import build_tasks
from hil_service.workflows.continual_spec import ContinualSpec, DomainTask

GOOD = """\
name: t
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.25, seed: 1}
strategies:
  - name: distilled
    strategy: full
    continual:
      tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]
      epochs: 2
      replay: distilled
      budget: {fraction: 0.02}
      accuracy_standard: 0.9
      grow_by: 8
      max_hidden: 48
    expect:
      forgetting: "<= 0.3"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_good_section_loads_and_implies_the_workflow(tmp_path: Path) -> None:
    run = load_plan(write(tmp_path, GOOD)).strategies[0]
    assert run.workflow == "continual"
    c = run.section
    assert isinstance(c, ContinualSpec)
    assert c.class_incremental and c.grows and c.method == "distribution_matching"
    assert c.tasks[1] == (5, 6)


def test_domain_tasks_load(tmp_path: Path) -> None:
    text = GOOD.replace("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]",
                        "tasks: [{shift: none}, {shift: sensor_offset, strength: 0.5}, "
                        "{shift: misaligned}]")
    c = load_plan(write(tmp_path, text)).strategies[0].section
    assert isinstance(c, ContinualSpec) and not c.class_incremental
    assert c.tasks[1] == DomainTask(shift="sensor_offset", strength=0.5)


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [[0, 1, 2, 3, 4]]", 8,
     "at least 2 tasks"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [[0, 1, 2], [2, 3]]", 8,
     "class 2 is in two tasks"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [[0], [1, 2]]", 8,
     "first task needs at least 2 classes"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [[0, 1], {shift: none}]", 8,
     "not a mix"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [{shift: none}, {shift: blur}]", 8,
     "unknown shift 'blur'"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]",
     "tasks: [{shift: none}, {shift: misaligned, strength: 1.5}]", 8,
     "task 1: strength: Input should be less than or equal to 1"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]", "tasks: [[0, 1], [300]]", 8,
     "task 1: class 300 is not an integer in 0..255"),
    ("replay: distilled", "replay: gradient_matching", 10, "'none', 'random', 'herding'"),
    ("budget: {fraction: 0.02}", "budget: {fraction: 0.02, samples: 20}", 11,
     "exactly one of samples, bytes or fraction, not samples and fraction"),
    ("budget: {fraction: 0.02}", "budget: {fraction: 1.5}", 11, "less than or equal to 1"),
    ("budget: {fraction: 0.02}", "budget: {}", 11, "exactly one of"),
    ("      budget: {fraction: 0.02}\n", "", 7, "replay distilled needs a budget"),
    ("replay: distilled", "replay: none", 7, "replay none keeps no memory"),
    ("      grow_by: 8\n", "", 7, "growth needs all of accuracy_standard, grow_by and max_hidden"),
    ("max_hidden: 48", "max_hidden: 300", 14, "less than or equal to 256"),
    ("epochs: 2", "epochs: 0", 9, "greater than or equal to 1"),
    ("epochs: 2", "epoch: 2", 9, "continual.epoch: unknown field"),
    ("accuracy_standard: 0.9", "accuracy_standard: 90", 12, "less than or equal to 1"),
])
def test_mistakes_name_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                      words: str) -> None:
    assert old in GOOD
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, GOOD.replace(old, new)))
    text = str(info.value)
    assert f"plan.yaml:{line}:" in text, text
    assert words in text, text
    assert "continual" in text, text


def test_metrics_of_the_workflow_are_known_and_others_refused(tmp_path: Path) -> None:
    for metric in ("average_accuracy", "forgetting", "backward_transfer", "replay_bytes",
                   "model_params", "inference_macs", "training_macs_total", "growth_steps",
                   "joint_accuracy", "joint_gap"):
        load_plan(write(tmp_path, GOOD.replace("forgetting:", f"{metric}:")))
    with pytest.raises(PlanError, match="not measured by workflow continual"):
        load_plan(write(tmp_path, GOOD.replace("forgetting:", "query_rounds:")))


def _fits(tmp_path: Path, text: str) -> None:
    plan = load_plan(write(tmp_path, text))
    check_plan_fits(plan, base_models.prepare_data(plan))


@pytest.mark.parametrize(("old", "new", "words"), [
    ("[9]]", "[9, 10]]", "task 3 names class 10; the data set has classes 0..9"),
    ("budget: {fraction: 0.02}", "budget: {samples: 5}",
     "5 replay samples cannot hold one sample for each of the 7 classes seen before task 2"),
    ("budget: {fraction: 0.02}", "budget: {samples: 900}",
     "180 replay samples a class before task 1, but class 0 has only 90 training samples"),
    ("budget: {fraction: 0.02}", "budget: {bytes: 1000}",
     "3 replay samples cannot hold one sample"),
    ("tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]",
     "tasks: [{shift: none}, {shift: misaligned}]", None),
    ("    strategy: full\n", "    strategy: full\n    stream: {samples: 10}\n",
     "stream.samples and stream.epochs do not apply"),
])
def test_what_the_data_cannot_give_is_refused_before_a_device(tmp_path: Path, old: str, new: str,
                                                              words: str | None) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new)
    if words is None:  # digits are 8x8 images: misaligned fits
        _fits(tmp_path, text)
        return
    with pytest.raises(PlanMismatch, match="continual|stream") as info:
        _fits(tmp_path, text)
    assert words in str(info.value)


def test_image_shifts_on_sensor_grids(tmp_path: Path) -> None:
    """The sensor sets are (channel, step) grids: misaligned moves every channel a step later."""
    text = GOOD.replace("dataset: digits", "dataset: japanese_vowels").replace(
        "tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]",
        "tasks: [{shift: none}, {shift: misaligned}]").replace("fraction: 0.02", "samples: 18")
    _fits(tmp_path, text)


def test_an_image_shift_needs_an_image() -> None:
    from hil_service import datasets

    ds = datasets.load("digits")
    sc = datasets.scenario(ds, 0.5, 0.25, 0.25, 1)
    spec = ContinualSpec.model_validate({"tasks": [{"shift": "none"}, {"shift": "misaligned"}]})
    with pytest.raises(PlanMismatch, match="shift misaligned moves an image, and this data set's 64 "
                                           "features are no 4x4 image"):
        build_tasks(spec, sc, 10, (4, 4))
    assert len(build_tasks(spec, sc, 10, (8, 8)).tasks) == 2


@pytest.mark.parametrize("name", ["continual", "continual_sensor"])
def test_shipped_continual_plans_load_and_fit(name: str) -> None:
    plan = load_plan(Path(__file__).resolve().parents[2] / "test_plans" / f"{name}.yaml")
    assert {r.workflow for r in plan.strategies} == {"continual"}
    assert [r.name for r in plan.strategies] == ["naive", "random", "herding", "distilled",
                                                 "distilled_growth"]
    check_plan_fits(plan, base_models.prepare_data(plan))
