"""The report's sections on few-shot and label-free runs (from run.json; see report.py).

Few-shot: per device, accuracy against k with one line per strategy run (the
mean over seeds, a bar of ± one standard deviation, every seed's value as a
faint dot) and the base accuracy as a dashed line; a table of mean ± sd per k.
Label-free: a table of the pseudo labels the device used and their precision,
with the accuracy gain against the supervised gain where the baseline ran.

Like report.py, every lookup tolerates a missing or mistyped part of run.json,
every string goes through html.escape, and the plot is inline SVG with
<title> tooltips (no scripts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hil_service.report_access import DASH
from hil_service.report_access import as_dict as _d
from hil_service.report_access import as_list as _l
from hil_service.report_access import escape as _e
from hil_service.report_access import finite as _num

__all__ = ["few_shot_sections"]

# colour-blind-safe series colours (Okabe-Ito), inline so report.py's CSS needs no entry
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.3f}" if signed else f"{value:.3f}"


@dataclass(frozen=True)
class Series:
    """One strategy run's accuracy over k on one device."""

    strategy: str
    #: (k, mean, sd, every seed's accuracy)
    points: tuple[tuple[int, float, float, tuple[float, ...]], ...]
    before: float | None


def series_of(run: dict[str, Any]) -> Series | None:
    """The few-shot results of a run as recorded, or None when it has none."""
    fs = _d(run.get("few_shot"))
    by_k: dict[int, list[float]] = {}
    for t in _l(fs.get("trials")):
        k, acc = _d(t).get("k"), _num(_d(t).get("accuracy"))
        if isinstance(k, int) and not isinstance(k, bool) and acc is not None:
            by_k.setdefault(k, []).append(acc)
    points = []
    for k in sorted(by_k):
        a = by_k[k]
        mean = sum(a) / len(a)
        sd = math.sqrt(sum((v - mean) ** 2 for v in a) / (len(a) - 1)) if len(a) > 1 else 0.0
        points.append((k, mean, sd, tuple(a)))
    if not points:
        return None
    return Series(str(run.get("strategy")), tuple(points), _num(fs.get("accuracy_before")))


