"""The report's few-shot plot and label-free table, from run.json as the workflows write it."""

from __future__ import annotations

import re
from typing import Any

from hil_service.report import render_report
from hil_service.report_few_shot import few_shot_sections, series_of


def _few_shot_run(strategy: str, accs: dict[int, list[float]], device: str = "qemu-an386"
                  ) -> dict[str, Any]:
    trials = [{"k": k, "seed": s, "accuracy": a} for k, values in accs.items()
              for s, a in enumerate(values)]
    return {"device": device, "strategy": strategy, "workflow": "few_shot", "status": "passed",
            "metrics": {"accuracy": 0.9}, "few_shot": {"k": sorted(accs), "seeds": [0, 1, 2],
                                                       "accuracy_before": 0.8, "trials": trials}}


def test_one_line_per_strategy_with_mean_and_spread_per_k() -> None:
    runs = [_few_shot_run("full", {1: [0.90, 0.92, 0.94], 10: [0.96, 0.96, 0.96]}),
            _few_shot_run("last<layer>", {1: [0.85, 0.87, 0.89], 10: [0.95, 0.97, 0.96]})]
    page = few_shot_sections(runs)
    assert page.count('<g class="series"') == 2
    assert 'data-strategy="last&lt;layer&gt;"' in page and "last<layer>" not in page
    means = re.findall(r'data-k="(\d+)" data-mean="([\d.]+)" data-sd="([\d.e-]+)"', page)
    assert means[0] == ("1", "0.92", "0.02") and means[1][:2] == ("10", "0.96")
    assert float(means[1][2]) < 1e-9
    assert "0.920 ± 0.020" in page  # the table
    assert "base model (k = 0): 0.800" in page


def test_the_report_carries_the_sections_and_a_broken_run_does_not_break_it() -> None:
    lf = {"device": "qemu-an386", "strategy": "lc", "workflow": "label_free", "status": "passed",
          "params": {"pseudo_score": "least_confidence", "pseudo_threshold": 0.3},
          "pseudo_labels": {"used": 393, "right": 383, "streamed": 450},
          "metrics": {"pseudo_label_precision": 0.9746, "pseudo_labels_used": 393,
                      "accuracy_before": 0.8, "accuracy": 0.949, "accuracy_gain": 0.149,
                      "supervised_gain": 0.147, "gain_recovered": 1.015}}
    broken = {"device": "qemu-an386", "strategy": "x", "workflow": "few_shot", "status": "error",
              "few_shot": {"trials": [{"k": "one", "accuracy": None}]}}
    page = render_report({"plan": {"name": "p"}, "runs": [
        _few_shot_run("full", {1: [0.9, 0.8], 5: [0.95, 0.93]}), lf, broken]})
    assert "<h2>Few-shot adaptation</h2>" in page and "<h2>Label-free adaptation</h2>" in page
    assert '<td class="num pseudo-precision">0.975</td>' in page
    assert "least_confidence ≤ 0.3" in page and "393 / 450" in page and "+0.147" in page
    assert series_of(broken) is None
    assert few_shot_sections([]) == ""
