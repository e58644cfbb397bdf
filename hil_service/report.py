"""One self-contained HTML page about one `hil run`, from its run.json.

The report is what people attach to a ticket or open from a CI artefact, often
offline and often months later, so it is a single static file: inline CSS,
plots drawn here as inline SVG (no matplotlib on a bench host, no JavaScript,
no fonts or scripts from the network). Tooltips use SVG <title>, which every
browser shows without scripts.

run.json is written as the run goes, so a run that crashed early has only part
of it (a device without "hello", a run with status "error" and no metrics, no
"base_model" at all). Every lookup here tolerates a missing or mistyped part
and shows "–" instead of failing: the report of a broken run is the one most
needed. Every string from the run goes through html.escape, since plan names,
error messages and device replies are not ours to trust.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil_service.report_access import DASH
from hil_service.report_access import as_dict as _d
from hil_service.report_access import as_list as _l
from hil_service.report_access import escape as _e
from hil_service.report_access import finite as _num
from hil_service.report_continual import continual_section
from hil_service.report_few_shot import few_shot_sections
from hil_service.report_lineage import lineage_section

__all__ = ["render_report", "write_report"]

STATUS_CLASSES = ("passed", "failed", "error", "running", "stopped", "abandoned")

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .7rem; font-weight: 600;
         color: #fff; font-size: 12.5px; }
.badge.passed { background: #1a7f37; } .badge.failed { background: #cf222e; }
.badge.error { background: #9a6700; } .badge.running, .badge.unknown { background: #6e7781; }
.badge.stopped, .badge.abandoned { background: #953800; }
svg { max-width: 100%; height: auto; } /* charts shrink to the page, keeping their shape */
tr.passed td.status { background: #dafbe1; } tr.failed td.status { background: #ffebe9; }
tr.error td.status { background: #fff8c5; }
ul.expect { list-style: none; margin: 0; padding: 0; }
li.pass { color: #1a7f37; } li.fail { color: #cf222e; }
li.pass::before { content: "✓ "; } li.fail::before { content: "✗ "; }
.muted { color: #656d76; }
.err { color: #cf222e; }
figure { margin: .5rem 0 1.5rem; }
figcaption { color: #656d76; font-size: 12.5px; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
svg .axis { stroke: #57606a; stroke-width: 1; }
svg .grid { stroke: #d8dee4; stroke-width: 1; }
svg .before { fill: #8c959f; } svg .after { fill: #0969da; } svg .macs { fill: #8250df; }
svg .hist { fill: #54aeff; stroke: #0969da; stroke-width: .5; }
svg .p95 { stroke: #cf222e; stroke-width: 1.5; stroke-dasharray: 4 3; }
svg text.p95 { fill: #cf222e; stroke: none; }
svg .flower { fill: #0969da; } svg .serial { fill: #bf8700; }
svg .fed { stroke: #0969da; stroke-width: 2; fill: none; } svg circle.fed { fill: #0969da; }
svg circle.fed.missed { fill: #cf222e; stroke: #cf222e; }
svg .centralised { stroke: #1a7f37; stroke-width: 1.5; stroke-dasharray: 6 3; }
svg .local-only { stroke-width: 1.2; stroke-dasharray: 2 3; }
svg .dev0 { stroke: #8250df; } svg .dev1 { stroke: #bf3989; } svg .dev2 { stroke: #9a6700; }
svg .dev3 { stroke: #57606a; } svg .dev4 { stroke: #cf222e; } svg .dev5 { stroke: #0a3069; }
"""


