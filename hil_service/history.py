"""The history of all runs under a runs root, and the regression check against it.

Every finished `hil run` is indexed into `<runs root>/history.sqlite` (the runs
root is the run directory's parent). A *series* is one metric of one strategy
run on one device of one plan: (plan, strategy, device, metric). Its points are
the values of the runs in time order; `hil history` prints them and
`hil history --reindex` rebuilds the store from the run directories, which stay
the source of truth (run.json).

The regression rule (README "History and regressions"): a value is a regression
when it lies on the worse side of

    median(baseline) -/+ max(k * 1.4826 * MAD(baseline), floor)

where the baseline is the series' last `window` earlier points of runs that
finished (passed or failed; broken runs do not count), MAD is the median
absolute deviation (1.4826 * MAD estimates the standard deviation of normal
noise and, unlike it, ignores a bad night or two), and `floor` keeps a
deterministic series (QEMU -icount cycles, static RAM: MAD 0) from flagging
changes of a few counts: max(rel_floor * |median|, abs_floor), abs_floor being
0.01 for shares (accuracy). The worse side comes from the metric's catalogue
entry (`MetricInfo.better`), else from its unit (times, cycles, instructions,
bytes and nats: lower is better); a metric with neither is indexed but never
flagged. Fewer than `min_runs` earlier points: no verdict. Device timings
(µs, cycles, instructions) of a device whose latency source is the host's clock
(the native build) are not judged: on a shared host they measure its load.

SQLite is used the way several writers need (two nightlies finishing at once,
a reindex while a run ends): WAL journal, a busy timeout, and every write in
one BEGIN IMMEDIATE transaction. The schema carries its version in
PRAGMA user_version and is brought forward by MIGRATIONS, in order, inside a
write transaction (so two processes opening a new store migrate it once).
"""

from __future__ import annotations

import math
import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from hil_service.errors import HilError

__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "HistoryError", "HistoryStore", "Point", "Regression",
           "Rule", "SeriesKey", "add_junit_regressions", "direction", "finish_with_history", "judge",
           "regression_line", "run_regressions", "sparkline"]

DB_NAME = "history.sqlite"
FINISHED = ("passed", "failed")  # strategy-run statuses whose metrics form a baseline
FINISH_TIMEOUT = 5.0  # seconds a finishing run waits for a store another writer holds

