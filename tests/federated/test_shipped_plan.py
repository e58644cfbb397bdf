"""The shipped federated plan holds: three heterogeneous emulated devices (QEMU an385 and
an386, the host build) under Dirichlet(0.5) label skew, through `hil run` (about 5 minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil_service.cli import main

PLAN = Path(__file__).resolve().parents[2] / "test_plans" / "federated.yaml"


@pytest.mark.timeout(1200)
def test_federated_plan_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(PLAN), "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    data = json.loads((tmp_path / "run.json").read_text())
    (run,) = data["runs"]
    assert run["status"] == "passed", run["expectations"]
    m = run["metrics"]
    # within 2 points of centralised training, and better than each device alone
    assert m["centralised_accuracy"] - m["final_accuracy"] <= 0.02
    per = {d: r["metrics"] for d, r in run["device_results"].items()}
    assert set(per) == {"qemu-an385", "qemu-an386", "native"}
    assert all(p["local_accuracy_after"] > p["local_only_accuracy"] for p in per.values())
    assert m["rounds_completed"] <= 20