# -- formatting ----------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 4) -> str:
    """Numbers for people: integers as integers, others to `digits` significant figures."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 10 ** digits:  # .4g would print 1.235e+05 µs
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return DASH if value is None or value == "" else str(value)


def _time(value: Any) -> str:
    parsed = _parse_time(value)
    if parsed is None:
        return DASH if value in (None, "") else str(value)
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # run.json times are UTC; a naive one is read as UTC rather than as local time
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _duration(start: Any, end: Any) -> str:
    a, b = _parse_time(start), _parse_time(end)
    if a is None or b is None:
        return DASH
    seconds = (b - a).total_seconds()
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _status(value: Any) -> str:
    text = str(value) if value else "unknown"
    css = text if text in STATUS_CLASSES else "unknown"
    return f'<span class="badge {css}">{_e(text)}</span>'


def _short(sha: Any, n: int = 12) -> str:
    return f'<code title="{_e(sha)}">{_e(sha[:n])}</code>' if isinstance(sha, str) and sha else DASH


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    """Key/value rows; values are HTML already (callers escape)."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _percentile_higher(values: Sequence[float], q: float) -> float:
    """numpy's method="higher", which the runner uses, without importing numpy here."""
    ordered = sorted(values)
    return ordered[math.ceil((len(ordered) - 1) * q / 100)]


# -- SVG --------------------------------------------------------------------------------
def _nice_step(span: float, target_ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5:
        return f"{value:,.0f}"  # no scientific notation on a µs or bytes axis
    if abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.6g}"


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(label)}">'
            f"<title>{_e(label)}</title>{body}</svg>")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class _Group:
    device: str
    strategy: str
    values: tuple[float | None, ...]


def _grouped_bars(label: str, groups: Sequence[_Group], series: Sequence[tuple[str, str]],
                  y_max: float, y_title: str, value_fmt: str = "{:.3f}") -> str:
    """Vertical bars, one group per (device, strategy), one bar per series in the group.

    A missing value leaves a gap with "n/a" rather than a zero bar: zero is a
    measurement, not measuring is not.
    """
    bar_w, gap, label_max = 22, 18, 16
    longest = max((len(t) for g in groups for t in (g.device, g.strategy)), default=0)
    # wide enough that neighbouring labels (clipped to label_max chars) do not overlap
    group_w = max(bar_w * len(series) + gap, 6.5 * min(label_max, longest) + 14)
    legend_w = sum(20 + 7 * len(name) + 14 for name, _ in series)
    left, right, top, plot_h, bottom = 56, 16, 30, 180, 48
    width = left + right + max(max(1, len(groups)) * group_w, legend_w)
    height = top + plot_h + bottom
    step = _nice_step(y_max)
    y_top = max(step, math.ceil(y_max / step - 1e-9) * step)

    def y(v: float) -> float:
        return top + plot_h - plot_h * max(0.0, min(v, y_top)) / y_top

    parts: list[str] = []
    tick = 0.0
    while tick <= y_top + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{_tick_label(tick)}</text>')
        tick += step
    parts.append(f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{_e(y_title)}</text>')
    # legend
    lx = left
    for name, css in series:
        parts.append(f'<rect class="{css}" x="{lx}" y="8" width="12" height="12"/>'
                     f'<text x="{lx + 16}" y="18">{_e(name)}</text>')
        lx += 20 + 7 * len(name) + 14
    for i, g in enumerate(groups):
        gx = left + i * group_w + (group_w - bar_w * len(series)) / 2
        full = f"{g.device} / {g.strategy}"
        bars: list[str] = [f"<title>{_e(full)}</title>"]
        for j, ((name, css), value) in enumerate(zip(series, g.values, strict=False)):
            bx = gx + j * bar_w
            if value is None:
                bars.append(f'<text x="{bx + bar_w / 2:.1f}" y="{top + plot_h - 4}" '
                            f'text-anchor="middle" class="muted">n/a</text>')
                continue
            top_y = y(value)
            bars.append(
                f'<rect class="bar {css}" x="{bx + 1:.1f}" y="{top_y:.1f}" width="{bar_w - 2}" '
                f'height="{top + plot_h - top_y:.1f}"><title>{_e(full)}: {_e(name)} '
                f'{_e(value_fmt.format(value))}</title></rect>')
        cx = gx + bar_w * len(series) / 2
        bars.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                    f'{_e(_clip(g.device, label_max))}</text>'
                    f'<text x="{cx:.1f}" y="{top + plot_h + 30}" text-anchor="middle" '
                    f'class="muted">{_e(_clip(g.strategy, label_max))}</text>')
        parts.append(f'<g class="group" data-device="{_e(g.device)}" '
                     f'data-strategy="{_e(g.strategy)}">{"".join(bars)}</g>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/>')
    return _svg(width, height, label, "".join(parts))


