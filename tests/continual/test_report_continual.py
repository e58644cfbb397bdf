"""The report's continual section: one heat map of R per run, one curve per run."""

from __future__ import annotations

import re
from typing import Any

from hil_service.report import render_report
from hil_service.report_continual import continual_section


def _run(strategy: str, r: Any, per_task: Any = None) -> dict[str, Any]:
    return {"device": "qemu-an386", "strategy": strategy, "status": "passed",
            "metrics": {"average_accuracy": 0.9, "forgetting": 0.05, "joint_accuracy": 0.95},
            "accuracy_matrix": r, "average_accuracy_per_task": per_task,
            "continual_tasks": [{"name": "classes 0,1"}, {"name": "classes 2"}]}


R = [[0.99, None], [0.8, 0.97]]


def test_heat_map_per_run_and_one_curve_per_run() -> None:
    html = render_report({"plan": {"name": "p"}, "runs": [
        _run("naive", [[0.99, None], [0.1, 1.0]], [0.99, 0.55]),
        _run("distilled", R, [0.99, 0.885]),
        {"device": "d", "strategy": "plain", "metrics": {"accuracy": 0.9}}]})
    assert "<h2>Continual learning</h2>" in html
    assert html.count('class="plot-continual-r"') == 2
    cells = re.findall(r'class="cell" data-i="(\d)" data-j="(\d)" data-value="([\d.]+)"', html)
    assert ("1", "0", "0.8") in cells and ("1", "0", "0.1") in cells
    assert html.count('class="cell empty"') == 2  # R[0][1] of both runs: not seen yet
    curve = html[html.index('id="plot-continual-average"'):]
    assert curve.count('class="series"') == 2
    assert 'data-series="qemu-an386 / distilled"' in curve
    assert "0.885" in curve


def test_no_section_without_a_matrix_and_malformed_parts_tolerated() -> None:
    assert continual_section([{"strategy": "x", "metrics": {}}]) == ""
    assert continual_section([_run("bad", "not a matrix"), _run("worse", [1, 2])]) == ""
    out = continual_section([_run("odd", [[0.9, "x"], [None, 0.5]], ["a", None])])
    assert 'class="plot-continual-r"' in out
    assert "plot-continual-average" not in out  # the curve needs every value


def test_names_are_escaped() -> None:
    out = continual_section([_run("<script>", R, [0.99, 0.885])])
    assert "<script>" not in out and "&lt;script&gt;" in out
