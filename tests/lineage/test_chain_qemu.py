"""A three-step lineage chain end to end on real firmware in QEMU (mps2-an386):
a host-pretrained base → `hil run` adapts it (run 1) → a second plan starts from
run 1's result (`base_model: {from_run: ...}`) and adapts again (run 2) →
`hil lineage` prints base → run 1 → run 2 with the recorded hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from hil_service.base_models import prepare_data
from hil_service.cli import main
from hil_service.plan import load_plan
from hil_service.reference import Mlp

SCENARIO = "{base: 0.5, stream: 0.25, test: 0.1, seed: 1, shift: sensor_offset}"
STEP1 = f"""\
name: step1
dataset: digits
scenario: {SCENARIO}
base_model: {{hidden: [16], epochs: 5, seed: 7}}
strategies:
  - name: last_layer
    strategy: last_layer
    stream: {{samples: 64}}
    expect:
      accuracy: ">= 0.5"
      source_accuracy_after: ">= 0.5"
      negative_flip_rate: "<= 0.5"
      prediction_churn: "<= 0.5"
"""
STEP2 = f"""\
name: step2
dataset: digits
scenario: {SCENARIO}
base_model: {{from_run: runs/step1}}
strategies:
  - name: full
    strategy: full
    params: {{learning_rate: 0.01}}
    stream: {{samples: 48}}
    expect: {{accuracy: ">= 0.5", negative_flip_rate: "<= 0.5"}}
"""


def hil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(directory: Path) -> dict:
    return json.loads((directory / "run.json").read_text())


def test_three_step_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "step1.yaml").write_text(STEP1)
    (tmp_path / "step2.yaml").write_text(STEP2)
    runs = tmp_path / "runs"
    code, out, err = hil(capsys, "run", str(tmp_path / "step1.yaml"), "--dut", "qemu-an386",
                         "--out", str(runs / "step1"))
    assert code == 0, out + err
    code, out, err = hil(capsys, "run", str(tmp_path / "step2.yaml"), "--dut", "qemu-an386",
                         "--out", str(runs / "step2"))
    assert code == 0, out + err
    r1, r2 = run_json(runs / "step1"), run_json(runs / "step2")
    (run1,), (run2,) = r1["runs"], r2["runs"]
    e1, e2 = run1["lineage"], run2["lineage"]

    # each step's record: its parent, its kept child, plan, data and firmware build
    assert e1["parent"] == r1["base_model"]["sha256"] and r1["base_model"]["origin"] is None
    for r, e, d in ((r1, e1, runs / "step1"), (r2, e2, runs / "step2")):
        assert hashlib.sha256((d / e["blob"]).read_bytes()).hexdigest() == e["child"]
        assert e["blob"] == f"qemu-an386/{e['strategy']}/weights-qemu-an386.bin"
        assert e["plan"] == r["plan"]["sha256"]
        assert e["build_id"] == r["devices"]["qemu-an386"]["hello"]["git_hash"]
        assert e["device"] == "qemu-an386" and e["arch"] == [64, 16, 10]
    assert (e1["strategy"], e2["strategy"], e2["strategy_kind"]) == ("last_layer", "full", "full")
    assert e1["data"] == e2["data"]  # one scenario, one data hash
    # the link: run 2 started from exactly what run 1 ended with
    assert e2["parent"] == e1["child"] == r2["base_model"]["sha256"] != e1["parent"]
    assert r2["base_model"]["origin"]["from_run"] == str((runs / "step1").resolve())
    # ...and the device really ran those weights: same test split, same firmware, same figures
    m1, m2 = run1["metrics"], run2["metrics"]
    assert m2["accuracy_before"] == m1["accuracy"]
    # run 2's base side came from the twin (it gave the device's answers on the shifted split),
    # run 1's adapted side from the device: equal, so the twin is exact on this firmware too
    assert m2["source_accuracy_before"] == m1["source_accuracy_after"]
    n_test = len(prepare_data(load_plan(tmp_path / "step1.yaml")).scenario.y_test)
    for run in (run1, run2):
        assert run["trust"]["base_predictions"] == f"twin: gave the device's answer on all {n_test} test samples"

    # trust figures: on the unshifted split (the twin on the kept weights agrees to a near tie),
    # and consistent with each other
    plan = load_plan(tmp_path / "step1.yaml")
    sc = prepare_data(plan).scenario
    twin = Mlp.from_blob((runs / "step1" / e1["blob"]).read_bytes())
    assert abs(twin.accuracy(sc.x_test_base_domain, sc.y_test) - m1["source_accuracy_after"]) <= 0.02
    assert abs(twin.accuracy(sc.x_test, sc.y_test) - m1["accuracy"]) <= 0.02
    assert not np.isclose(m1["source_accuracy_after"], m1["accuracy"])  # two different splits
    for m in (m1, m2):
        assert 0 <= m["negative_flip_rate"] <= m["prediction_churn"] <= 1
        # accuracy lost can only come from negative flips
        assert m["negative_flip_rate"] >= m["source_accuracy_before"] - m["source_accuracy_after"] - 1e-12
    assert m2["prediction_churn"] > 0  # full backprop on 48 samples changes some answers
    junit = ET.parse(runs / "step1" / "junit.xml").getroot()
    assert {c.get("name") for c in junit.iter("testcase")} >= {"negative_flip_rate", "prediction_churn",
                                                               "source_accuracy_after"}

    # `hil lineage RUN_DIR`: base → run 1 → run 2, the run's own model marked
    code, out, err = hil(capsys, "lineage", str(runs / "step2"))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert lines[0].startswith(f"{e1['parent'][:12]}  host-pretrained base 64-16-10")
    assert lines[1].startswith(f"└── {e1['child'][:12]}  step1: qemu-an386/last_layer [last_layer, stream]")
    assert lines[2].startswith(f"    └── {e2['child'][:12]}  step2: qemu-an386/full [full, stream]")
    assert lines[2].endswith(" *") and not lines[1].endswith(" *")
    assert f"build {e2['build_id']}" in lines[2] and f"plan {e2['plan'][:12]}" in lines[2]

    # by hash (a prefix), searching the runs root: the same tree, the middle model marked
    code, out, err = hil(capsys, "lineage", e1["child"][:10], "--runs", str(runs), "--full")
    assert code == 0, err
    lines = out.splitlines()
    assert [ln.split()[-1] == "*" for ln in lines] == [False, True, False]
    assert e1["parent"] in lines[0] and e1["child"] in lines[1] and e2["child"] in lines[2]

    # the report shows it too
    code, out, err = hil(capsys, "report", str(runs / "step2"))
    html = (runs / "step2" / "report.html").read_text()
    assert "Trust and lineage" in html and e2["child"] in html and e1["child"] in html