def _histogram(label: str, values: Sequence[float], unit: str, p95: float | None,
               p95_label: str) -> str:
    """Histogram of step latencies with the p95 as a dashed line."""
    left, right, top, plot_h, bottom, plot_w = 56, 20, 24, 140, 40, 520
    width, height = left + plot_w + right, top + plot_h + bottom
    lo, hi = min(values), max(values)
    if hi == lo:  # one value (or all equal): one bar a unit wide around it
        lo, hi = lo - 0.5, hi + 0.5
    n_bins = max(1, min(40, len(set(values))))
    bin_w = (hi - lo) / n_bins
    counts = [0] * n_bins
    for v in values:
        counts[min(n_bins - 1, int((v - lo) / bin_w))] += 1
    c_max = max(counts)
    c_step = max(1.0, _nice_step(c_max))
    c_top = max(c_step, math.ceil(c_max / c_step) * c_step)

    def x(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    def y(c: float) -> float:
        return top + plot_h - plot_h * c / c_top

    parts: list[str] = []
    tick = 0.0
    while tick <= c_top + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{tick:.0f}</text>')
        tick += c_step
    for i, c in enumerate(counts):
        if not c:
            continue
        b0, b1 = lo + i * bin_w, lo + (i + 1) * bin_w
        parts.append(f'<rect class="hist" x="{x(b0):.1f}" y="{y(c):.1f}" '
                     f'width="{max(0.5, x(b1) - x(b0)):.1f}" height="{top + plot_h - y(c):.1f}">'
                     f'<title>{_tick_label(b0)}–{_tick_label(b1)} {_e(unit)}: {c} steps</title>'
                     "</rect>")
    x_step = _nice_step(hi - lo)
    tick = math.ceil(lo / x_step) * x_step
    while tick <= hi + 1e-9:
        parts.append(f'<line class="axis" x1="{x(tick):.1f}" x2="{x(tick):.1f}" '
                     f'y1="{top + plot_h}" y2="{top + plot_h + 4}"/><text x="{x(tick):.1f}" '
                     f'y="{top + plot_h + 16}" text-anchor="middle">{_tick_label(tick)}</text>')
        tick += x_step
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
                 f'step time ({_e(unit)})</text>'
                 f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">steps</text>')
    if p95 is not None:
        px = x(max(lo, min(hi, p95)))
        anchor = "end" if px > left + plot_w * 0.75 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(f'<line class="p95" x1="{px:.1f}" x2="{px:.1f}" y1="{top - 6}" '
                     f'y2="{top + plot_h}"/><text class="p95" x="{px + dx:.1f}" y="{top - 10}" '
                     f'text-anchor="{anchor}">{_e(p95_label)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/>')
    return _svg(width, height, label, "".join(parts))


@dataclass(frozen=True)
class _Ref:
    """A horizontal reference line (a baseline) with its legend entry."""

    name: str
    css: str
    value: float
    device: str | None = None


def _rounds_plot(label: str, points: Sequence[tuple[int, float, str]], refs: Sequence[_Ref],
                 y_title: str) -> str:
    """A value per round as a line (points carry a tooltip; "missed" ones are red), with
    reference lines across the whole plot; the legend below names every line and its value."""
    left, right, top, plot_h, plot_w = 56, 20, 16, 200, 520
    rows = 1 + len(refs)
    width = left + plot_w + right
    height = top + plot_h + 36 + 16 * rows
    values = [v for _, v, _ in points] + [r.value for r in refs]
    step = _nice_step(max(values) - min(values) or 0.1)
    lo = max(0.0, math.floor(min(values) / step - 1e-9) * step)
    hi = math.ceil(max(values) / step - 1e-9) * step
    hi = max(lo + step, min(1.0, hi) if max(values) <= 1 else hi)
    last = max((r for r, _, _ in points), default=1) or 1

    def x(r: float) -> float:
        return left + plot_w * r / last

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v - lo) / (hi - lo)

    parts: list[str] = []
    tick = lo
    while tick <= hi + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{_tick_label(round(tick, 9))}</text>')
        tick += step
    r_step = max(1, math.ceil(last / 10))
    for r in range(0, last + 1, r_step):
        parts.append(f'<text x="{x(r):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{r}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 28}" text-anchor="middle">'
                 f'round (0: the base model)</text><text x="14" y="{top + plot_h / 2:.0f}" '
                 f'text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.0f})">'
                 f'{_e(y_title)}</text>')
    for ref in refs:
        dev = f' data-device="{_e(ref.device)}"' if ref.device is not None else ""
        parts.append(f'<line class="baseline {ref.css}"{dev} data-value="{ref.value:.6g}" '
                     f'x1="{left}" x2="{left + plot_w}" y1="{y(ref.value):.1f}" '
                     f'y2="{y(ref.value):.1f}"><title>{_e(ref.name)} {ref.value:.3f}</title></line>')
    coords = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v, _ in points)
    dots = "".join(f'<circle class="fed{" missed" if "missed" in tip else ""}" cx="{x(r):.1f}" '
                   f'cy="{y(v):.1f}" r="3" data-round="{r}" data-value="{v:.6g}">'
                   f"<title>{_e(tip)}</title></circle>" for r, v, tip in points)
    parts.append(f'<g class="series" data-series="federated"><polyline class="fed" '
                 f'points="{coords}"/>{dots}</g>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/>')
    ly = top + plot_h + 44
    final = points[-1][1] if points else None
    after = "" if final is None else f" {final:.3f} after round {last}"
    legend = [("fed", f"federated (global model, global test split){after}")]
    legend += [(f"baseline {r.css}", f"{r.name} {r.value:.3f}") for r in refs]
    for i, (css, text) in enumerate(legend):
        yy = ly + 16 * i
        parts.append(f'<line class="{css}" x1="{left}" x2="{left + 24}" y1="{yy - 4}" y2="{yy - 4}"/>'
                     f'<text class="legend" x="{left + 30}" y="{yy}">{_e(text)}</text>')
    return _svg(width, height, label, "".join(parts))


