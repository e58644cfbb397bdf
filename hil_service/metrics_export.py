"""Prometheus metrics of the runs recorded under a directory (`hil serve`).

Why a custom collector reading run.json at scrape time, and not metrics set
while a run goes: the run directories are the record, written by separate
`hil run` processes (CI jobs, people at the bench) that come and go; the
exporter is a long-lived reader of that record. Reading at scrape time means
nothing to keep in sync, a restart loses nothing, and what Prometheus sees is
exactly what the files say. Parsed files are cached by (mtime, size), so a
scrape re-reads only what changed; the status is judged at every scrape
(results.effective_status), since a run's writer can die without the file
changing. The collector lives in its own CollectorRegistry, so importing this
module registers nothing globally and tests can build as many exporters as
they like.

Series are per (plan, device, strategy), so a dashboard shows the current
state of each strategy on each device, and never has gaps:

* values (accuracy, latency, memory, expectation verdicts) come from the
  latest strategy run that completed (passed or failed). While a new run is
  in progress, or after it broke, they stay those of the last good run;
* hil_run_status{status} is the latest attempt's status (running, passed,
  failed, error, stopped, abandoned), so a broken run is flagged while its
  predecessor's values stay; hil_run_timestamp_seconds says when the values
  were measured, hil_run_start_timestamp_seconds when the latest attempt began;
* hil_run_in_progress{plan} is 1 while a `hil run` of the plan is alive.

Labels are few and bounded: `plan`, `board`, `strategy` (plus `metric` or
`status` where a family needs one). `board` holds the inventory device id, not
the board type: two boards of one type are two devices and must not collide;
the board type and firmware identity are on `hil_firmware_info`, to be joined
when wanted (the "info metric" pattern). A group run (one run on several
devices) gives its group figures under `board="a+b"` and each member's own
figures under its device id; `hil_group_member` joins the two.

Naming follows https://prometheus.io/docs/practices/naming/ and the output
passes `promtool check metrics`: base units (seconds, bytes; accuracy as a
ratio 0..1) in the suffix. Choices that needed a decision:

* step latency is three gauges (hil_train_step_p50_seconds, _p95_, _max_),
  not a summary: the run computed its percentiles once over its trained
  steps, and a summary's _sum and _count would have to describe those same
  steps, which run.json does not keep apart from the skipped ones. A gauge
  with a `quantile` label is reserved for summaries, so the percentile is in
  the name.
* there are no counters, so no `_total`: every figure is a measurement of one
  run, replaced by the next run's value, which may be lower (labels used,
  regressions) -- rate() over a "counter" that drops invents an increase.
  hil_runs{plan,status} counts run directories on disk, which deleting old
  runs lowers, so it is a gauge too.
* enums (hil_run_status, hil_plan_run_status) have one series per possible
  status, 1 for the current one, so a change flips values instead of making
  one series vanish and another appear.
* run.json "regressions" (history.py) become hil_regressions (how many
  metrics of the series regressed, 0 when none: a stable series to alert on)
  and hil_regression{metric,direction} (1 per flagged metric, for tables);
  "skipped_devices" become hil_device_available{plan,board} (0 for a device
  the plan's latest run could not use) and hil_device_skipped{reason}.
* hil_unreadable_run_files says how many run.json files were skipped, so a
  broken file is visible on a dashboard and not only in the exporter's log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hil_service.results import effective_status

__all__ = ["GAUGES", "RunsCollector", "exposition", "make_registry", "serve"]

log = logging.getLogger(__name__)

RUN_LABELS = ("plan", "board", "strategy")
STATUSES = ("running", "passed", "failed", "error", "stopped", "abandoned")
#: a strategy run with these statuses measured everything: its values are good
COMPLETED = ("passed", "failed")

#: metric family -> (run.json metric, factor to base units, help text)
GAUGES: dict[str, tuple[str, float, str]] = {
    "hil_accuracy_ratio": ("accuracy", 1.0, "Test-split accuracy after on-device training (0..1)."),
    "hil_accuracy_before_ratio": ("accuracy_before", 1.0,
                                  "Test-split accuracy with the base weights, before streaming."),
    "hil_accuracy_gain_ratio": ("accuracy_gain", 1.0, "Accuracy after minus accuracy before."),
    "hil_train_step_p50_seconds": ("train_step_us_p50", 1e-6,
                                   "Median trained step time, device clock."),
    "hil_train_step_p95_seconds": ("train_step_us_p95", 1e-6,
                                   "95th percentile of trained step time, device clock."),
    "hil_train_step_max_seconds": ("train_step_us_max", 1e-6,
                                   "Slowest trained step, device clock."),
    "hil_backward_macs_ratio": ("backward_macs_ratio", 1.0,
                                "Backward MACs spent over what full backpropagation would spend."),
    "hil_labels_used": ("labels_used", 1.0,
                        "Labels the host oracle handed to the device in the run (a gauge: "
                        "a per-run figure, not a counter)."),
    "hil_ram_bytes": ("ram_bytes", 1.0, "Static RAM of the firmware image."),
    "hil_flash_bytes": ("flash_bytes", 1.0, "Flash of the firmware image."),
    "hil_arena_bytes": ("arena_bytes", 1.0, "Arena the configured model needs for training."),
    "hil_arena_peak_bytes": ("arena_peak_bytes", 1.0, "Arena high-water mark the core reports."),
    "hil_stack_high_water_bytes": ("stack_high_water_bytes", 1.0,
                                   "Deepest stack use seen by stack painting."),
    "hil_stream_seconds": ("stream_seconds", 1.0,
                           "Host wall time to stream the training samples."),
}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hil-service")
    except PackageNotFoundError:
        # a source checkout that was never installed
        from hil_service import __version__

        return str(__version__)


def _number(value: Any) -> float | None:
    """A value worth exporting: numbers (NaN passes through, as measured); None, bools
    and strings do not, since an absent series is Prometheus's "not measured"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:  # run.json writes UTC; a naive time is read as UTC, not local
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass(frozen=True)
class _RunFile:
    """What one run.json contributes; parsed once per (mtime, size)."""

    path: Path
    plan: str
    header: dict[str, Any]  # the top-level fields effective_status() reads
    started: float | None
    finished: float | None
    runs: tuple[dict[str, Any], ...]
    devices: dict[str, Any]
    device_ids: tuple[str, ...]  # every device the run selected, used or skipped
    skipped: tuple[tuple[str, str], ...]  # (device, reason)
    regressions: tuple[dict[str, Any], ...] | None  # None: not judged (yet)

    def status(self) -> str:
        return effective_status(self.header)

    def order(self) -> tuple[float, str]:
        # ties (or files without a time) fall back to the path, so the winner
        # does not depend on directory listing order
        return (self.started if self.started is not None else -math.inf, str(self.path))


