"""Report sections over time and across devices: training curves, step time per device for
each strategy, the regressions of this run and a history sparkline per series.

Same rules as report.py: inline SVG, tolerant of any missing part, every string escaped.
The history comes from <runs root>/history.sqlite when the run directory has one beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hil_service.report import (
    _fmt,
    _Group,
    _grouped_bars,
    _nice_step,
    _svg,
    _tick_label,
    ordered_runs,
)
from hil_service.report_access import DASH
from hil_service.report_access import as_dict as _d
from hil_service.report_access import as_list as _l
from hil_service.report_access import escape as _e
from hil_service.report_access import finite as _num

__all__ = ["HISTORY_METRICS", "History", "history_section", "load_history", "regressions_section",
           "step_comparison_section", "training_curves_section"]

#: series shown in the report's history table (plus any metric flagged in this run)
HISTORY_METRICS = ("accuracy", "accuracy_gain", "loss", "train_step_us_p95", "arena_peak_bytes",
                   "stack_high_water_bytes", "ram_bytes")
SPARK_POINTS = 30

#: (strategy, device, metric) -> [(started, value, status, flagged)] oldest first
History = Mapping[tuple[str, str, str], Sequence[tuple[str, float, str, bool]]]

TRENDS_CSS = """
svg .line { fill: none; stroke-width: 1.6; }
svg .p50 { fill: #54aeff; } svg .p95bar { fill: #0969da; } svg .maxbar { fill: #0a3069; }
svg .spark { fill: none; stroke: #0969da; stroke-width: 1.3; }
svg circle.now { fill: #0969da; } svg circle.regressed { fill: #cf222e; }
.pair { display: flex; flex-wrap: wrap; gap: 0 1.5rem; }
.pair figure { flex: 1 1 420px; min-width: 0; }
.badge.regression { background: #cf222e; }
"""


# -- training curves --------------------------------------------------------------------
def _line_chart(label: str, lines: Sequence[tuple[str, str, Sequence[float], Sequence[float]]],
                x_title: str, y_title: str, y_range: tuple[float, float] | None = None) -> str:
    """Lines (name, css, xs, ys) on shared axes; the legend below names each."""
    left, right, top, plot_h, plot_w = 56, 16, 12, 170, 460
    width = left + plot_w + right
    height = top + plot_h + 34 + 16 * len(lines)
    xs = [x for _, _, lx, _ in lines for x in lx]
    ys = [y for _, _, _, ly in lines for y in ly]
    x_hi = max(xs) if xs else 1.0
    if y_range is not None:
        y_lo, y_hi = y_range
    else:
        y_lo, y_hi = 0.0, max(ys) if ys else 1.0
        step = _nice_step(y_hi - y_lo)
        y_hi = max(step, math.ceil(y_hi / step - 1e-9) * step)
    y_span = (y_hi - y_lo) or 1.0

    def px(x: float) -> float:
        return left + plot_w * x / (x_hi or 1.0)

    def py(y: float) -> float:
        return top + plot_h - plot_h * (min(max(y, y_lo), y_hi) - y_lo) / y_span

    parts: list[str] = []
    step = _nice_step(y_span)
    tick = y_lo
    while tick <= y_hi + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" '
                     f'y2="{py(tick):.1f}"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" '
                     f'text-anchor="end">{_tick_label(round(tick, 9))}</text>')
        tick += step
    x_step = _nice_step(x_hi)
    tick = 0.0
    while tick <= x_hi + 1e-9:
        parts.append(f'<text x="{px(tick):.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f"{_tick_label(tick)}</text>")
        tick += x_step
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 28}" text-anchor="middle">'
                 f'{_e(x_title)}</text><text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{_e(y_title)}</text>')
    for i, (name, css, lx, ly) in enumerate(lines):
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(lx, ly, strict=False))
        last = f"{ly[-1]:.3f}" if ly else DASH
        parts.append(f'<polyline class="line {css}" data-series="{_e(name)}" points="{coords}">'
                     f"<title>{_e(name)}: {last} at the end</title></polyline>")
        yy = top + plot_h + 48 + 16 * i
        parts.append(f'<line class="line {css}" x1="{left}" x2="{left + 24}" y1="{yy - 4}" '
                     f'y2="{yy - 4}"/><text x="{left + 30}" y="{yy}">{_e(name)} ({last} at the end)'
                     "</text>")
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/>')
    return _svg(width, height, label, "".join(parts))


def _curve(run: Mapping[str, Any]) -> tuple[list[float], list[float], list[float]] | None:
    curve = _d(run.get("train_curve"))
    xs = [_num(v) for v in _l(curve.get("samples"))]
    loss = [_num(v) for v in _l(curve.get("loss"))]
    acc = [_num(v) for v in _l(curve.get("accuracy"))]
    points = [(x, lo, a) for x, lo, a in zip(xs, loss, acc, strict=False)
              if x is not None and lo is not None and a is not None]
    if not points:
        return None
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]


def _by_strategy(data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for run in ordered_runs(dict(data)):
        out.setdefault(str(run.get("strategy")), []).append(run)
    return out


def training_curves_section(data: Mapping[str, Any]) -> str:
    """Per strategy: loss and running accuracy over the streamed samples, a line per device."""
    out = []
    for strategy, runs in _by_strategy(data).items():
        curves = [(str(r.get("device")), c) for r in runs if (c := _curve(r)) is not None]
        if not curves:
            continue
        loss = [(dev, f"dev{i % 6}", c[0], c[1]) for i, (dev, c) in enumerate(curves)]
        acc = [(dev, f"dev{i % 6}", c[0], c[2]) for i, (dev, c) in enumerate(curves)]
        out.append(
            f'<h3>{_e(strategy)}</h3><div class="pair plot-train-curve" data-strategy="{_e(strategy)}">'
            f'<figure>{_line_chart(f"Training loss of {strategy}", loss, "samples streamed", "loss")}'
            "<figcaption>Mean cross-entropy of each stretch of the stream, before each update "
            "(from the TRAIN replies).</figcaption></figure>"
            f'<figure>{_line_chart(f"Running accuracy of {strategy}", acc, "samples streamed", "accuracy", (0.0, 1.0))}'
            "<figcaption>Running test-then-train accuracy: the share of streamed samples the device "
            "predicted right before training on them.</figcaption></figure></div>")
    return "<h2>Training curves</h2>" + "".join(out) if out else ""


# -- step time across devices -----------------------------------------------------------
def step_comparison_section(data: Mapping[str, Any]) -> str:
    """Per strategy run on two or more devices: p50 / p95 / max step time side by side (µs)."""
    out = []
    for strategy, runs in _by_strategy(data).items():
        groups = []
        for run in runs:
            m = _d(run.get("metrics"))
            values = (_num(m.get("train_step_us_p50")), _num(m.get("train_step_us_p95")),
                      _num(m.get("train_step_us_max")))
            if any(v is not None for v in values):
                groups.append(_Group(str(run.get("device")), strategy, values))
        if len(groups) < 2:
            continue
        top = max(v for g in groups for v in g.values if v is not None)
        svg = _grouped_bars(f"Trained step time per device, {strategy}", groups,
                            [("p50", "p50"), ("p95", "p95bar"), ("max", "maxbar")],
                            max(1.0, top * 1.05), "µs per trained step", "{:,.1f} µs")
        out.append(f'<figure class="plot-step-compare" data-strategy="{_e(strategy)}">'
                   f"<h3>{_e(strategy)}</h3>{svg}<figcaption>Trained steps by each device's own clock "
                   "(virtual time under QEMU -icount).</figcaption></figure>")
    return "<h2>Step time across devices</h2>" + "".join(out) if out else ""


# -- regressions and history ------------------------------------------------------------
def regressions_section(data: Mapping[str, Any]) -> str:
    """This run's regressions against the history (run.json "regressions")."""
    from hil_service.history import regression_line

    found = [_d(r) for r in _l(data.get("regressions")) if isinstance(r, dict)]
    if not found:
        return ""
    items = "".join(f'<li class="fail" data-metric="{_e(r.get("metric"))}">{_e(regression_line(r))}</li>'
                    for r in found)
    return (f'<h2>Regressions</h2><ul class="expect regressions">{items}</ul>'
            '<p class="muted">Against the median of the same series\' earlier runs, beyond '
            "max(3 × 1.4826 × MAD, floor) (README: History and regressions).</p>")


def load_history(run_dir: Path, data: Mapping[str, Any]) -> History | None:
    """This plan's series from <run dir>/../history.sqlite, up to this run; None without a store."""
    from hil_service.history import DB_NAME, HistoryError, HistoryStore

    root = Path(run_dir).parent
    plan = _d(data.get("plan")).get("name")
    if not (root / DB_NAME).is_file() or not isinstance(plan, str):
        return None
    started = str(data.get("started") or "")
    try:
        with HistoryStore(root) as store:
            series = store.series(plan=plan)
    except HistoryError:
        return None
    return {(k.strategy, k.device, k.metric): [(p.started, p.value, p.status, p.regression)
                                               for p in points if p.started <= started]
            for k, points in series.items()}


def _spark(values: Sequence[float], flags: Sequence[bool], label: str) -> str:
    width, height, pad = 150, 26, 3
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = len(values)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * ((v - lo) / span if hi > lo else 0.5)

    coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    dots = "".join(f'<circle class="regressed" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.6"/>'
                   for i, (v, f) in enumerate(zip(values, flags, strict=True)) if f and i < n - 1)
    last = f'<circle class="{"regressed" if flags[-1] else "now"}" cx="{x(n - 1):.1f}" cy="{y(values[-1]):.1f}" r="3"/>'
    return _svg(width, height, label, f'<polyline class="spark" points="{coords}"/>{dots}{last}')


def history_section(data: Mapping[str, Any], history: History | None) -> str:
    """A sparkline per series of this run (strategy, then device), ending at this run."""
    if not history:
        return ""
    flagged = {(str(r.get("strategy")), str(r.get("device")), str(r.get("metric")))
               for r in _l(data.get("regressions")) if isinstance(r, dict)}
    rows = []
    for run in ordered_runs(dict(data)):
        strategy, device = str(run.get("strategy")), str(run.get("device"))
        metrics = [m for m in HISTORY_METRICS if (strategy, device, m) in history]
        metrics += sorted(m for s, d, m in flagged if (s, d) == (strategy, device) and m not in metrics
                          and (s, d, m) in history)
        for metric in metrics:
            points = [p for p in history[(strategy, device, metric)] if p[2] in ("passed", "failed")]
            points = points[-SPARK_POINTS:]
            if not points:
                continue
            values, flags = [p[1] for p in points], [p[3] for p in points]
            earlier = values[:-1]
            median = statistics.median(earlier) if earlier else None
            regressed = (strategy, device, metric) in flagged
            badge = ' <span class="badge regression">regression</span>' if regressed else ""
            label = f"{metric} of {device} / {strategy} over {len(values)} runs"
            rows.append(
                f'<tr data-series="{_e(f"{strategy}/{device}/{metric}")}"><td>{_e(strategy)}</td>'
                f"<td>{_e(device)}</td><td><code>{_e(metric)}</code></td>"
                f'<td class="num">{len(values)}</td><td>{_spark(values, flags, label)}</td>'
                f'<td class="num">{_e(_fmt(values[-1]))}{badge}</td>'
                f'<td class="num">{_e(_fmt(median)) if median is not None else DASH}</td></tr>')
    if not rows:
        return ""
    return ("<h2>History</h2><table class=\"history\"><tr><th>Strategy</th><th>Device</th><th>Metric</th>"
            "<th>Runs</th><th>Trend</th><th>Newest</th><th>Median before</th></tr>" + "".join(rows)
            + "</table><p class=\"muted\">Finished runs of this plan under the same runs root "
              f"(history.sqlite), up to this run; the last {SPARK_POINTS} at most; red: a regression."
              "</p>")