def _federated(runs: list[dict[str, Any]]) -> str:
    """Per federated run: global accuracy per round against both baselines, bytes per round."""
    out = []
    for run in runs:
        rounds = [_d(r) for r in _l(run.get("federation_rounds"))]
        rounds = [r for r in rounds if isinstance(r.get("round"), int)]
        if not rounds:
            continue
        name = f"{run.get('device')} / {run.get('strategy')}"
        per_round = _l(run.get("accuracy_per_round"))
        start = _num(per_round[0]) if per_round else None
        points: list[tuple[int, float, str]] = [] if start is None else [
            (0, start, f"base model: {start:.3f}")]
        for r in rounds:
            acc = _num(r.get("accuracy"))
            if acc is None:
                continue
            missed = sorted(_d(r.get("missed")))
            tip = f"round {r['round']}: {acc:.3f}"
            points.append((r["round"], acc, tip + (f", missed: {', '.join(missed)}" if missed else "")))
        refs: list[_Ref] = []
        central = _num(_d(run.get("metrics")).get("centralised_accuracy"))
        if central is not None:
            refs.append(_Ref("centralised (twin, all partitions, global test split)", "centralised",
                             central))
        results = _d(run.get("device_results"))
        for i, dev in enumerate(_l(run.get("devices")) or list(results)):
            local = _num(_d(_d(results.get(dev)).get("metrics")).get("local_only_accuracy"))
            if local is not None:
                refs.append(_Ref(f"local-only {dev} (twin, its partition, its test split)",
                                 f"local-only dev{i % 6}", local, str(dev)))
        parts = [f'<h3>{_e(name)}</h3>']
        if points:
            svg = _rounds_plot(f"Global accuracy per round of {name}", points, refs, "accuracy")
            parts.append(f'<figure class="plot-federated-accuracy">{svg}<figcaption>The global '
                         "model on the host twin after each round, against centralised training "
                         "and each device's local-only training for the same epochs (means over "
                         "3 sample orders); red points: a device missed that round."
                         "</figcaption></figure>")
        groups = []
        for r in rounds:
            flower = [_num(r.get("flower_bytes_down")), _num(r.get("flower_bytes_up"))]
            serial = [_num(_d(m).get(k)) for m in _d(r.get("devices")).values()
                      for k in ("serial-bytes-down", "serial-bytes-up")]
            n = len(_d(r.get("devices")))
            groups.append(_Group(f"round {r['round']}", f"{n} device{'s' if n != 1 else ''}",
                                 (None if None in flower else sum(v for v in flower if v is not None),
                                  sum(v for v in serial if v is not None) if serial else None)))
        top = max((v for g in groups for v in g.values if v is not None), default=1.0)
        svg = _grouped_bars(f"Bytes per round of {name}", groups,
                            [("Flower (down + up)", "flower"), ("serial links", "serial")],
                            max(1.0, top), "bytes", "{:,.0f}")
        parts.append(f'<figure class="plot-federated-bytes">{svg}<figcaption>Parameter bytes over '
                     "Flower per round (down and up, all devices) and bytes on the devices' serial "
                     "links (weights and samples, the devices that completed the round)."
                     "</figcaption></figure>")
        out.append(f'<section class="federated" data-run="{_e(name)}">{"".join(parts)}</section>')
    return "<h2>Federated learning</h2>" + "".join(out) if out else ""