def _parse(path: Path) -> _RunFile:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if not isinstance(data.get("runs"), list):
        raise ValueError('no "runs" list')
    plan = _d(data.get("plan")).get("name")
    if not isinstance(plan, str) or not plan:
        raise ValueError("no plan name")
    # step_cycles can be long and is not exported: drop it so the cache stays small
    runs = tuple({k: v for k, v in r.items() if k != "step_cycles"}
                 for r in data["runs"] if isinstance(r, dict))
    devices = _d(data.get("devices"))
    skipped = tuple((s["device"], str(s.get("reason") or ""))
                    for s in _l(data.get("skipped_devices")) if isinstance(s.get("device"), str))
    selected = data.get("devices_selected")
    ids = [d for d in selected if isinstance(d, str)] if isinstance(selected, list) else []
    ids += [d for d in devices if isinstance(d, str)]
    ids += [r["device"] for r in runs if isinstance(r.get("device"), str) and "+" not in r["device"]]
    ids += [d for d, _ in skipped]
    header = {k: data.get(k) for k in ("pid", "pid_start", "boot_id")}
    header.update(status=str(data.get("status") or "unknown"), host=_d(data.get("host")))
    regressions = data.get("regressions")
    return _RunFile(path, plan, header, _timestamp(data.get("started")),
                    _timestamp(data.get("finished")), runs, devices, tuple(dict.fromkeys(ids)),
                    skipped, tuple(_l(regressions)) if isinstance(regressions, list) else None)


def _run_status(run: dict[str, Any], file_status: str) -> str:
    """A strategy run's status; one left "running" by a run that ended is not running."""
    status = run.get("status")
    status = status if isinstance(status, str) else "error"
    if status == "running" and file_status != "running":
        return file_status if file_status in ("stopped", "abandoned") else "error"
    return status


Key = tuple[str, str, str]
Order = tuple[float, str, int]


