"""Prometheus metrics of the runs recorded under a directory (`hil serve`).

Why a custom collector reading run.json at scrape time, and not metrics set
while a run goes: the run directories are the record, written by separate
`hil run` processes (CI jobs, people at the bench) that come and go; the
exporter is a long-lived reader of that record. Reading at scrape time means
nothing to keep in sync, a restart loses nothing, and what Prometheus sees is
exactly what the files say. Parsed files are cached by (mtime, size), so a
scrape re-reads only what changed. The collector lives in its own
CollectorRegistry, so importing this module registers nothing globally and
tests can build as many exporters as they like.

Series are per (plan, device, strategy), the latest strategy run winning by
its "started" time, so a dashboard shows the current state of each strategy on
each device. Labels are few and bounded: `plan`, `board`, `strategy` (plus
`quantile`, `metric` or `status` where a family needs one). `board` holds the
inventory device id, not the board type: two boards of one type are two
devices and must not collide; the board type and firmware identity are on
`hil_firmware_info`, to be joined when wanted (the "info metric" pattern,
which keeps version strings off every other series). A group run (one run on
several devices) gives its group figures under `board="a+b"` and each
member's own figures under its device id; `hil_group_member` joins the two.

Naming follows https://prometheus.io/docs/practices/naming/: base units
(seconds, bytes; accuracy as a ratio 0..1) named in the suffix, `_total` only
for counters. Choices that needed a decision:

* hil_train_step_seconds{quantile=...} is a gauge, not a summary: the run
  computed the percentiles once over its trained steps; a summary's _sum and
  _count would have to describe the same steps, and run.json keeps step
  cycles for every streamed step (skipped ones too), so they would not agree.
* hil_labels_used, not hil_labels_used_total: labels a run used is a
  measurement of that run, replaced by the next run's value, so it can go
  down; `_total` promises a counter and rate() over a counter that drops
  reads the drop as a reset and invents an increase.
* hil_runs{plan,status}, not hil_runs_total: the number of run directories
  found on disk is not monotonic (old runs get deleted; a run counted as
  "running" moves to "passed"), so it is a gauge. Counting what happened
  since the exporter started would be a counter, but would restart at zero
  with the exporter and miss runs made while it was down; the files are the
  truth, so the gauge is what is honest.
* hil_run_status{status} is an enum: one series per possible status, 1 for
  the current one and 0 for the others, so a status change flips values
  instead of making one series vanish and another appear.
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

__all__ = ["RunsCollector", "exposition", "make_registry", "serve"]

log = logging.getLogger(__name__)

RUN_LABELS = ("plan", "board", "strategy")
STATUSES = ("running", "passed", "failed", "error")

#: metric family -> (run.json metric, factor to base units, help text)
GAUGES: dict[str, tuple[str, float, str]] = {
    "hil_accuracy_ratio": ("accuracy", 1.0, "Test-split accuracy after on-device training (0..1)."),
    "hil_accuracy_before_ratio": ("accuracy_before", 1.0,
                                  "Test-split accuracy with the base weights, before streaming."),
    "hil_accuracy_gain_ratio": ("accuracy_gain", 1.0, "Accuracy after minus accuracy before."),
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
QUANTILES = (("0.5", "train_step_us_p50"), ("0.95", "train_step_us_p95"))


def _package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "unknown"
    try:
        return version("hil-service")
    except PackageNotFoundError:
        # a source checkout that was never installed
        try:
            from hil_service import __version__

            return str(__version__)
        except ImportError:  # pragma: no cover
            return "unknown"


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


@dataclass(frozen=True)
class _RunFile:
    """What one run.json contributes; parsed once per (mtime, size)."""

    path: Path
    plan: str
    status: str
    started: float | None
    runs: tuple[dict[str, Any], ...]
    devices: dict[str, Any]


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
    return _RunFile(path, plan, str(data.get("status") or "unknown"),
                    _timestamp(data.get("started")), runs, _d(data.get("devices")))


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
        latest: dict[tuple[str, str, str], tuple[tuple[float, str, int], dict[str, Any]]] = {}
        firmware: dict[str, tuple[tuple[float, str], tuple[str, str]]] = {}
        plan_runs: dict[tuple[str, str], int] = {}
        members: dict[tuple[str, str, str, str], int] = {}
        for f in files:
            plan_runs[(f.plan, f.status)] = plan_runs.get((f.plan, f.status), 0) + 1
            file_started = f.started if f.started is not None else -math.inf
            for i, run in enumerate(f.runs):
                device, strategy = run.get("device"), run.get("strategy")
                if not isinstance(device, str) or not isinstance(strategy, str):
                    continue
                started = _timestamp(run.get("started"))
                # ties (or runs without a time) fall back to file path and position,
                # so the winner does not depend on directory listing order
                order = (started if started is not None else file_started, str(f.path), i)
                for key, entry in _entries(f.plan, device, strategy, run):
                    if key not in latest or order > latest[key][0]:
                        latest[key] = (order, entry)
                    if key[1] != device:
                        members[(f.plan, strategy, device, key[1])] = 1
            for device, info in f.devices.items():
                info = _d(info)
                hello, image = _d(info.get("hello")), _d(info.get("image"))
                git = hello.get("git_hash") or image.get("build_id")
                fw = hello.get("fw_version") or image.get("fw_version")
                if not git and not fw:
                    continue
                order2 = (file_started, str(f.path))
                if device not in firmware or order2 > firmware[device][0]:
                    firmware[device] = (order2, (str(git or ""), str(fw or "")))

        build = GaugeMetricFamily("hil_build_info", "Identity of this exporter; always 1.",
                                  labels=["version", "python"])
        build.add_metric([self._version, platform.python_version()], 1)
        yield build

        fw_info = GaugeMetricFamily(
            "hil_firmware_info", "Firmware a device ran in its latest recorded run; always 1.",
            labels=["board", "git_hash", "fw_version"])
        for device, (_, (git, fw)) in sorted(firmware.items()):
            fw_info.add_metric([device, git, fw], 1)
        yield fw_info

        runs_g = GaugeMetricFamily(
            "hil_runs", "Run directories (one per `hil run`) found on disk per plan and overall "
            "status. A gauge: deleting old runs lowers it.", labels=["plan", "status"])
        for (plan, status), n in sorted(plan_runs.items()):
            runs_g.add_metric([plan, status], n)
        yield runs_g

        yield GaugeMetricFamily("hil_unreadable_run_files",
                                "run.json files skipped in this scrape because they did not parse.",
                                value=unreadable)

        ordered = sorted(latest.items())
        families = {name: GaugeMetricFamily(name, text, labels=list(RUN_LABELS))
                    for name, (_, _, text) in GAUGES.items()}
        step = GaugeMetricFamily(
            "hil_train_step_seconds", "Percentile of trained step time, device clock, computed "
            "by the run over its trained steps.", labels=[*RUN_LABELS, "quantile"])
        expect = GaugeMetricFamily("hil_expectation_passed",
                                   "1 if the plan's expectation on metric held, else 0.",
                                   labels=[*RUN_LABELS, "metric"])
        status_g = GaugeMetricFamily("hil_run_status",
                                     "1 for the strategy run's current status, 0 for the others.",
                                     labels=[*RUN_LABELS, "status"])
        finished_g = GaugeMetricFamily("hil_run_timestamp_seconds",
                                       "When the strategy run finished, Unix time.",
                                       labels=list(RUN_LABELS))
        started_g = GaugeMetricFamily("hil_run_start_timestamp_seconds",
                                      "When the strategy run started, Unix time.",
                                      labels=list(RUN_LABELS))
        for (plan, device, strategy), (_, run) in ordered:
            labels = [plan, device, strategy]
            metrics = _d(run.get("metrics"))
            for name, (source, factor, _) in GAUGES.items():
                value = _number(metrics.get(source))
                if value is not None:
                    families[name].add_metric(labels, value * factor)
            for q, source in QUANTILES:
                value = _number(metrics.get(source))
                if value is not None:
                    step.add_metric([*labels, q], value * 1e-6)
            seen: set[str] = set()
            for v in run.get("expectations") or []:
                v = _d(v)
                metric = v.get("metric")
                # one series per metric: a duplicate would make the exposition invalid
                if isinstance(metric, str) and metric not in seen:
                    seen.add(metric)
                    expect.add_metric([*labels, metric], 1 if v.get("passed") is True else 0)
            current = run.get("status")
            for s in STATUSES:
                status_g.add_metric([*labels, s], 1 if s == current else 0)
            if current not in STATUSES and isinstance(current, str):
                status_g.add_metric([*labels, current], 1)
            finished = _timestamp(run.get("finished"))
            if finished is not None:
                finished_g.add_metric(labels, finished)
            started = _timestamp(run.get("started"))
            if started is not None:
                started_g.add_metric(labels, started)
        group = GaugeMetricFamily(
            "hil_group_member", "A group run (board is its label a+b) and each device in it; always 1. "
            "The group's own figures carry the label, each member's figures its device id.",
            labels=["plan", "strategy", "group", "device"])
        for (plan, strategy, label, member), one in sorted(members.items()):
            group.add_metric([plan, strategy, label, member], one)
        yield from families.values()
        yield from (step, expect, status_g, finished_g, started_g, group)


def _entries(plan: str, device: str, strategy: str,
             run: dict[str, Any]) -> Iterator[tuple[tuple[str, str, str], dict[str, Any]]]:
    """A run's series keys: itself, and for a group run each member with its own figures.

    A group run's verdicts on a member (`device` set) go to that member's series;
    the group keeps the verdicts on its own metrics.
    """
    results = _d(run.get("device_results"))
    verdicts = [_d(v) for v in run.get("expectations") or []]
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
    started = start_http_server(port, addr=address, registry=registry)
    # prometheus_client >= 0.17 returns (server, thread); older ones return None
    server = started[0] if isinstance(started, tuple) else None
    bound = server.server_address[1] if server is not None else port  # port 0 picks one
    host = f"[{address}]" if ":" in address else address
    print(f"serving metrics of the runs in {runs_dir} at http://{host}:{bound}/metrics", flush=True)
    try:
        while not (stop is not None and stop.wait(0.5)):
            if stop is None:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
