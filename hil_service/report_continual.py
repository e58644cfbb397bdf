"""The report's continual-learning section: R as a heat map per run, and the average
accuracy after each task for every run on one plot (inline SVG, no scripts).

Reads what workflows/continual.py journals on each run: `accuracy_matrix` (R, None
where a task's classes did not exist yet), `average_accuracy_per_task`, and the
metrics. Tolerates missing or mistyped parts like the rest of the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hil_service.report_access import escape as _e
from hil_service.report_access import finite as _num

__all__ = ["continual_section"]

_PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#bf3989", "#57606a", "#0a3069")


def _matrix(value: Any) -> list[list[float | None]] | None:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        return None
    return [[_num(v) for v in row] for row in value]


def _colour(v: float) -> str:
    """White (0) to blue (1): lighter is worse."""
    t = max(0.0, min(1.0, v))
    r, g, b = (int(255 + (c - 255) * t) for c in (9, 105, 218))
    return f"rgb({r},{g},{b})"


def _heat_map(label: str, r: list[list[float | None]], names: Sequence[str]) -> str:
    cell, left, top = 46, 70, 34
    n_rows, n_cols = len(r), max(len(row) for row in r)
    width, height = left + cell * n_cols + 10, top + cell * n_rows + 10
    parts = [f'<text x="{left + cell * n_cols / 2:.0f}" y="12" text-anchor="middle">evaluated on '
             f"task j</text>"]
    for j in range(n_cols):
        tip = f"task {j}" + (f": {names[j]}" if j < len(names) else "")
        parts.append(f'<text x="{left + cell * j + cell / 2:.0f}" y="{top - 6}" text-anchor="middle">'
                     f"{j}<title>{_e(tip)}</title></text>")
    for i, row in enumerate(r):
        y = top + cell * i
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.0f}" text-anchor="end">after {i}'
                     "</text>")
        for j, v in enumerate(row):
            x = left + cell * j
            if v is None:
                parts.append(f'<rect class="cell empty" x="{x}" y="{y}" width="{cell}" height="{cell}" '
                             f'fill="#f6f8fa" stroke="#d0d7de"><title>R[{i}][{j}]: not seen yet'
                             "</title></rect>")
                continue
            ink = "#fff" if v > 0.6 else "#1f2328"
            parts.append(f'<rect class="cell" data-i="{i}" data-j="{j}" data-value="{v:.6g}" x="{x}" '
                         f'y="{y}" width="{cell}" height="{cell}" fill="{_colour(v)}" stroke="#fff">'
                         f"<title>R[{i}][{j}] = {v:.3f}</title></rect>"
                         f'<text x="{x + cell / 2:.0f}" y="{y + cell / 2 + 4:.0f}" text-anchor="middle" '
                         f'style="fill:{ink}">{v:.2f}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


def _curves(label: str, series: Sequence[tuple[str, list[float]]]) -> str:
    left, top, plot_w, plot_h, right = 56, 14, 420, 200, 16
    last = max(len(v) for _, v in series) - 1 or 1
    lo = min(0.9, math.floor(min(x for _, v in series for x in v) * 10) / 10)
    lo = max(0.0, lo)
    width = left + plot_w + right
    height = top + plot_h + 40 + 16 * len(series)

    def px(i: float) -> float:
        return left + plot_w * i / last

    def py(v: float) -> float:
        return top + plot_h - plot_h * (v - lo) / (1.0 - lo)

    parts = []
    tick = lo
    while tick <= 1.0 + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" '
                     f'y2="{py(tick):.1f}"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" '
                     f'text-anchor="end">{tick:.1f}</text>')
        tick = round(tick + 0.1, 9)
    for i in range(last + 1):
        parts.append(f'<text x="{px(i):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{i}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 28}" text-anchor="middle">'
                 "after task</text>")
    for k, (name, values) in enumerate(series):
        colour = _PALETTE[k % len(_PALETTE)]
        pts = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        dots = "".join(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}" '
                       f'data-task="{i}" data-value="{v:.6g}"><title>{_e(name)} after task {i}: '
                       f"{v:.3f}</title></circle>" for i, v in enumerate(values))
        yy = top + plot_h + 44 + 16 * k
        parts.append(f'<g class="series" data-series="{_e(name)}"><polyline points="{pts}" '
                     f'fill="none" stroke="{colour}" stroke-width="2"/>{dots}</g>'
                     f'<line x1="{left}" x2="{left + 24}" y1="{yy - 4}" y2="{yy - 4}" '
                     f'stroke="{colour}" stroke-width="2"/><text x="{left + 30}" y="{yy}">'
                     f"{_e(name)} {values[-1]:.3f}</text>")
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


def continual_section(runs: Sequence[dict[str, Any]]) -> str:
    """The section's HTML, or "" when no run has an accuracy matrix."""
    maps, series = [], []
    for run in runs:
        r = _matrix(run.get("accuracy_matrix"))
        if r is None:
            continue
        name = f"{run.get('device')} / {run.get('strategy')}"
        tasks = run.get("continual_tasks")
        names = [str(t.get("name")) for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []
        m = run.get("metrics") if isinstance(run.get("metrics"), dict) else {}
        assert isinstance(m, dict)
        facts = ", ".join(f"{k} {_num(m.get(k)):.3f}" for k in
                          ("average_accuracy", "forgetting", "joint_accuracy") if _num(m.get(k)) is not None)
        maps.append(f'<figure class="plot-continual-r" data-run="{_e(name)}"><h3>{_e(name)}</h3>'
                    f"{_heat_map(f'Accuracy matrix of {name}', r, names)}<figcaption>R[i][j]: accuracy "
                    f"on task j's test set after task i{'; ' + _e(facts) if facts else ''}."
                    "</figcaption></figure>")
        per_task = run.get("average_accuracy_per_task")
        values = [_num(v) for v in per_task] if isinstance(per_task, list) else []
        if values and all(v is not None for v in values):
            series.append((name, [v for v in values if v is not None]))
    if not maps:
        return ""
    curve = ""
    if series:
        curve = (f'<figure id="plot-continual-average">{_curves("Average accuracy after each task", series)}'
                 "<figcaption>Average accuracy over the tasks seen so far, after each task, per run"
                 "</figcaption></figure>")
    return "<h2>Continual learning</h2>" + curve + "".join(maps)