@dataclass
class _Series:
    """What one (plan, board, strategy) exports: the latest attempt and the latest good run."""

    attempt: tuple[Order, str, dict[str, Any]] | None = None  # (order, status, run)
    good: tuple[Order, dict[str, Any]] | None = None
    judged: tuple[Order, tuple[dict[str, Any], ...]] | None = None  # regressions of the good run's kind

    def offer(self, order: Order, status: str, run: dict[str, Any],
              regressions: tuple[dict[str, Any], ...] | None) -> None:
        if self.attempt is None or order > self.attempt[0]:
            self.attempt = (order, status, run)
        if status in COMPLETED:
            if self.good is None or order > self.good[0]:
                self.good = (order, run)
            if regressions is not None and (self.judged is None or order > self.judged[0]):
                self.judged = (order, regressions)


class RunsCollector(Collector):
    """Collects the run.json files directly under runs_dir (and runs_dir/run.json itself)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._lock = threading.Lock()  # the HTTP server scrapes from several threads
        self._cache: dict[Path, tuple[tuple[int, int], _RunFile | None]] = {}
        self._version = _package_version()

    def describe(self) -> Iterable[Metric]:
        # without describe() the registry would call collect() at register time to
        # learn the names, reading every file before anyone asked
        return []

    # -- reading -------------------------------------------------------------------------
    def _paths(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        paths = sorted(self.runs_dir.glob("*/run.json"))
        own = self.runs_dir / "run.json"
        return ([own] if own.is_file() else []) + paths

    def _load(self) -> tuple[list[_RunFile], int]:
        files: list[_RunFile] = []
        unreadable = 0
        with self._lock:
            live: set[Path] = set()
            for path in self._paths():
                live.add(path)
                try:
                    st = path.stat()
                except OSError as exc:  # removed between glob and stat
                    log.warning("skipping %s: %s", path, exc)
                    unreadable += 1
                    continue
                key = (st.st_mtime_ns, st.st_size)
                cached = self._cache.get(path)
                if cached is None or cached[0] != key:
                    try:
                        parsed: _RunFile | None = _parse(path)
                    except (OSError, UnicodeDecodeError, ValueError) as exc:
                        # warned once per version of the file, not on every scrape
                        log.warning("skipping unreadable run file %s: %s", path, exc)
                        parsed = None
                    cached = (key, parsed)
                    self._cache[path] = cached
                if cached[1] is None:
                    unreadable += 1
                else:
                    files.append(cached[1])
            for gone in set(self._cache) - live:
                del self._cache[gone]
        return files, unreadable

    # -- exporting -----------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        try:
            files, unreadable = self._load()
        except Exception:  # a scrape must answer, whatever the disk says (logged)
            log.exception("reading runs under %s failed", self.runs_dir)
            files, unreadable = [], 0
        yield from self._families(files, unreadable)

    def _families(self, files: list[_RunFile], unreadable: int) -> Iterator[Metric]:
        status_of = {f.path: f.status() for f in files}
        yield from self._exporter(unreadable)
        yield from _plan_families(files, status_of)
        yield from _device_families(files)
        yield from _series_families(files, status_of)

    def _exporter(self, unreadable: int) -> Iterator[Metric]:
        build = GaugeMetricFamily("hil_build_info", "Identity of this exporter; always 1.",
                                  labels=["version", "python"])
        build.add_metric([self._version, platform.python_version()], 1)
        yield build
        yield GaugeMetricFamily("hil_unreadable_run_files",
                                "run.json files skipped in this scrape because they did not parse.",
                                value=unreadable)


def _plan_families(files: list[_RunFile], status_of: dict[Path, str]) -> Iterator[Metric]:
    counts: dict[tuple[str, str], int] = {}
    latest: dict[str, _RunFile] = {}
    done: dict[str, _RunFile] = {}
    alive: dict[str, int] = {}
    for f in files:
        status = status_of[f.path]
        counts[(f.plan, status)] = counts.get((f.plan, status), 0) + 1
        alive[f.plan] = max(alive.get(f.plan, 0), int(status == "running"))
        if f.plan not in latest or f.order() > latest[f.plan].order():
            latest[f.plan] = f
        if f.finished is not None and status not in ("running", "abandoned") and (
                f.plan not in done or f.order() > done[f.plan].order()):
            done[f.plan] = f

    runs_g = GaugeMetricFamily(
        "hil_runs", "Run directories (one per `hil run`) found on disk per plan and status. "
        "A gauge: deleting old runs lowers it.", labels=["plan", "status"])
    for (plan, status), n in sorted(counts.items()):
        runs_g.add_metric([plan, status], n)
    yield runs_g

    progress = GaugeMetricFamily(
        "hil_run_in_progress", "1 while a `hil run` of the plan is alive; the other series keep "
        "the last completed run's values meanwhile.", labels=["plan"])
    for plan, n in sorted(alive.items()):
        progress.add_metric([plan], n)
    yield progress

    plan_status = GaugeMetricFamily(
        "hil_plan_run_status", "1 for the status of the plan's latest `hil run`, 0 for the others.",
        labels=["plan", "status"])
    for plan, f in sorted(latest.items()):
        for s in _with(STATUSES, status_of[f.path]):
            plan_status.add_metric([plan, s], 1 if s == status_of[f.path] else 0)
    yield plan_status

    finished = GaugeMetricFamily(
        "hil_plan_run_finish_timestamp_seconds",
        "When the plan's latest finished `hil run` ended, Unix time (for \"nightly not run\").",
        labels=["plan"])
    for plan, f in sorted(done.items()):
        assert f.finished is not None
        finished.add_metric([plan], f.finished)
    yield finished


def _with(statuses: tuple[str, ...], current: str) -> tuple[str, ...]:
    return statuses if current in statuses else (*statuses, current)


def _device_families(files: list[_RunFile]) -> Iterator[Metric]:
    firmware: dict[str, tuple[tuple[float, str], tuple[str, str]]] = {}
    # availability from the plan's latest run that selected devices
    avail: dict[str, _RunFile] = {}
    for f in files:
        if f.device_ids and (f.plan not in avail or f.order() > avail[f.plan].order()):
            avail[f.plan] = f
        for device, info in f.devices.items():
            info = _d(info)
            hello, image = _d(info.get("hello")), _d(info.get("image"))
            git = hello.get("git_hash") or image.get("build_id")
            fw = hello.get("fw_version") or image.get("fw_version")
            if not git and not fw:
                continue
            if device not in firmware or f.order() > firmware[device][0]:
                firmware[device] = (f.order(), (str(git or ""), str(fw or "")))

    fw_info = GaugeMetricFamily(
        "hil_firmware_info", "Firmware a device ran in its latest recorded run; always 1.",
        labels=["board", "git_hash", "fw_version"])
    for device, (_, (git, fw)) in sorted(firmware.items()):
        fw_info.add_metric([device, git, fw], 1)
    yield fw_info

    available = GaugeMetricFamily(
        "hil_device_available", "1 if the plan's latest run could use the device it selected, "
        "0 if it had to skip it (hil_device_skipped says why).", labels=["plan", "board"])
    skipped_g = GaugeMetricFamily(
        "hil_device_skipped", "A device the plan's latest run skipped, with the reason; always 1.",
        labels=["plan", "board", "reason"])
    for plan, f in sorted(avail.items()):
        skipped = dict(f.skipped)
        for device in sorted(f.device_ids):
            available.add_metric([plan, device], 0 if device in skipped else 1)
        for device, reason in sorted(skipped.items()):
            skipped_g.add_metric([plan, device, " ".join(reason.split())], 1)
    yield available
    yield skipped_g


def _series_families(files: list[_RunFile], status_of: dict[Path, str]) -> Iterator[Metric]:
    series: dict[Key, _Series] = {}
    members: set[tuple[str, str, str, str]] = set()
    for f in files:
        for i, run in enumerate(f.runs):
            device, strategy = run.get("device"), run.get("strategy")
            if not isinstance(device, str) or not isinstance(strategy, str):
                continue
            started = _timestamp(run.get("started"))
            order: Order = (started if started is not None else f.order()[0], str(f.path), i)
            status = _run_status(run, status_of[f.path])
            for key, entry in _entries(f.plan, device, strategy, run):
                regressions = None if f.regressions is None else tuple(
                    r for r in f.regressions
                    if r.get("strategy") == strategy and r.get("device") == key[1])
                series.setdefault(key, _Series()).offer(order, status, entry, regressions)
                if key[1] != device:
                    members.add((f.plan, strategy, device, key[1]))

    families = {name: GaugeMetricFamily(name, text, labels=list(RUN_LABELS))
                for name, (_, _, text) in GAUGES.items()}
    expect = GaugeMetricFamily("hil_expectation_passed",
                               "1 if the plan's expectation on metric held in the latest "
                               "completed run, else 0.", labels=[*RUN_LABELS, "metric"])
    status_g = GaugeMetricFamily("hil_run_status",
                                 "1 for the latest strategy run's status, 0 for the others.",
                                 labels=[*RUN_LABELS, "status"])
    finished_g = GaugeMetricFamily("hil_run_timestamp_seconds",
                                   "When the strategy run the values come from (the latest "
                                   "completed one) finished, Unix time.", labels=list(RUN_LABELS))
    started_g = GaugeMetricFamily("hil_run_start_timestamp_seconds",
                                  "When the latest strategy run started, Unix time.",
                                  labels=list(RUN_LABELS))
    regressions_g = GaugeMetricFamily(
        "hil_regressions", "Metrics of the series flagged as regressed against its history "
        "(median and MAD of recent runs) by the latest judged run; 0 when none.",
        labels=list(RUN_LABELS))
    regression_g = GaugeMetricFamily(
        "hil_regression", "A metric flagged as regressed by the latest judged run; always 1.",
        labels=[*RUN_LABELS, "metric", "direction"])
    for key, s in sorted(series.items()):
        labels = list(key)
        if s.attempt is not None:
            _, current, attempt = s.attempt
            for status in _with(STATUSES, current):
                status_g.add_metric([*labels, status], 1 if status == current else 0)
            started = _timestamp(attempt.get("started"))
            if started is not None:
                started_g.add_metric(labels, started)
        if s.good is not None:
            run = s.good[1]
            metrics = _d(run.get("metrics"))
            for name, (source, factor, _) in GAUGES.items():
                value = _number(metrics.get(source))
                if value is not None:
                    families[name].add_metric(labels, value * factor)
            seen: set[str] = set()
            for v in _l(run.get("expectations")):
                metric = v.get("metric")
                # one series per metric: a duplicate would make the exposition invalid
                if isinstance(metric, str) and metric not in seen:
                    seen.add(metric)
                    expect.add_metric([*labels, metric], 1 if v.get("passed") is True else 0)
            finished = _timestamp(run.get("finished"))
            if finished is not None:
                finished_g.add_metric(labels, finished)
        if s.judged is not None:
            flagged = {(str(r.get("metric")), str(r.get("direction") or "")) for r in s.judged[1]
                       if isinstance(r.get("metric"), str)}
            regressions_g.add_metric(labels, len({m for m, _ in flagged}))
            for metric, direction in sorted(flagged):
                regression_g.add_metric([*labels, metric, direction], 1)
    group = GaugeMetricFamily(
        "hil_group_member", "A group run (board is its label a+b) and each device in it; always 1. "
        "The group's own figures carry the label, each member's figures its device id.",
        labels=["plan", "strategy", "group", "device"])
    for plan, strategy, label, member in sorted(members):
        group.add_metric([plan, strategy, label, member], 1)
    yield from families.values()
    yield from (expect, status_g, finished_g, started_g, regressions_g, regression_g, group)


def _entries(plan: str, device: str, strategy: str,
             run: dict[str, Any]) -> Iterator[tuple[Key, dict[str, Any]]]:
    """A run's series keys: itself, and for a group run each member with its own figures.

    A group run's verdicts on a member (`device` set) go to that member's series;
    the group keeps the verdicts on its own metrics.
    """
    results = _d(run.get("device_results"))
    verdicts = _l(run.get("expectations"))
    if not results:
        yield (plan, device, strategy), run
        return
    yield (plan, device, strategy), {**run, "expectations": [v for v in verdicts if not v.get("device")]}
    for member, result in results.items():
        if isinstance(member, str):
            yield (plan, member, strategy), {
                **run, "metrics": _d(_d(result).get("metrics")),
                "expectations": [v for v in verdicts if v.get("device") == member]}


def make_registry(runs_dir: Path) -> CollectorRegistry:
    """A fresh registry holding only the runs collector (no process or GC metrics)."""
    registry = CollectorRegistry()
    registry.register(RunsCollector(Path(runs_dir)))
    return registry


def exposition(runs_dir: Path) -> str:
    """The text a scrape of runs_dir would return (Prometheus text format 0.0.4)."""
    return generate_latest(make_registry(runs_dir)).decode("utf-8")


def serve(runs_dir: Path, port: int, address: str = "127.0.0.1",
          stop: threading.Event | None = None) -> None:
    """Serve /metrics on address:port until Ctrl-C (or until stop is set).

    Binds to loopback unless told otherwise: run results name devices and
    firmware, which is not for every network the bench host is on.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        log.warning("%s is not a directory (yet); serving no runs until it is", runs_dir)
    registry = make_registry(runs_dir)
    server, _ = start_http_server(port, addr=address, registry=registry)
    bound = server.server_address[1]  # port 0 picks one
    host = f"[{address}]" if ":" in address else address
    print(f"serving metrics of the runs in {runs_dir} at http://{host}:{bound}/metrics", flush=True)
    try:
        while not (stop is not None and stop.wait(0.5)):
            if stop is None:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