# -- sections ---------------------------------------------------------------------------
def _header(data: dict[str, Any]) -> str:
    plan = _d(data.get("plan"))
    base = _d(data.get("base_model"))
    host = _d(data.get("host"))
    name = plan.get("name") or "(unnamed plan)"
    arch = _l(base.get("arch"))
    base_text = DASH
    if base:
        bits = [_short(base.get("key"), 24)]
        if arch:
            bits.append("arch " + _e("-".join(str(a) for a in arch)))
        if _num(base.get("host_accuracy")) is not None:
            bits.append(f"host accuracy {base['host_accuracy']:.3f}")
        if base.get("epochs") is not None:
            bits.append(f"{_e(base.get('epochs'))} epochs")
        if "cached" in base:
            bits.append("cached" if base.get("cached") else "trained for this run")
        bits.append(f"sha256 {_short(base.get('sha256'))}")
        base_text = ", ".join(bits)
    host_text = ", ".join(f"{_e(k)} {_e(v)}" for k, v in host.items()) or DASH
    content = _d(plan.get("content"))
    rows = [
        ("Status", _status(_effective_status(data))),
        ("Started", _e(_time(data.get("started")))),
        ("Finished", _e(_time(data.get("finished")))),
        ("Duration", _e(_duration(data.get("started"), data.get("finished")))),
        ("Plan file", f"<code>{_e(plan.get('path'))}</code> sha256 {_short(plan.get('sha256'))}"),
    ]
    if content.get("description"):
        rows.append(("Description", _e(str(content["description"]).strip())))
    if content.get("dataset"):
        rows.append(("Dataset", _e(content["dataset"])))
    rows += [
        ("Devices selected", _e(", ".join(str(d) for d in _l(data.get("devices_selected"))))),
        ("Base model", base_text),
        ("Host", host_text),
    ]
    return f"<h1>HIL report: {_e(name)}</h1>" + _kv_table(rows)


def _effective_status(data: dict[str, Any]) -> Any:
    """run.json's status, "abandoned" for a run whose writer died (results.effective_status)."""
    from hil_service.results import effective_status

    return effective_status(data) if data.get("status") else None


