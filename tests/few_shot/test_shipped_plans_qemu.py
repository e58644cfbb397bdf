"""The shipped few-shot and label-free plans hold on QEMU mps2-an386 through `hil run`,
and what they record is consistent with itself and with the twin."""

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
from hil_service.reference import Mlp

PLANS = Path(__file__).resolve().parents[2] / "test_plans"


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], plan: str) -> dict[str, Any]:
    code = main(["run", str(PLANS / f"{plan}.yaml"), "--dut", "qemu-an386", "--out",
                 str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    data: dict[str, Any] = json.loads((tmp_path / "run.json").read_text())
    assert data["status"] == "passed"
    return data


@pytest.mark.timeout(900)
@pytest.mark.parametrize("plan", ["few_shot", "few_shot_sensor"])
def test_few_shot_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], plan: str) -> None:
    data = _run(tmp_path, capsys, plan)
    assert len(data["runs"]) == 3
    for run in data["runs"]:
        m, fs = run["metrics"], run["few_shot"]
        assert m["adaptations"] == len(fs["trials"]) == len(fs["k"]) * len(fs["seeds"])
        for k in fs["k"]:
            accs = [t["accuracy"] for t in fs["trials"] if t["k"] == k]
            assert m[f"accuracy_k{k}_mean"] == pytest.approx(np.mean(accs))
            assert m[f"accuracy_k{k}_sd"] == pytest.approx(np.std(accs, ddof=1))
        n_classes, epochs = data["base_model"]["arch"][-1], run["stream"]["epochs"]
        for t in fs["trials"]:  # k samples of each class, every one trained on, each pass
            assert t["labels"] == t["k"] * n_classes
            assert t["trained"] == t["labels"] * epochs
        # more labels help: the largest k beats one shot and the base on the shifted data
        k_max = fs["k"][-1]
        assert m[f"accuracy_k{k_max}_mean"] > m["accuracy_k1_mean"] - 0.02
        assert m["accuracy"] == m[f"accuracy_k{k_max}_mean"] > m["accuracy_before"]
        assert 0 <= m["negative_flip_rate"] <= m["prediction_churn"] <= 1
        assert run["lineage"]["parent"] == data["base_model"]["sha256"]
    page = main(["report", str(tmp_path)])
    assert page == 0
    html = (tmp_path / "report.html").read_text()
    assert html.count('<g class="series"') == 3


def _twin_label_free(plan_name: str, run: dict[str, Any]) -> tuple[np.ndarray, float]:
    """The twin's pseudo labels and accuracy for the run's first pass, int8 as streamed."""
    plan = load_plan(PLANS / f"{plan_name}.yaml")
    spec = next(s for s in plan.strategies if s.name == run["strategy"])
    data = base_models.prepare_data(plan)
    base = base_models.prepare(plan, data)
    q = Quantization.for_range(0.0, 1.0)
    sc = data.scenario
    model = Mlp.from_blob(base.blob, spec.train_params())
    pseudo = model.train_unlabelled(q.dequantize(q.quantize(sc.x_stream)))
    return pseudo, model.accuracy(q.dequantize(q.quantize(sc.x_test)), sc.y_test)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("plan", ["label_free", "label_free_sensor"])
def test_label_free_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], plan: str) -> None:
    data = _run(tmp_path, capsys, plan)
    for run in data["runs"]:
        m, pl = run["metrics"], run["pseudo_labels"]
        assert m["labels_used"] == 0
        assert m["pseudo_labels_used"] == pl["used"] == m["samples_trained"] > 0
        assert m["pseudo_label_precision"] == pytest.approx(pl["right"] / pl["used"])
        assert pl["streamed"] == m["samples_streamed"]
        assert m["supervised_gain"] == pytest.approx(m["supervised_accuracy"]
                                                     - m["accuracy_before"])
        # the device's pseudo labels are the twin's, sample for sample
        pseudo, accuracy = _twin_label_free(plan, run)
        used = pseudo >= 0
        assert int(used.sum()) == pl["used"]
        assert m["accuracy"] == pytest.approx(accuracy)
    page = main(["report", str(tmp_path)])
    assert page == 0
    assert "pseudo-label precision" in (tmp_path / "report.html").read_text()
