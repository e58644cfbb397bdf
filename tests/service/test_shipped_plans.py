"""The shipped plans hold where the suite runs: smoke and strategies on QEMU, whose
measurements set their thresholds; active learning (accuracy and labels only) on the
host build, which runs the same core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil_service.cli import main

PLANS = Path(__file__).resolve().parents[2] / "test_plans"


@pytest.mark.parametrize(("plan", "backend"), [
    ("smoke", "qemu"), ("strategies", "qemu"), ("active_learning", "native"),
])
def test_shipped_plan_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str], plan: str,
                             backend: str) -> None:
    code = main(["run", str(PLANS / f"{plan}.yaml"), "--backend", backend, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["status"] == "passed"
    assert all(r["expectations"] for r in data["runs"])