#: MIGRATIONS[i] brings a store from user_version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: runs and their metric values
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_dir TEXT NOT NULL UNIQUE,      -- relative to the runs root
        plan TEXT NOT NULL,
        plan_sha256 TEXT,
        started TEXT NOT NULL,             -- ISO 8601 UTC, as in run.json
        finished TEXT,
        status TEXT NOT NULL               -- results.effective_status()
    );
    CREATE TABLE points (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        plan TEXT NOT NULL, strategy TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,
        started TEXT NOT NULL,
        status TEXT NOT NULL,              -- the strategy run's status
        value REAL NOT NULL,
        PRIMARY KEY (run_id, strategy, device, metric)
    );
    CREATE INDEX points_series ON points (plan, strategy, device, metric, started);
    """,
    # 2: the regressions each run was flagged with (as run.json "regressions" says)
    """
    CREATE TABLE regressions (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        strategy TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,
        value REAL NOT NULL, median REAL NOT NULL, mad REAL NOT NULL, threshold REAL NOT NULL,
        direction TEXT NOT NULL, runs INTEGER NOT NULL,
        PRIMARY KEY (run_id, strategy, device, metric)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# cost units: a larger value is worse whatever the metric's name (host seconds are not
# among them: they measure the host's load as much as the device)
_LOWER_IS_BETTER_UNITS = frozenset({"µs", "us", "cycles", "instructions", "bytes", "nats"})
# device timings; taken with the host's clock (the native build) they are not judged
_TIMING_UNITS = frozenset({"µs", "us", "cycles", "instructions"})


class HistoryError(HilError):
    """The history store cannot be opened, migrated or written; names the file."""


@dataclass(frozen=True)
class Rule:
    """The regression rule's knobs (module docstring); defaults are the documented ones."""

    window: int = 10  # earlier points in the baseline
    min_runs: int = 3  # fewer earlier points: no verdict
    k: float = 3.0  # tolerance in robust standard deviations
    rel_floor: float = 0.02  # tolerance at least this share of |median| ...
    ratio_floor: float = 0.01  # ... and at least this for shares (accuracy: one point in 100)


@dataclass(frozen=True)
class Regression:
    """One flagged value; to_json() is run.json's "regressions" entry (CONTRACT.md)."""

    strategy: str
    device: str
    metric: str
    value: float
    median: float
    mad: float
    threshold: float
    direction: str  # the way the value moved past the threshold: "lower" | "higher"
    runs: int  # earlier points in the baseline

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeriesKey:
    plan: str
    strategy: str
    device: str
    metric: str


@dataclass(frozen=True)
class Point:
    run_dir: str
    started: str
    status: str
    value: float
    regression: bool


def direction(metric: str, catalogue: Mapping[str, Any] | None = None) -> str | None:
    """Which way is better for metric: "higher", "lower", or None (not checked)."""
    if catalogue is None:
        from hil_service.expectations import catalogue as load

        catalogue = load()
    info = catalogue.get(metric)
    if info is None:
        return None
    better = getattr(info, "better", None)
    if better in ("higher", "lower"):
        return str(better)
    return "lower" if getattr(info, "unit", None) in _LOWER_IS_BETTER_UNITS else None


def judge(baseline: Sequence[float], value: float, better: str, *, ratio: bool = False,
          rule: Rule = Rule()) -> tuple[float, float, float] | None:
    """(median, MAD, threshold) when value is a regression against baseline, else None.

    baseline is the series' earlier values, oldest first; only the last
    rule.window count, and fewer than rule.min_runs give no verdict.
    """
    recent = [float(v) for v in baseline[-rule.window:] if math.isfinite(v)]
    if len(recent) < rule.min_runs or not math.isfinite(value):
        return None
    median = statistics.median(recent)
    mad = statistics.median(abs(v - median) for v in recent)
    floor = max(rule.rel_floor * abs(median), rule.ratio_floor if ratio else 0.0)
    tolerance = max(rule.k * 1.4826 * mad, floor)
    if better == "higher":
        threshold = median - tolerance
        return (median, mad, threshold) if value < threshold else None
    threshold = median + tolerance
    return (median, mad, threshold) if value > threshold else None


def sparkline(values: Sequence[float], marks: Sequence[bool] | None = None) -> str:
    """Values as block characters scaled between their min and max; a marked point is "!"."""
    if not values:
        return ""
    blocks = "▁▂▃▄▅▆▇█"
    lo, hi = min(values), max(values)
    out = []
    for i, v in enumerate(values):
        if marks is not None and marks[i]:
            out.append("!")
        elif hi == lo:
            out.append(blocks[3])
        else:
            out.append(blocks[min(7, int((v - lo) / (hi - lo) * 8))])
    return "".join(out)


def regression_line(r: Mapping[str, Any]) -> str:
    """How the summary line and `hil history` name one regression."""
    sign = "<" if r.get("direction") == "lower" else ">"
    return (f"REGRESSION {r.get('device')} {r.get('strategy')}: {r.get('metric')} {_g(r.get('value'))} "
            f"{sign} {_g(r.get('threshold'))} (median {_g(r.get('median'))} of {r.get('runs')} earlier "
            f"runs, MAD {_g(r.get('mad'))})")


def _g(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _rows(data: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, float]]:
    """(strategy, device, run status, metric, value) of every numeric metric in a run.json;
    a group run's members' own metrics under their device ids."""
    for run in data.get("runs") or []:
        if not isinstance(run, dict):
            continue
        strategy, device, status = str(run.get("strategy")), str(run.get("device")), str(run.get("status"))
        for metric, value in (run.get("metrics") or {}).items():
            v = _finite(value)
            if v is not None:
                yield strategy, device, status, str(metric), v
        for member, result in (run.get("device_results") or {}).items():
            for metric, value in ((result or {}).get("metrics") or {}).items():
                v = _finite(value)
                if v is not None:
                    yield strategy, str(member), status, str(metric), v


class HistoryStore:
    """history.sqlite under a runs root; one connection, closed by close() or `with`."""

    def __init__(self, root: Path, *, timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # autocommit: every write below opens its own BEGIN IMMEDIATE
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{self.path}: cannot open the history store: {exc}") from exc
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._wal(timeout)
            self.migrate()
        except sqlite3.Error as exc:
            self.db.close()
            raise HistoryError(f"{self.path}: {exc}") from exc

    def _wal(self, timeout: float) -> None:
        # switching to WAL needs a moment alone with the file; another opener may hold it
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply the migrations up to target, each with its version bump, in one transaction."""
        found = self.version()
        if found > SCHEMA_VERSION:
            raise HistoryError(f"{self.path}: schema version {found} is newer than this hil "
                               f"knows ({SCHEMA_VERSION}); upgrade hil")
        if found >= target:
            return
        with self._write() as db:
            current = self.version()  # again, under the write lock: another process may have migrated
            for version in range(current, target):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    # -- writing ----------------------------------------------------------------------------
    def _key(self, run_dir: Path) -> str:
        try:
            return os.path.relpath(Path(run_dir).resolve(), self.root.resolve())
        except ValueError:  # another drive: keep it absolute
            return str(Path(run_dir).resolve())

    def index_run(self, run_dir: Path, data: Mapping[str, Any]) -> None:
        """(Re)index one run directory's run.json: replaces what the store had for it."""
        with self._write() as db:
            self._index(db, run_dir, data)

    def _index(self, db: sqlite3.Connection, run_dir: Path, data: Mapping[str, Any]) -> None:
        from hil_service.results import effective_status

        key = self._key(run_dir)
        plan = data.get("plan") or {}
        name, started = str(plan.get("name") or "plan"), str(data.get("started") or "")
        db.execute("DELETE FROM runs WHERE run_dir = ?", (key,))
        run_id = db.execute(
            "INSERT INTO runs (run_dir, plan, plan_sha256, started, finished, status) VALUES (?,?,?,?,?,?)",
            (key, name, plan.get("sha256"), started, data.get("finished"), effective_status(dict(data))),
        ).lastrowid
        db.executemany(
            "INSERT OR REPLACE INTO points (run_id, plan, strategy, device, metric, started, status, value) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(run_id, name, s, d, m, started, st, v) for s, d, st, m, v in _rows(data)])
        db.executemany(
            "INSERT OR REPLACE INTO regressions (run_id, strategy, device, metric, value, median, mad, "
            "threshold, direction, runs) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(run_id, r["strategy"], r["device"], r["metric"], r["value"], r["median"], r["mad"],
              r["threshold"], r["direction"], r["runs"])
             for r in data.get("regressions") or [] if isinstance(r, dict)])

    def reindex(self) -> int:
        """Rebuild the store from every <root>/*/run.json (one transaction); returns the runs indexed."""
        from hil_service.results import RunFileError, load_run

        found: list[tuple[Path, dict[str, Any]]] = []
        for path in sorted(self.root.glob("*/run.json")):
            try:
                found.append((path.parent, load_run(path.parent)))
            except RunFileError:
                continue  # a run directory being created, or not ours: not history
        with self._write() as db:
            db.execute("DELETE FROM runs")
            for run_dir, data in found:
                self._index(db, run_dir, data)
        return len(found)

    # -- reading ----------------------------------------------------------------------------
    def baseline(self, key: SeriesKey, before: str, exclude_run: str | None = None,
                 window: int = Rule.window) -> list[float]:
        """The series' last `window` values of finished strategy runs started before `before`."""
        rows = self.db.execute(
            "SELECT p.value FROM points p JOIN runs r ON r.id = p.run_id "
            "WHERE p.plan = ? AND p.strategy = ? AND p.device = ? AND p.metric = ? AND p.started < ? "
            f"AND p.status IN ({','.join('?' * len(FINISHED))}) AND r.run_dir IS NOT ? "
            "ORDER BY p.started DESC LIMIT ?",
            (key.plan, key.strategy, key.device, key.metric, before, *FINISHED, exclude_run, window),
        ).fetchall()
        return [float(v) for (v,) in reversed(rows)]

    def check(self, run_dir: Path, data: Mapping[str, Any], rule: Rule = Rule(),
              catalogue: Mapping[str, Any] | None = None) -> list[Regression]:
        """The regressions of a run (not necessarily indexed yet) against the runs before it."""
        from hil_service.expectations import catalogue as load

        cat = load() if catalogue is None else catalogue
        plan = str((data.get("plan") or {}).get("name") or "plan")
        started = str(data.get("started") or "")
        key_dir = self._key(run_dir)
        found = []
        devices = data.get("devices") or {}
        for strategy, device, status, metric, value in _rows(data):
            better = direction(metric, cat)
            if status not in FINISHED or better is None:
                continue
            clock = ((devices.get(device) or {}).get("latency") or {}).get("source")
            if clock == "host_clock" and getattr(cat.get(metric), "unit", None) in _TIMING_UNITS:
                continue  # wall time on a shared host: its noise is the load, not the firmware
            base = self.baseline(SeriesKey(plan, strategy, device, metric), started, key_dir, rule.window)
            ratio = getattr(cat.get(metric), "unit", None) == "ratio"
            verdict = judge(base, value, better, ratio=ratio, rule=rule)
            if verdict is not None:
                median, mad, threshold = verdict
                found.append(Regression(strategy, device, metric, value, median, mad, threshold,
                                        "lower" if better == "higher" else "higher", len(base)))
        return found

    def series(self, plan: str | None = None, strategy: str | None = None, device: str | None = None,
               metric: str | None = None, metrics: Iterable[str] | None = None
               ) -> dict[SeriesKey, list[Point]]:
        """Every matching series with its points, oldest first (all statuses)."""
        where, args = [], []
        for column, value in (("plan", plan), ("strategy", strategy), ("device", device),
                              ("metric", metric)):
            if value is not None:
                where.append(f"p.{column} = ?")
                args.append(value)
        if metrics is not None and metric is None:
            names = sorted(set(metrics))
            where.append(f"p.metric IN ({','.join('?' * len(names))})")
            args.extend(names)
        rows = self.db.execute(
            "SELECT p.plan, p.strategy, p.device, p.metric, r.run_dir, p.started, p.status, p.value, "
            "EXISTS (SELECT 1 FROM regressions g WHERE g.run_id = p.run_id AND g.strategy = p.strategy "
            "AND g.device = p.device AND g.metric = p.metric) "
            "FROM points p JOIN runs r ON r.id = p.run_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY p.plan, p.strategy, p.device, p.metric, p.started", args).fetchall()
        out: dict[SeriesKey, list[Point]] = {}
        for pl, st, dv, mt, run_dir, started, status, value, flagged in rows:
            out.setdefault(SeriesKey(pl, st, dv, mt), []).append(
                Point(run_dir, started, status, float(value), bool(flagged)))
        return out


def finish_with_history(journal: Any) -> str:
    """Finish a run: flag its regressions against the history (into run.json "regressions",
    before junit.xml is written), finish the journal, then index the finished run.
    With run.json "fail_on_regression" (`hil run --fail-on-regression`) a regression
    fails the run (RunJournal.finish) and its junit case.

    The history is an extra: a store that cannot be used is noted in run.json
    ("history_error") and never changes the run's verdict.
    """
    run_dir = Path(journal.directory)
    store: HistoryStore | None = None
    try:
        # short: a stopped run (SIGTERM, then SIGKILL ~10 s later) must not wait on a busy store
        store = HistoryStore(run_dir.parent, timeout=FINISH_TIMEOUT)
        journal.set("regressions", [r.to_json() for r in store.check(run_dir, journal.data)])
    except (HistoryError, sqlite3.Error) as exc:
        journal.set("history_error", str(exc).splitlines()[0])
    try:
        status: str = journal.finish()
    finally:
        if store is not None:
            try:
                store.index_run(run_dir, journal.data)
            except sqlite3.Error as exc:
                journal.set("history_error", f"{store.path}: {exc}")
            finally:
                store.close()
    return status


def run_regressions(data: Mapping[str, Any], run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """run.json "regressions" of one strategy run (a group run's: its label's and its members')."""
    devices = {run.get("device"), *(run.get("devices") or [])}
    return [r for r in data.get("regressions") or []
            if isinstance(r, dict) and r.get("strategy") == run.get("strategy") and r.get("device") in devices]


def add_junit_regressions(data: Mapping[str, Any], run: Mapping[str, Any], suite: ET.Element, cls: str,
                          case: Callable[[str, str], ET.Element], counts: dict[str, int]) -> None:
    """junit.xml for one finished strategy run: each regression as a property; with
    --fail-on-regression also a `regressions` case (always there, so case names stay
    stable) that fails when the run has one."""
    found = run_regressions(data, run)

    def name(r: Mapping[str, Any]) -> str:
        member = f"[{r['device']}]" if r.get("device") != run.get("device") else ""
        return f"regression.{r.get('metric')}{member}"

    if data.get("fail_on_regression"):
        c = case(cls, "regressions")
        props = ET.SubElement(c, "properties")
        for r in found:
            ET.SubElement(props, "property", name=name(r), value=regression_line(r))
        if found:
            ET.SubElement(c, "failure", message="; ".join(regression_line(r) for r in found))
            counts["failures"] += 1
        return
    if found:
        suite_props = suite.find("properties")
        if suite_props is None:  # a suite's properties come before its cases
            suite_props = ET.Element("properties")
            suite.insert(0, suite_props)
        for r in found:
            ET.SubElement(suite_props, "property", name=f"{cls}.{name(r)}", value=regression_line(r))
