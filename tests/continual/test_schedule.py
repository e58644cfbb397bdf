"""The task sequence and the schedule on the twin: class order, domain tasks, decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hil_service import datasets
from hil_service.reference import Strategy, TrainParams
from hil_service.workflows.continual_data import build_tasks
from hil_service.workflows.continual_metrics import average_accuracy
from hil_service.workflows.continual_schedule import Recipe, TwinLearner, pretrain_base, run_schedule
from hil_service.workflows.continual_spec import ContinualSpec


@pytest.fixture(scope="module")
def scenario() -> datasets.Scenario:
    return datasets.scenario(datasets.load("digits"), 0.5, 0.25, 0.25, 1)


def test_classes_are_renumbered_in_task_order(scenario: datasets.Scenario) -> None:
    spec = ContinualSpec.model_validate({"tasks": [[3, 1], [0, 7, 2]]})
    seq = build_tasks(spec, scenario, 10, (8, 8))
    assert seq.classes == (3, 1, 0, 7, 2) and seq.outputs == (2, 5)
    t0, t1 = seq.tasks
    assert set(t0.y_train) == {0, 1} and set(t1.y_train) == {2, 3, 4}
    # output 0 is class 3: the same samples
    assert np.array_equal(t0.x_train[t0.y_train == 0], scenario.x_base[scenario.y_base == 3])
    assert np.array_equal(t1.x_test[t1.y_test == 3], scenario.x_test[scenario.y_test == 7])
    assert len(t1.y_train) == int(np.isin(scenario.y_stream, [0, 7, 2]).sum())


def test_domain_tasks_split_the_stream_and_shift(scenario: datasets.Scenario) -> None:
    spec = ContinualSpec.model_validate({"tasks": [
        {"shift": "none"}, {"shift": "sensor_offset", "strength": 0.5}, {"shift": "sensor_offset"}]})
    seq = build_tasks(spec, scenario, 10, (8, 8))
    a, b, c = seq.tasks
    assert seq.outputs == (10, 10, 10)
    assert np.array_equal(a.x_train, scenario.x_base)
    assert len(b.y_train) + len(c.y_train) == len(scenario.y_stream)
    assert abs(len(b.y_train) - len(c.y_train)) <= 10  # each class dealt round robin
    full = datasets.apply_shift("sensor_offset", scenario.x_test, (8, 8))
    assert np.allclose(c.x_test, full)
    assert np.allclose(b.x_test, scenario.x_test + 0.5 * (full - scenario.x_test))


def test_domain_schedule_scores_every_task_and_never_grows_outputs(
        scenario: datasets.Scenario) -> None:
    spec = ContinualSpec.model_validate({"tasks": [{"shift": "none"}, {"shift": "misaligned"}],
                                         "replay": "random", "budget": {"samples": 20}})
    seq = build_tasks(spec, scenario, 10, (8, 8))
    start, blob, _ = pretrain_base(seq, (16,), Recipe(5, 0.05, 7))
    decisions: list[dict[str, Any]] = []
    out = run_schedule(TwinLearner(TrainParams(Strategy.FULL, learning_rate=0.05)), seq, spec,
                       start, blob, seed=7, decide=lambda **d: decisions.append(d))
    assert all(v is not None for row in out.R for v in row)  # forward transfer is defined
    assert not [d for d in decisions if d["action"] in ("grow_outputs", "grow_hidden")]
    load = next(d for d in decisions if d["action"] == "load_replay")
    assert load["samples"] == 20 and load["per_class"] == 2 and out.replay_bytes == 20 * 257
    assert out.R[1][1] > out.R[0][1]  # the device learned the misaligned sensor
    assert average_accuracy(out.R) == pytest.approx(np.mean(out.R[-1]))


def test_growth_stops_at_max_hidden_and_says_why(scenario: datasets.Scenario) -> None:
    spec = ContinualSpec.model_validate({"tasks": [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]],
                                         "accuracy_standard": 1.0, "grow_by": 5,
                                         "max_hidden": 12})
    seq = build_tasks(spec, scenario, 10, (8, 8))
    start, blob, _ = pretrain_base(seq, (4,), Recipe(5, 0.05, 7))
    decisions: list[dict[str, Any]] = []
    out = run_schedule(TwinLearner(TrainParams(Strategy.FULL, learning_rate=0.05)), seq, spec,
                       start, blob, seed=7, decide=lambda **d: decisions.append(d))
    grows = [d["arch"] for d in decisions if d["action"] == "grow_hidden"]
    assert grows == ["64-9-10", "64-12-10"]  # 4 + 5, then capped at 12
    assert out.growth_steps == 2 and str(out.arch) == "64-12-10"
    assert "max_hidden 12" in decisions[-1]["why"] and decisions[-1]["action"] == "keep"
