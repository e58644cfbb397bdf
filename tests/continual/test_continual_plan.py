"""The shipped continual plan through `hil run` on QEMU mps2-an386: every expectation holds,
the done-when claims hold across its runs, the growth decisions are consistent, and the
device's accuracy matrix and MAC count equal the bit-exact twin's for the same schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil_service import base_models
from hil_service.cli import main
from hil_service.plan import load_plan
from hil_service.protocol import Quantization
from hil_service.workflows.continual_data import build_tasks
from hil_service.workflows.continual_schedule import Recipe, TwinLearner, pretrain_base, run_schedule
from hil_service.workflows.continual_spec import ContinualSpec

PLAN = Path(__file__).resolve().parents[2] / "test_plans" / "continual.yaml"


def _run(plan: Path, out: Path) -> int:
    """hil run on QEMU an386 with a lock directory of its own (the module's fixtures run
    outside the per-test one), so it never waits on another run of the machine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HIL_LOCK_DIR", str(out / "locks"))
        return main(["run", str(plan), "--dut", "qemu-an386", "--out", str(out / "run")])


@pytest.fixture(scope="module")
def run_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("continual")
    code = _run(PLAN, out)
    data: dict[str, Any] = json.loads((out / "run" / "run.json").read_text())
    assert code == 0, [r.get("error") or r.get("expectations") for r in data["runs"]]
    return data


def _runs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["strategy"]: r for r in data["runs"]}


def test_plan_passes_with_a_triangular_accuracy_matrix(run_json: dict[str, Any]) -> None:
    assert run_json["status"] == "passed"
    runs = _runs(run_json)
    assert set(runs) == {"naive", "random", "herding", "distilled", "distilled_growth"}
    for name, run in runs.items():
        r = run["accuracy_matrix"]
        assert len(r) == 4 and all(len(row) == 4 for row in r), name
        for i, row in enumerate(r):
            assert all(v is None for v in row[i + 1:]), (name, i)  # classes not seen yet
            assert all(0.0 <= v <= 1.0 for v in row[: i + 1]), (name, i)
        m = run["metrics"]
        assert m["average_accuracy"] == pytest.approx(float(np.mean(r[-1])))
        assert len(run["average_accuracy_per_task"]) == 4


def test_done_when_claims_across_methods(run_json: dict[str, Any]) -> None:
    m = {name: run["metrics"] for name, run in _runs(run_json).items()}
    # catastrophic forgetting without a memory, and a third of it at most with a distilled one
    assert m["naive"]["forgetting"] >= 0.5
    assert m["distilled"]["forgetting"] <= m["naive"]["forgetting"] / 3
    # distilled beats random at the same budget, and lands within 5 points of joint training
    assert m["distilled"]["replay_bytes"] == m["random"]["replay_bytes"]
    assert m["distilled"]["average_accuracy"] > m["random"]["average_accuracy"]
    assert m["distilled"]["joint_accuracy"] - m["distilled"]["average_accuracy"] <= 0.05
    # the budget: at most 2 % of the training data (base + stream splits), as the device
    # stores int8 records (label + 64 features)
    sc = base_models.prepare_data(load_plan(PLAN)).scenario
    budget = int(0.02 * (len(sc.y_base) + len(sc.y_stream)))
    assert budget <= 0.02 * 1797
    assert 0 < m["distilled"]["replay_bytes"] <= budget * 65
    assert m["naive"]["replay_bytes"] == 0


GROWTH_PLAN = """\
name: growth
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.25, seed: 1}
base_model: {hidden: [32], epochs: 30, seed: 7}
strategies:
  - name: grow_from_8
    strategy: full
    params: {learning_rate: 0.05}
    stream: {encoding: int8}
    continual:
      tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]
      epochs: 3
      ratio: 2
      replay: distilled
      budget: {fraction: 0.02}
      hidden: [8]
      accuracy_standard: 0.9
      grow_by: 8
      max_hidden: 64
    expect: {growth_steps: ">= 1"}
"""


@pytest.fixture(scope="module")
def growth_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A model too small for the standard (8 hidden): the device grows it while it falls short."""
    out = tmp_path_factory.mktemp("growth")
    plan = out / "growth.yaml"
    plan.write_text(GROWTH_PLAN)
    code = _run(plan, out)
    data: dict[str, Any] = json.loads((out / "run" / "run.json").read_text())
    assert code == 0, [r.get("error") or r.get("expectations") for r in data["runs"]]
    return plan, data


def test_every_decision_is_recorded_and_growth_follows_the_standard(
        growth_json: tuple[Path, dict[str, Any]]) -> None:
    run = growth_json[1]["runs"][0]
    decisions = run["continual_decisions"]
    assert [d["task"] for d in decisions if d["action"] == "grow_outputs"] == [1, 2, 3]
    assert [d["arch"] for d in decisions if d["action"] == "grow_outputs"][0] == "64-8-7"
    trains = [d for d in decisions if d["action"] == "train"]
    grows = [d for d in decisions if d["action"] == "grow_hidden"]
    assert grows and len(grows) == run["metrics"]["growth_steps"]
    assert len(trains) == 3 + len(grows)  # one train per task, one more per growth
    for i, d in enumerate(decisions):
        if d["action"] == "grow_hidden":  # only right after a train that missed the standard
            before = decisions[i - 1]
            assert before["action"] == "train" and before["accuracy_seen"] < 0.9
        if d["action"] == "keep":
            assert decisions[i - 1]["accuracy_seen"] >= 0.9 or "max_hidden" in d["why"]
    final = run["arch_per_task"][-1]
    sizes = [int(s) for s in final.split("-")]
    assert sizes[1] == min(64, 8 + 8 * len(grows))
    assert run["metrics"]["model_params"] == sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert run["metrics"]["inference_macs"] == sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _twin_equals_device(plan_path: Path, name: str, device: dict[str, Any]) -> None:
    plan = load_plan(plan_path)
    spec = next(s for s in plan.strategies if s.name == name)
    c = spec.section
    assert isinstance(c, ContinualSpec)
    data = base_models.prepare_data(plan)
    seq = build_tasks(c, data.scenario, data.n_classes, data.image_shape)
    b = plan.base_model
    start, blob, _ = pretrain_base(seq, c.hidden or b.hidden, Recipe(b.epochs, b.learning_rate, b.seed))
    twin = TwinLearner(spec.train_params(), Quantization.for_range(0.0, 1.0), exact=True)
    out = run_schedule(twin, seq, c, start, blob, seed=b.seed, encoding="int8")
    assert out.R == device["accuracy_matrix"]
    assert out.training_macs == device["metrics"]["training_macs_total"]
    assert out.growth_steps == device["metrics"]["growth_steps"]
    assert str(out.arch) == device["arch_per_task"][-1]


def test_growing_device_equals_the_exact_twin(growth_json: tuple[Path, dict[str, Any]]) -> None:
    """The same schedule on the bit-exact twin: the device's R, MAC count and growth exactly."""
    plan, data = growth_json
    _twin_equals_device(plan, "grow_from_8", data["runs"][0])


@pytest.mark.parametrize("name", ["herding", "distilled"])
def test_device_equals_the_exact_twin(run_json: dict[str, Any], name: str) -> None:
    """The same schedule on the bit-exact twin gives the device's R and MAC count exactly."""
    _twin_equals_device(PLAN, name, _runs(run_json)[name])