def ordered_runs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The strategy runs grouped by strategy (plan order), then device (selection order)."""
    runs = [r for r in _l(data.get("runs")) if isinstance(r, dict)]
    planned = [_d(s).get("name") for s in _l(_d(_d(data.get("plan")).get("content")).get("strategies"))]
    strategies = [s for s in planned if isinstance(s, str)]
    strategies += [str(r.get("strategy")) for r in runs if str(r.get("strategy")) not in strategies]
    devices = _device_ids(data)

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int]:
        i, run = item
        strategy, device = str(run.get("strategy")), run.get("device")
        return (strategies.index(strategy) if strategy in strategies else len(strategies),
                devices.index(device) if device in devices else len(devices), i)

    return [r for _, r in sorted(enumerate(runs), key=key)]


def _device_ids(data: dict[str, Any]) -> list[str]:
    """Devices in a stable order: selected ones first, then any seen only in devices or runs."""
    seen: list[str] = []
    runs = [r for r in _l(data.get("runs")) if isinstance(r, dict)]
    # a group run stands for its members (its "device" is the label a+b)
    from_runs = [d for r in runs for d in (_l(r.get("devices")) or [r.get("device")])]
    for source in (_l(data.get("devices_selected")), list(_d(data.get("devices"))), from_runs):
        for d in source:
            if isinstance(d, str) and d not in seen:
                seen.append(d)
    return seen


def _cycles_hz(data: dict[str, Any], device: str,
               run: dict[str, Any] | None = None) -> float | None:
    hz = _num(_d(_d(_d(data.get("devices")).get(device)).get("hello")).get("cycles_hz"))
    if not hz and run is not None:
        # the METRICS reply carries the same frequency; used when HELLO was not recorded
        hz = _num(_d(run.get("device_metrics")).get("cycles_hz"))
    return hz if hz and hz > 0 else None


def _devices(data: dict[str, Any]) -> str:
    devices = _d(data.get("devices"))
    ids = _device_ids(data)
    if not ids:
        return '<h2>Devices</h2><p class="muted">No device was recorded.</p>'
    out = ["<h2>Devices</h2>"]
    for device in ids:
        info = _d(devices.get(device))
        entry, image = _d(info.get("entry")), _d(info.get("image"))
        hello, latency = _d(info.get("hello")), _d(info.get("latency"))
        fw = hello.get("fw_version") or image.get("fw_version")
        git = hello.get("git_hash") or image.get("build_id")
        firmware = f"{_e(fw)} git <code>{_e(git)}</code>" if fw or git else DASH
        if (hello.get("git_hash") and image.get("build_id")
                and hello["git_hash"] != image["build_id"]):
            firmware += f' <span class="err">(image says {_e(image["build_id"])})</span>'
        hz = _cycles_hz(data, device)
        clock = DASH
        if latency:
            clock = f"<code>{_e(latency.get('source'))}</code>"
            if latency.get("note"):
                clock += f" – {_e(latency['note'])}"
        image_text = DASH
        if image:
            name = os.path.basename(str(image.get("path") or "")) or None
            image_text = f"<code>{_e(name)}</code> sha256 {_short(image.get('sha256'))}"
            if image.get("machine"):
                image_text += f", {_e(image['machine'])}"
        rows = [
            ("Backend", _e(entry.get("backend"))),
            ("Board", _e(entry.get("board") or hello.get("board"))),
            ("Firmware", firmware),
            ("Image", image_text),
            ("Flash", _e(_fmt(image.get("flash_bytes"))) + (" bytes" if image.get("flash_bytes")
                                                             is not None else "")),
            ("RAM", _e(_fmt(image.get("ram_bytes"))) + (" bytes" if image.get("ram_bytes")
                                                         is not None else "")),
            ("Counter clock", f"{_fmt(hz / 1e6, 6)} MHz" if hz else DASH),
            ("Latency source", clock),
        ]
        if info.get("serial_url"):
            rows.append(("Serial", f"<code>{_e(info['serial_url'])}</code>"))
        out.append(f"<h3>{_e(device)}</h3>" + _kv_table(rows))
    return "".join(out)


def _expectations(run: dict[str, Any]) -> str:
    items = []
    for v in _l(run.get("expectations")):
        v = _d(v)
        css = "pass" if v.get("passed") else "fail"
        member = f"[{v['device']}]" if isinstance(v.get("device"), str) else ""
        items.append(f'<li class="{css}" title="{_e(v.get("reason"))}">'
                     f'<code>{_e(v.get("metric"))}{_e(member) if member else ""}</code> '
                     f'{_e(v.get("expected"))}: '
                     f'<b>{_e(_fmt(v.get("actual")))}</b></li>')
    return f'<ul class="expect">{"".join(items)}</ul>' if items else DASH


def _results(data: dict[str, Any]) -> str:
    runs = ordered_runs(data)
    if not runs:
        return '<h2>Results</h2><p class="muted">No strategy run was recorded.</p>'
    head = ("<tr><th>Strategy</th><th>Device</th><th>Status</th><th>Accuracy before → after</th>"
            "<th>Gain</th><th>Step p95 (µs)</th><th>Labels used</th><th>Expectations</th>"
            "<th>Time</th></tr>")
    rows = []
    for run in runs:
        m = _d(run.get("metrics"))
        status = str(run.get("status") or "unknown")
        kind = run.get("strategy_kind")
        strategy = _e(run.get("strategy"))
        if kind and kind != run.get("strategy"):
            strategy += f' <span class="muted">({_e(kind)})</span>'
        before, after = _num(m.get("accuracy_before")), _num(m.get("accuracy"))
        gain = _num(m.get("accuracy_gain"))
        if gain is None and before is not None and after is not None:
            gain = after - before
        p95 = _num(m.get("train_step_us_p95"))
        p95_text = _fmt(p95, 4) if p95 is not None else DASH
        if p95 is None and _num(m.get("train_step_cycles_p95")) is not None:
            p95_text = f"{_fmt(m['train_step_cycles_p95'])} cycles"
        acc = (f"{f'{before:.3f}' if before is not None else DASH} → "
               f"{f'{after:.3f}' if after is not None else DASH}")
        expectations = _expectations(run)
        if run.get("error"):
            expectations += f'<div class="err">{_e(run["error"])}</div>'
        rows.append(
            f'<tr class="{_e(status if status in STATUS_CLASSES else "unknown")}">'
            f"<td>{strategy}</td><td>{_e(run.get('device'))}</td>"
            f'<td class="status">{_status(status)}</td><td class="num">{_e(acc)}</td>'
            f'<td class="num">{_e(f"{gain:+.3f}" if gain is not None else DASH)}</td>'
            f'<td class="num">{_e(p95_text)}</td>'
            f'<td class="num">{_e(_fmt(m.get("labels_used")))}</td>'
            f"<td>{expectations}</td>"
            f'<td class="num">{_e(_duration(run.get("started"), run.get("finished")))}</td></tr>')
    return f"<h2>Results</h2><table>{head}{''.join(rows)}</table>" + _group_runs(runs)


def _group_runs(runs: list[dict[str, Any]]) -> str:
    """Each group run's members side by side: one row per device, its own metrics."""
    out = []
    for run in runs:
        results = _d(run.get("device_results"))
        members = [str(d) for d in _l(run.get("devices"))] or list(results)
        if len(members) < 2 and not results:
            continue
        names = sorted({k for d in members for k in _d(_d(results.get(d)).get("metrics"))})
        head = "<tr><th>Device</th>" + "".join(f"<th><code>{_e(n)}</code></th>" for n in names) + "</tr>"
        rows = "".join(
            f"<tr><td>{_e(d)}</td>"
            + "".join(f'<td class="num">{_e(_fmt(_d(_d(results.get(d)).get("metrics")).get(n)))}</td>'
                      for n in names) + "</tr>" for d in members)
        out.append(f"<h3>Group run {_e(run.get('device'))} / {_e(run.get('strategy'))}</h3>"
                   f'<table class="group">{head}{rows}</table>')
    return "".join(out)


