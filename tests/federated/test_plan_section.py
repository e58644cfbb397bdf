"""The federated section is checked when the plan loads, at its own line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.plan import PlanError, load_plan
from hil_service.workflows.federated import FederatedSpec

from .conftest import fed_plan


def test_the_shipped_plan_loads_as_a_federated_group_run() -> None:
    plan = load_plan(Path(__file__).resolve().parents[2] / "test_plans" / "federated.yaml")
    (run,) = plan.strategies
    assert run.workflow == "federated" and run.group_size == 3
    fed = run.section
    assert isinstance(fed, FederatedSpec)
    assert fed.partition == "dirichlet(0.5)" and fed.rounds <= 20


@pytest.mark.parametrize(("field", "message"), [
    ("partition: shards", "unknown partition 'shards'"),
    ("compression: 'topk(0)'", r"compression 'topk\(0\)': k is a share"),
    ("aggregation: fedsgd", "aggregation"),
    ("rounds: 0", "rounds"),
])
def test_a_bad_field_names_its_line(tmp_path: Path, field: str, message: str) -> None:
    path = fed_plan(tmp_path, ["native-a", "native-b"], field, 'final_accuracy: ">= 0.5"')
    with pytest.raises(PlanError, match=message) as err:
        load_plan(path)
    assert "plan.yaml:12: strategies[0].federated" in str(err.value)  # the federated: line


def test_a_metric_the_workflow_does_not_measure_is_refused(tmp_path: Path) -> None:
    path = fed_plan(tmp_path, ["native-a", "native-b"], "rounds: 2", 'accuracy: ">= 0.5"')
    with pytest.raises(PlanError, match="not measured by workflow federated"):
        load_plan(path)
