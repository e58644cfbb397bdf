"""`hil history`: the series of the runs under a runs root, and the run summary's regression lines."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hil_service.history import DB_NAME, HistoryStore, Point, SeriesKey, direction, regression_line, sparkline

__all__ = ["add_parser", "cmd_history", "regression_summary"]

TREND_POINTS = 30  # the sparkline shows the newest points only


def regression_summary(data: dict[str, Any]) -> tuple[list[str], str]:
    """For `hil run`'s summary: one line per regression, and a tail for the totals line."""
    found = [r for r in data.get("regressions") or [] if isinstance(r, dict)]
    lines = [regression_line(r) for r in found]
    tail = f", {len(found)} regression{'s' if len(found) != 1 else ''}" if found else ""
    return lines, tail


def _when(started: str) -> str:
    try:
        t = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return started
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _v(value: float) -> str:
    # no scientific notation: µs and bytes are read by people
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _finished(points: list[Point]) -> list[Point]:
    return [p for p in points if p.status in ("passed", "failed")]


def _overview(series: dict[SeriesKey, list[Point]]) -> tuple[str, int]:
    rows = [("PLAN", "STRATEGY", "DEVICE", "METRIC", "RUNS", "LAST", "MEDIAN", "TREND", "")]
    flagged = 0
    for key, points in series.items():
        done = _finished(points)
        if not done:
            continue
        recent = done[-TREND_POINTS:]
        values = [p.value for p in recent]
        ordered = sorted(values)
        median = ordered[len(ordered) // 2] if len(ordered) % 2 else (
            ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
        last_flag = done[-1].regression
        flagged += last_flag
        rows.append((key.plan, key.strategy, key.device, key.metric, str(len(done)), _v(done[-1].value),
                     _v(median), sparkline(values, [p.regression for p in recent]),
                     "REGRESSION" if last_flag else ""))
    return _table(rows), flagged


def _detail(key: SeriesKey, points: list[Point]) -> tuple[str, int]:
    rows = [("RUN", "STARTED (UTC)", "STATUS", "VALUE", "")]
    for p in points:
        rows.append((p.run_dir, _when(p.started), p.status, _v(p.value), "REGRESSION" if p.regression else ""))
    done = _finished(points)[-TREND_POINTS:]
    better = direction(key.metric)
    head = (f"{key.plan} / {key.strategy} / {key.device} / {key.metric} "
            f"({f'{better} is better' if better else 'not judged'}): "
            f"{sparkline([p.value for p in done], [p.regression for p in done])}")
    last = _finished(points)
    return head + "\n" + _table(rows), int(bool(last) and last[-1].regression)


def cmd_history(args: argparse.Namespace) -> int:
    root: Path = args.runs_root
    if not args.reindex and not (root / DB_NAME).exists():
        print(f"no history under {root} yet (runs are indexed as they finish; "
              f"`hil history --reindex --runs-root {root}` indexes existing run directories)")
        return 0
    with HistoryStore(root) as store:
        if args.reindex:
            print(f"indexed {store.reindex()} runs into {store.path}")
        series = store.series(args.plan, args.strategy, args.device, args.metric)
    if args.metric is None:
        # by default only the metrics a regression is judged on (a direction is known)
        series = {k: v for k, v in series.items() if direction(k.metric) is not None}
    if not series:
        if not args.reindex:
            print("no series matches")
        return 0
    if len(series) == 1:
        text, flagged = _detail(*next(iter(series.items())))
    else:
        text, flagged = _overview(series)
    print(text)
    if flagged:
        print(f"{flagged} series with a regression in their newest run")
    return 1 if flagged else 0


def add_parser(sub: Any, default_root: Path) -> None:
    """`hil history` on the CLI's subparsers."""
    hs = sub.add_parser("history", help="series of a metric over the runs, with regressions flagged",
                        description="Print the history of each (plan, strategy, device, metric) series "
                                    "indexed under the runs root. Exit 1 when the newest run of a "
                                    "series shown was flagged as a regression.")
    hs.add_argument("--plan")
    hs.add_argument("--strategy", help="strategy run name")
    hs.add_argument("--device")
    hs.add_argument("--metric", help="default: every metric with a known direction")
    hs.add_argument("--runs-root", type=Path, default=default_root,
                    help=f"the directory holding the run directories and {DB_NAME} (default {default_root})")
    hs.add_argument("--reindex", action="store_true", help="rebuild the store from the run directories first")
    hs.set_defaults(func=cmd_history)
