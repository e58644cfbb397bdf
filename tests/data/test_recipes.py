"""Each data set's default recipe, and the refusal of a base model that learned nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service import base_models
from hil_service.plan import Plan, load_plan

PLAN = """\
name: r
dataset: {dataset}
{base}
strategies:
  - name: last_layer
    strategy: last_layer
    stream: {{samples: 16}}
    expect: {{accuracy: ">= 0.1"}}
"""


def _plan(tmp_path: Path, dataset: str, base: str = "") -> Plan:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(dataset=dataset, base=base))
    return load_plan(path)


def test_recipe_fills_only_what_the_plan_leaves_unset(tmp_path: Path) -> None:
    assert _plan(tmp_path, "digits28").base_model.learning_rate == 0.01
    assert _plan(tmp_path, "digits").base_model.learning_rate == 0.05
    mixed = _plan(tmp_path, "digits28", "base_model: {epochs: 3, learning_rate: 0.02}")
    assert (mixed.base_model.epochs, mixed.base_model.learning_rate) == (3, 0.02)
    assert _plan(tmp_path, "digits28", "base_model: {epochs: 3}").base_model.learning_rate == 0.01


@pytest.mark.parametrize(("dataset", "floor"), [
    ("digits28", 0.8),  # 10 classes: chance 0.1; the old default (0.05) reached 0.176
    ("basic_motions", 0.7),  # 4 classes: chance 0.25
    ("pickup_gesture", 0.4),  # 10 classes, 5 base samples a class
])
def test_recipe_learns_well_above_chance(tmp_path: Path, dataset: str, floor: float) -> None:
    # digits28 with 2 of its recipe's 30 epochs, to stay quick; the sensor sets in full
    plan = _plan(tmp_path, dataset, "base_model: {epochs: 2}" if dataset == "digits28" else "")
    data = base_models.prepare_data(plan)
    base = base_models.prepare(plan, data, tmp_path / "cache")
    assert base.host_accuracy >= floor, base.host_accuracy


def test_base_model_near_chance_is_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "digits", "base_model: {hidden: [16], epochs: 1, learning_rate: 8.0}")
    data = base_models.prepare_data(plan)
    with pytest.raises(base_models.BaseModelError,
                       match=r"base model 64-16-10 for digits reaches 0\.\d+ on the host test split, "
                             r"near chance \(0\.100\) after 1 epochs at learning rate 8: set "
                             r"base_model\.learning_rate/epochs"):
        base_models.prepare(plan, data, tmp_path / "cache")
    # the refusal holds for a cached blob too
    assert list((tmp_path / "cache").glob("*.blob"))
    with pytest.raises(base_models.BaseModelError):
        base_models.prepare(plan, data, tmp_path / "cache")


def test_untrained_base_is_allowed(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "digits", "base_model: {hidden: [16], epochs: 0}")
    assert base_models.prepare(plan, base_models.prepare_data(plan), tmp_path / "cache").key


def test_near_chance_rule() -> None:
    assert base_models.near_chance(0.176, 10) and not base_models.near_chance(0.35, 10)
    assert base_models.near_chance(0.40, 4) and not base_models.near_chance(0.5, 4)