def accuracy_vs_k(label: str, series: Sequence[Series]) -> str:
    """Accuracy (y) against k (x, log-spaced when k spans a factor of 4 or more)."""
    left, right, top, plot_w, plot_h = 56, 20, 16, 460, 220
    ks = sorted({k for s in series for k, *_ in s.points})
    log = ks[-1] / ks[0] >= 4
    values = [v for s in series for _, m, sd, a in s.points for v in (m - sd, m + sd, *a)]
    values += [s.before for s in series if s.before is not None]
    lo = max(0.0, math.floor(min(values) * 10 - 1e-9) / 10)
    hi = min(1.0, math.ceil(max(values) * 10 + 1e-9) / 10)
    hi = max(hi, lo + 0.1)
    legend_rows = len(series) + 1
    width, height = left + plot_w + right, top + plot_h + 40 + 16 * legend_rows

    def x(k: float) -> float:
        if len(ks) == 1:
            return left + plot_w / 2
        a, b = (math.log(ks[0]), math.log(ks[-1])) if log else (ks[0], ks[-1])
        v = math.log(k) if log else k
        return left + 16 + (plot_w - 32) * (v - a) / (b - a)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v - lo) / (hi - lo)

    parts: list[str] = []
    n_ticks = round((hi - lo) / 0.1)
    step = 0.1 if n_ticks <= 6 else 0.2
    tick = lo
    while tick <= hi + 1e-9:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#d8dee4"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{tick:.1f}</text>')
        tick += step
    for k in ks:
        parts.append(f'<text x="{x(k):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 30}" text-anchor="middle">'
                 f'k: labelled target samples per class{" (log scale)" if log else ""}</text>'
                 f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">test accuracy</text>')
    befores = sorted({s.before for s in series if s.before is not None})
    for b in befores:
        parts.append(f'<line class="base" x1="{left}" x2="{left + plot_w}" y1="{y(b):.1f}" '
                     f'y2="{y(b):.1f}" stroke="#57606a" stroke-dasharray="6 3">'
                     f"<title>base model (k = 0): {b:.3f}</title></line>")
    for i, s in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        # each series a few pixels aside, so overlapping bars stay apart
        dx = (i - (len(series) - 1) / 2) * 7

        def xs(k: int, dx: float = dx) -> float:
            return x(k) + dx

        coords = " ".join(f"{xs(k):.1f},{y(m):.1f}" for k, m, _, _ in s.points)
        dots = []
        for k, m, sd, accs in s.points:
            tip = (f"{s.strategy}, k = {k}: {m:.3f} ± {sd:.3f} over {len(accs)} seeds "
                   f"({', '.join(f'{a:.3f}' for a in accs)})")
            dots.append(f'<line x1="{xs(k):.1f}" x2="{xs(k):.1f}" y1="{y(m - sd):.1f}" '
                        f'y2="{y(m + sd):.1f}" stroke="{c}" stroke-width="1.5"/>'
                        + "".join(f'<circle cx="{xs(k):.1f}" cy="{y(a):.1f}" r="1.6" fill="{c}" '
                                  f'fill-opacity="0.35"/>' for a in accs)
                        + f'<circle class="mean" cx="{xs(k):.1f}" cy="{y(m):.1f}" r="3.5" '
                          f'fill="{c}" data-k="{k}" data-mean="{m:.6g}" data-sd="{sd:.6g}">'
                          f"<title>{_e(tip)}</title></circle>")
        parts.append(f'<g class="series" data-strategy="{_e(s.strategy)}"><polyline '
                     f'points="{coords}" fill="none" stroke="{c}" stroke-width="2"/>'
                     f'{"".join(dots)}</g>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
                 f'stroke="#57606a"/><line x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}" stroke="#57606a"/>')
    ly = top + plot_h + 50
    legend = [(COLOURS[i % len(COLOURS)], "", s.strategy) for i, s in enumerate(series)]
    legend.append(("#57606a", ' stroke-dasharray="6 3"', "base model, before adaptation"))
    for j, (c, dash, text) in enumerate(legend):
        yy = ly + 16 * j
        parts.append(f'<line x1="{left}" x2="{left + 24}" y1="{yy - 4}" y2="{yy - 4}" '
                     f'stroke="{c}" stroke-width="2"{dash}/><text x="{left + 30}" y="{yy}">'
                     f"{_e(text)}</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">'
            f"<title>{_e(label)}</title>{''.join(parts)}</svg>")


def _few_shot(runs: list[dict[str, Any]]) -> str:
    by_device: dict[str, list[Series]] = {}
    for run in runs:
        if run.get("workflow") != "few_shot":
            continue
        s = series_of(run)
        if s is not None:
            by_device.setdefault(str(run.get("device")), []).append(s)
    out = []
    for device, series in by_device.items():
        svg = accuracy_vs_k(f"Few-shot accuracy against k on {device}", series)
        ks = sorted({k for s in series for k, *_ in s.points})
        head = "".join(f"<th>k = {k}</th>" for k in ks)
        rows = []
        for s in series:
            cells = {k: f"{m:.3f} ± {sd:.3f}" for k, m, sd, _ in s.points}
            rows.append(f"<tr><td>{_e(s.strategy)}</td><td class=\"num\">{_pct(s.before)}</td>"
                        + "".join(f'<td class="num">{cells.get(k, DASH)}</td>' for k in ks)
                        + "</tr>")
        seeds = max((len(a) for s in series for *_, a in s.points), default=0)
        out.append(f'<section class="few-shot" data-device="{_e(device)}"><h3>{_e(device)}</h3>'
                   f'<figure class="plot-few-shot">{svg}<figcaption>Test accuracy on the target '
                   f"domain after training on k labelled target samples per class, from the base "
                   f"weights each time: mean over {seeds} seeds (large dot), ± one sample standard "
                   "deviation (bar), each seed (faint dot).</figcaption></figure>"
                   f"<table><tr><th>strategy</th><th>base</th>{head}</tr>{''.join(rows)}</table>"
                   "</section>")
    return "<h2>Few-shot adaptation</h2>" + "".join(out) if out else ""


def _rule(score: Any, threshold: Any) -> str:
    """The pseudo-label rule as the core applies it (margin: at least; the others: at most)."""
    if score == "none":
        return "every prediction"
    if score is None or threshold is None:
        return DASH
    return f"{_e(score)} {'≥' if score == 'margin' else '≤'} {_e(threshold)}"


def _label_free(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        if run.get("workflow") != "label_free":
            continue
        m, p = _d(run.get("metrics")), _d(run.get("params"))
        pl = _d(run.get("pseudo_labels"))
        used, streamed = _num(m.get("pseudo_labels_used")), _num(pl.get("streamed"))
        share = f"{used:.0f} / {streamed:.0f}" if used is not None and streamed else DASH
        rule = _rule(p.get("pseudo_score"), p.get("pseudo_threshold"))
        rows.append(
            f"<tr><td>{_e(run.get('device'))}</td><td>{_e(run.get('strategy'))}</td>"
            f"<td>{rule}</td><td class=\"num\">{share}</td>"
            f"<td class=\"num pseudo-precision\">{_pct(_num(m.get('pseudo_label_precision')))}</td>"
            f"<td class=\"num\">{_pct(_num(m.get('accuracy_before')))} → "
            f"{_pct(_num(m.get('accuracy')))}</td>"
            f"<td class=\"num\">{_pct(_num(m.get('accuracy_gain')), True)}</td>"
            f"<td class=\"num\">{_pct(_num(m.get('supervised_gain')), True)}</td>"
            f"<td class=\"num\">{_pct(_num(m.get('gain_recovered')))}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Label-free adaptation</h2><table class=\"label-free\"><tr><th>device</th>"
            "<th>strategy</th><th>pseudo-label rule</th><th>pseudo labels used / streamed</th>"
            "<th>pseudo-label precision</th><th>accuracy before → after</th><th>gain</th>"
            "<th>supervised gain</th><th>gain recovered</th></tr>" + "".join(rows) + "</table>"
            "<p class=\"muted\">Zero labels were given: the device trained on its own predictions "
            "where their confidence passed the rule; precision is graded on the host, which kept "
            "the true labels. The supervised gain is the same adaptation with the true labels.</p>")


def few_shot_sections(runs: list[dict[str, Any]]) -> str:
    """The few-shot and label-free sections of the report ("" when the run has neither)."""
    runs = [r for r in runs if isinstance(r, dict)]
    return _few_shot(runs) + _label_free(runs)