def _errors(data: dict[str, Any]) -> str:
    errors = [_d(e) for e in _l(data.get("errors"))]
    run_errors = [r for r in _l(data.get("runs"))
                  if isinstance(r, dict) and r.get("status") == "error" and r.get("error")]
    if not errors and not run_errors:
        return ""
    items = [f"<li><b>{_e(e.get('where'))}</b> <span class=\"muted\">{_e(_time(e.get('time')))}"
             f"</span>: <span class=\"err\">{_e(e.get('message'))}</span></li>" for e in errors]
    items += [f"<li><b>{_e(r.get('device'))} / {_e(r.get('strategy'))}</b>: "
              f"<span class=\"err\">{_e(r.get('error'))}</span></li>" for r in run_errors]
    return f"<h2>Errors</h2><ul>{''.join(items)}</ul>"


def _accuracy_plot(runs: list[dict[str, Any]]) -> str:
    groups = [_Group(str(r.get("device")), str(r.get("strategy")),
                     (_num(_d(r.get("metrics")).get("accuracy_before")),
                      _num(_d(r.get("metrics")).get("accuracy"))))
              for r in runs]
    svg = _grouped_bars("Accuracy before and after streaming per device and strategy", groups,
                        [("before", "before"), ("after", "after")], 1.0, "accuracy")
    return (f'<figure id="plot-accuracy">{svg}<figcaption>Test-split accuracy with the base '
            f"weights (before) and after on-device training (after).</figcaption></figure>")


def _macs_plot(runs: list[dict[str, Any]]) -> str:
    values = [(r, _num(_d(r.get("metrics")).get("backward_macs_ratio"))) for r in runs]
    shown = [(r, v) for r, v in values if v is not None]
    if not shown:
        return ""
    groups = [_Group(str(r.get("device")), str(r.get("strategy")), (v,)) for r, v in shown]
    svg = _grouped_bars("Backward MACs relative to full backpropagation", groups,
                        [("backward MACs ratio", "macs")], max(1.0, max(v for _, v in shown)),
                        "ratio")
    return (f'<figure id="plot-macs">{svg}<figcaption>Backward multiply-accumulates spent over '
            f"what full backpropagation would spend (1 = full).</figcaption></figure>")


def _step_plots(data: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    out = []
    for run in runs:
        cycles = [float(c) for c in _l(run.get("step_cycles")) if _num(c) is not None]
        if not cycles:
            continue
        device, strategy = str(run.get("device")), str(run.get("strategy"))
        m = _d(run.get("metrics"))
        hz = _cycles_hz(data, device, run)
        if hz:
            values, unit = [c / hz * 1e6 for c in cycles], "µs"
            recorded = _num(m.get("train_step_us_p95"))
        else:
            values, unit = cycles, "cycles"
            recorded = _num(m.get("train_step_cycles_p95"))
        # the recorded p95 covers trained steps only; step_cycles also holds the
        # forward-only steps of skipped samples, so prefer the recorded figure
        if recorded is not None:
            p95, which = recorded, "p95 of trained steps"
        else:
            p95, which = _percentile_higher(values, 95), "p95 of all steps"
        label = f"{which} {_fmt(p95, 4)} {unit}"
        svg = _histogram(f"Step time of {device} / {strategy}", values, unit, p95, label)
        clock = "" if hz else " (counter frequency unknown, so in counter cycles)"
        out.append(f'<figure class="plot-steps" data-device="{_e(device)}" '
                   f'data-strategy="{_e(strategy)}"><h3>{_e(device)} / {_e(strategy)}</h3>{svg}'
                   f"<figcaption>{len(values):,} streamed steps{html.escape(clock)}; dashed line: "
                   f"{_e(label)}.</figcaption></figure>")
    if not out:
        return ""
    return "<h2>Step time</h2>" + "".join(out)


def render_report(data: dict[str, Any], history: Any = None) -> str:
    """The whole report as one HTML document (a str); history: report_trends.load_history()."""
    from hil_service import report_trends as trends

    data = _d(data)
    plan = _d(data.get("plan"))
    runs = ordered_runs(data)
    plots = ""
    if runs:
        plots = ("<h2>Accuracy</h2>" + _accuracy_plot(runs) + _macs_plot(runs))
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>HIL report: {_e(plan.get('name') or '(unnamed plan)')}</title>"
        f"<style>{_CSS}{trends.TRENDS_CSS}</style></head><body>"
        + _header(data) + _results(data) + trends.regressions_section(data) + _errors(data)
        + trends.history_section(data, history) + plots + trends.training_curves_section(data)
        + _federated(runs)
        + continual_section(runs)
        + few_shot_sections(runs)
        + lineage_section(data)
        + trends.step_comparison_section(data) + _step_plots(data, runs)
        + _devices(data)
        + f'<p class="muted">Generated {_e(generated)} from run.json '
          f"(schema {_e(data.get('schema'))}).</p>"
        + "</body></html>\n")


def write_report(data: dict[str, Any], path: Path) -> Path:
    """Write render_report(data) to path (via a temporary file, so a reader never sees half)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    from hil_service.report_trends import load_history

    tmp.write_text(render_report(data, load_history(path.parent, data)), encoding="utf-8")
    os.replace(tmp, path)
    return path
