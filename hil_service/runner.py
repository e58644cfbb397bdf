"""Run a plan: lifecycle only. Select, lock and bring up devices, hand them to
the workflow of each strategy run, journal, judge the expectations.

Single-device runs go to each selected device, one thread per device holding
its lock and its `BringUp` (the target is reused between runs with a fresh
HELLO). Group runs (a workflow asking for N devices) follow, one at a time:
their devices are locked in lock-key order (two group runs never deadlock),
brought up in parallel and handed over as a set.

A run that breaks with a `HilError` (dead emulator, link timeout, device
refusal, bad image) is recorded as an error with its diagnosis and the target
is started afresh for the next run. Anything else is a bug in this package:
it is journalled as such, the targets are closed, and it propagates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hil_service import base_models, lineage
from hil_service.backends.registry import backend_for
from hil_service.bringup import BringUp, LiveDevice
from hil_service.cancel import stop_reason
from hil_service.errors import ConfigError, HilError
from hil_service.expectations import Verdict, check
from hil_service.history import finish_with_history
from hil_service.image import inspect_image
from hil_service.inventory import DeviceEntry
from hil_service.locks import DeviceLock, DevicePool
from hil_service.plan import Plan, StrategyRun
from hil_service.plan_limits import check_devices
from hil_service.results import RunJournal
from hil_service.selection import Skipped
from hil_service.workflows import PlanMismatch, RunStopped, WorkflowContext
from hil_service.workflows import get as get_workflow

__all__ = ["DeviceGroup", "GroupMismatch", "PlanMismatch", "Reporter", "RunOutcome", "RunStopped",
           "RunSummary", "check_plan_fits", "group_devices", "group_label", "run_plan"]


class GroupMismatch(ConfigError):
    """A group run asks for devices the selection does not give; found before any device starts."""


class Reporter(Protocol):
    """Where a run tells a human how it goes (the CLI prints, pytest stays quiet)."""

    def event(self, device: str, message: str) -> None: ...

    def stream(self, device: str, strategy: str, done: int, total: int) -> None: ...


class QuietReporter:
    def event(self, device: str, message: str) -> None:
        pass

    def stream(self, device: str, strategy: str, done: int, total: int) -> None:
        pass


@dataclass(frozen=True)
class RunSummary:
    device: str  # the device id, or a group run's label (group_label)
    strategy: str
    status: str  # passed, failed, error
    verdicts: tuple[Verdict, ...]
    metrics: dict[str, float | None]
    error: str | None
    devices: tuple[str, ...] = ()
    device_metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def line(self) -> str:
        if self.status == "error":
            return f"ERROR {self.device} {self.strategy}: {self.error}"
        held = sum(v.passed for v in self.verdicts)
        acc = self.metrics.get("accuracy")
        gain = self.metrics.get("accuracy_gain")
        p95 = self.metrics.get("train_step_us_p95")
        figures = []
        if acc is not None:
            figures.append(f"accuracy {acc:.3f}" + (f" ({gain:+.3f})" if gain is not None else ""))
        if p95 is not None:
            figures.append(f"step p95 {p95:.0f} us")
        if len(self.devices) > 1:
            figures.append(f"{len(self.devices)} devices")
        failed = [v.label for v in self.verdicts if not v.passed]
        tail = f"; missed: {', '.join(failed)}" if failed else ""
        return (f"{'PASS' if self.status == 'passed' else 'FAIL'} {self.device} {self.strategy}: "
                f"{held}/{len(self.verdicts)} expectations, {', '.join(figures)}{tail}")


@dataclass
class RunOutcome:
    directory: Path
    status: str
    summaries: list[RunSummary] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, HilError) and first else f"{type(exc).__name__}: {first}".rstrip(": ")


def group_label(device_ids: Sequence[str]) -> str:
    """How a group run is named where one device id used to stand (journal, junit, labels)."""
    return "+".join(device_ids)


def group_devices(spec: StrategyRun, selected: Sequence[DeviceEntry]) -> list[DeviceEntry]:
    """The members of a group run: its ids, else the first `count` selected devices."""
    by_id = {d.id: d for d in selected}
    if spec.devices is not None and spec.devices.ids:
        missing = [i for i in spec.devices.ids if i not in by_id]
        if missing:
            raise GroupMismatch(f"strategy run {spec.name}: devices {', '.join(missing)} are not among "
                                f"the selected devices ({', '.join(by_id) or 'none'})")
        return [by_id[i] for i in spec.devices.ids]
    size = spec.group_size
    if size > len(selected):
        raise GroupMismatch(f"strategy run {spec.name}: workflow {spec.workflow} needs {size} devices "
                            f"at once, {len(selected)} selected ({', '.join(by_id) or 'none'}); "
                            f"raise the plan's devices.limit or pass more devices")
    return list(selected[:size])


def check_plan_fits(plan: Plan, data: base_models.PreparedData,
                    devices: Sequence[DeviceEntry] | None = None) -> None:
    """Every run fits the data (and, given the selection, every group its devices)."""
    for run in plan.strategies:
        wf = get_workflow(run.workflow)
        wf.check_fits(run, data)
        if devices is not None and wf.is_group():
            group_devices(run, devices)


# -- locking and bringing up ---------------------------------------------------------------
class DeviceGroup:
    """Several devices locked (in lock-key order) and brought up in parallel; closed together."""

    def __init__(self, entries: Sequence[DeviceEntry], images: dict[str, Path] | None = None, *,
                 lock_timeout: float = 0.0,
                 events: Callable[[str, str], None] | None = None,
                 log_dir: Path | None = None) -> None:
        images = images or {}
        self.bringups = [BringUp(e, images.get(e.id), events=self._events_for(e.id, events),
                                 log_dir=log_dir) for e in entries]
        self.lock_timeout = lock_timeout
        self._stack = ExitStack()

    @staticmethod
    def _events_for(device: str, events: Callable[[str, str], None] | None
                    ) -> Callable[[str], None] | None:
        return None if events is None else (lambda message: events(device, message))

    def lock(self) -> None:
        """Take every lock, sorted by key: two groups sharing devices take them in one order."""
        keys = sorted({b.lock_key for b in self.bringups})
        for key in keys:
            lock = DeviceLock(key)
            lock.acquire(timeout=self.lock_timeout)
            self._stack.callback(lock.release)
        for b in self.bringups:
            self._stack.callback(b.close)

    def up(self) -> tuple[LiveDevice, ...]:
        """Bring every member up at once; the first failure (by member order) is raised."""
        with ThreadPoolExecutor(max_workers=len(self.bringups)) as pool:
            futures = [pool.submit(b.up) for b in self.bringups]
            errors = [f.exception() for f in futures]
        for exc in errors:
            if exc is not None and not isinstance(exc, HilError):
                raise exc  # a bug while bringing up: not a broken run
        for b, exc in zip(self.bringups, errors, strict=True):
            if exc is not None:
                raise _MemberDown(b, exc)
        return tuple(f.result() for f in futures)

    def restart(self, device_id: str) -> LiveDevice:
        """Restart one member through its own BringUp (the others keep running)."""
        for b in self.bringups:
            if b.entry.id == device_id:
                return b.restart()
        raise KeyError(f"restart: {device_id} is not in this group "
                       f"({', '.join(b.entry.id for b in self.bringups)})")

    def diagnose(self, exc: BaseException) -> str:
        """The first member whose target died explains the error; else the error's own line."""
        if isinstance(exc, _MemberDown):
            return f"{exc.bringup.entry.id}: {exc.bringup.diagnose(exc.cause)}"
        plain = _one_line(exc)
        for b in self.bringups:
            why = b.diagnose(exc)
            if why != plain:
                return f"{b.entry.id}: {why}"
        return plain

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> DeviceGroup:
        try:
            self.lock()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _MemberDown(HilError):
    """One member of a group failed to come up; carries which and why."""

    def __init__(self, bringup: BringUp, cause: BaseException) -> None:
        super().__init__(f"{bringup.entry.id}: {_one_line(cause)}")
        self.bringup, self.cause = bringup, cause


# -- one plan run ---------------------------------------------------------------------------
@dataclass
class _Shared:
    """What every run of one plan shares."""

    plan: Plan
    data: base_models.PreparedData
    base: base_models.BaseModel
    journal: RunJournal
    reporter: Reporter
    stop: threading.Event
    lock_timeout: float
    pool: DevicePool[DeviceEntry] | None = None  # spares for a busy device (selector limit)

    @property
    def log_dir(self) -> Path:
        return self.journal.directory / "logs"

    def journal_device(self, live: LiveDevice) -> None:
        # a backend's own notes on its target (Renode: version, model workarounds, timer)
        notes: dict[str, object] = getattr(live.target, "run_notes", None) or {}
        self.journal.device(live.entry.id, serial_url=live.target.serial_url, hello=live.hello_json(),
                            latency=live.clock.to_json(), **notes)

    def start_run(self, device: str, spec: StrategyRun, **fields: Any) -> int:
        section = spec.section
        wf = get_workflow(spec.workflow)
        # the checks it will judge: junit names them even if the run breaks first
        ids = tuple(fields.get("devices") or (device,))
        fields.setdefault("checks", [{"metric": m, "device": d, "threshold": t.text}
                                     for m, d, t in spec.checks(ids, wf.is_group())])
        return self.journal.start_run(
            device, spec.name, strategy_kind=spec.strategy, workflow=spec.workflow,
            params=spec.params.model_dump(mode="json"), stream=spec.stream.model_dump(mode="json"),
            **({wf.section: section.model_dump(mode="json")} if wf.section and section else {}),
            **fields)

    def execute(self, index: int, device: str, spec: StrategyRun, lives: tuple[LiveDevice, ...],
                measured: dict[str, float | None],
                per_device: dict[str, dict[str, float | None]],
                restart_member: Callable[[str], LiveDevice]) -> None:
        """Run the workflow on the devices; every record goes to the journal at once."""

        def record(**values: float | None) -> None:
            measured.update(values)
            self.journal.update_run(index, metrics=values)

        def record_device(device_id: str, **values: float | None) -> None:
            if device_id not in per_device:
                raise KeyError(f"record_device: {device_id} is not in this run's group "
                               f"({', '.join(per_device)})")
            per_device[device_id].update(values)
            self.journal.update_run(index, device_results={
                d: {"metrics": dict(m)} for d, m in per_device.items()})

        def annotate(**fields: Any) -> None:
            self.journal.update_run(index, **fields)

        def progress(done: int, total: int) -> None:
            if self.stop.is_set():
                raise RunStopped("stopped by the user")
            self.reporter.stream(device, spec.name, done, total)

        def restart(device_id: str) -> LiveDevice:
            live = restart_member(device_id)
            self.journal_device(live)
            return live

        ctx = WorkflowContext(spec, lives, self.data, self.base, record, record_device, annotate,
                              progress, self.stop, self.journal.directory / device / spec.name,
                              restart)
        get_workflow(spec.workflow).run(ctx)
        lineage.record(ctx, self.plan.digest(), self.journal.directory)  # weights kept, hashes journalled

    def judge(self, index: int, label: str, spec: StrategyRun, ids: tuple[str, ...], group: bool,
              measured: dict[str, float | None],
              per_device: dict[str, dict[str, float | None]]) -> RunSummary:
        verdicts = tuple(check(m, t, measured if d is None else per_device[d], d)
                         for m, d, t in spec.checks(ids, group))
        status = "passed" if all(v.passed for v in verdicts) else "failed"
        self.journal.finish_run(index, status, expectations=[v.to_json() for v in verdicts])
        summary = RunSummary(label, spec.name, status, verdicts, measured, None, ids, per_device)
        self.reporter.event(label, summary.line())
        return summary

    def broken(self, index: int, label: str, spec: StrategyRun, ids: tuple[str, ...], message: str,
               measured: dict[str, float | None] | None = None) -> RunSummary:
        self.reporter.event(label, f"{spec.name}: error: {message}")
        self.journal.finish_run(index, "error", error=message)
        return RunSummary(label, spec.name, "error", (), measured or {}, message, ids)

    def bug(self, index: int, exc: BaseException) -> None:
        """Journal a bug (or Ctrl-C) on the run it hit before it propagates."""
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"bug: {_one_line(exc)}"
        self.journal.finish_run(index, "error", error=what)


class _DeviceSession:
    """One device's single-device runs, one after another, under its lock."""

    def __init__(self, entry: DeviceEntry, image: Path, runs: list[StrategyRun],
                 shared: _Shared) -> None:
        self.entry, self.image, self.runs, self.s = entry, image, runs, shared
        self.summaries: list[RunSummary] = []

    def run(self) -> list[RunSummary]:
        s = self.s
        try:
            lock = self._claim()
        except HilError as exc:
            self._fail_all(_one_line(exc))
            return self.summaries
        dev = self.entry.id
        bring = BringUp(self.entry, self.image, events=lambda m: s.reporter.event(dev, m),
                        log_dir=s.log_dir)
        try:
            s.journal.device(dev, image=inspect_image(self.image).to_json())
            for spec in self.runs:
                if s.stop.is_set():
                    self.summaries.append(s.broken(s.start_run(dev, spec), dev, spec, (dev,),
                                                   "not run: the run was stopped"))
                    continue
                self._one(bring, spec)
        except HilError as exc:  # the image itself is unreadable: nothing can run
            self._fail_all(_one_line(exc))
        finally:
            try:
                bring.close()
            finally:
                lock.release()
        return self.summaries

    def _claim(self) -> DeviceLock:
        """Lock this session's device, or a free spare of the pool in its place."""
        s = self.s
        if s.pool is None:
            lock = DeviceLock(backend_for(self.entry).lock_key(self.entry))
            lock.acquire(timeout=s.lock_timeout)
            return lock
        entry, lock = s.pool.claim(self.entry, s.lock_timeout)
        if entry is not self.entry:
            try:
                # the model's arena on the spare, checked only now: a spare is built when used
                check_devices(Path(s.journal.data["plan"]["path"]), s.plan, [entry])
                s.reporter.event(entry.id, f"takes the place of {self.entry.id}, which is busy")
                s.journal.device(entry.id, entry=entry.model_dump(mode="json"),
                                 instead_of=self.entry.id)
                s.journal.set("devices_selected", [entry.id if d == self.entry.id else d
                                                   for d in s.journal.data["devices_selected"]])
                self.entry, self.image = entry, backend_for(entry).firmware_image(entry)
            except BaseException:
                lock.release()
                raise
        return lock

    def _fail_all(self, message: str) -> None:
        s = self.s
        s.journal.error(self.entry.id, message)
        s.reporter.event(self.entry.id, f"error: {message}")
        done = {x.strategy for x in self.summaries}
        for spec in self.runs:
            if spec.name not in done:
                self.summaries.append(s.broken(s.start_run(self.entry.id, spec), self.entry.id, spec,
                                               (self.entry.id,), message))

    def _one(self, bring: BringUp, spec: StrategyRun) -> None:
        s, dev = self.s, self.entry.id
        index = s.start_run(dev, spec)
        measured: dict[str, float | None] = {}
        try:
            live = bring.up()
            s.journal_device(live)
            s.execute(index, dev, spec, (live,), measured, {}, lambda d: _own(bring, d))
        except HilError as exc:
            # a stop is no death to diagnose (that would wait for the target to die)
            message = _one_line(exc) if isinstance(exc, RunStopped) else bring.diagnose(exc)
            bring.close()  # the next run starts the target afresh
            self.summaries.append(s.broken(index, dev, spec, (dev,), message, measured))
            return
        except BaseException as exc:
            s.bug(index, exc)
            bring.close()
            raise
        self.summaries.append(s.judge(index, dev, spec, (dev,), False, measured, {}))


def _own(bring: BringUp, device_id: str) -> LiveDevice:
    """A single-device run restarts its own device only."""
    if device_id != bring.entry.id:
        raise KeyError(f"restart: {device_id} is not this run's device ({bring.entry.id})")
    return bring.restart()


def _group_run(s: _Shared, spec: StrategyRun, members: list[DeviceEntry],
               images: dict[str, Path]) -> RunSummary:
    ids = tuple(e.id for e in members)
    label = group_label(ids)
    index = s.start_run(label, spec, devices=list(ids))
    measured: dict[str, float | None] = {}
    per_device: dict[str, dict[str, float | None]] = {i: {} for i in ids}
    if s.stop.is_set():
        return s.broken(index, label, spec, ids, "not run: the run was stopped")
    try:
        group = DeviceGroup(members, images, lock_timeout=s.lock_timeout, events=s.reporter.event,
                            log_dir=s.log_dir)
        with group:
            try:
                for e in members:
                    s.journal.device(e.id, image=inspect_image(images[e.id]).to_json())
                lives = group.up()
                for live in lives:
                    s.journal_device(live)
                s.execute(index, label, spec, lives, measured, per_device, group.restart)
            except HilError as exc:
                return s.broken(index, label, spec, ids, group.diagnose(exc), measured)
    except HilError as exc:  # a member is busy (or not lockable): nothing was started
        return s.broken(index, label, spec, ids, _one_line(exc), measured)
    except BaseException as exc:
        s.bug(index, exc)
        raise
    return s.judge(index, label, spec, ids, True, measured, per_device)


def run_plan(plan: Plan, plan_path: Path, devices: list[DeviceEntry], out_dir: Path,
             reporter: Reporter | None = None, lock_timeout: float = 0.0, *,
             fail_on_regression: bool = False, spares: Sequence[DeviceEntry] = (),
             skipped: Sequence[Skipped] = (), require_all: bool = False) -> RunOutcome:
    """Run plan on devices (already selected) and record everything in out_dir;
    a run is indexed into out_dir's parent's history (history.py) as it finishes."""
    reporter = reporter or QuietReporter()
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = RunJournal(out_dir, {"name": plan.name, "path": str(plan_path),
                                   "sha256": plan.digest(),
                                   "content": plan.model_dump(mode="json")})
    journal.set("devices_selected", [d.id for d in devices])
    if fail_on_regression:
        journal.set("fail_on_regression", True)
    # selected but unavailable devices: recorded, a failure only where the lab asks for all
    journal.set("skipped_devices", [x.to_json() for x in skipped])
    journal.set("require_all_devices", require_all or plan.require_all_devices)
    for x in skipped:
        reporter.event(x.device, f"skipped: {x.reason}")
    device_pool = DevicePool(spares, lambda e: backend_for(e).lock_key(e)) if spares else None
    try:
        return _run(plan, devices, out_dir, reporter, lock_timeout, journal, device_pool)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (hil_service.cancel)
        journal.stopped(stop_reason(exc))
        raise
    finally:
        if journal.data["finished"] is None:
            journal.error("host", "the run ended early")
            finish_with_history(journal)


def _run(plan: Plan, devices: list[DeviceEntry], out_dir: Path, reporter: Reporter,
         lock_timeout: float, journal: RunJournal,
         device_pool: DevicePool[DeviceEntry] | None = None) -> RunOutcome:
    reporter.event("host", f"preparing {plan.dataset} and the base model")
    data = base_models.prepare_data(plan)
    check_plan_fits(plan, data, devices)
    base = base_models.prepare(plan, data)
    journal.set("base_model", {"key": base.key, "sha256": base.sha256, "arch": list(base.arch.sizes),
                               "cached": base.cached, "host_accuracy": base.host_accuracy,
                               "epochs": plan.base_model.epochs, "origin": base.origin})
    reporter.event("host", f"base model {base.arch} ({'cached' if base.cached else 'pretrained'}), "
                           f"host accuracy {base.host_accuracy:.3f}")
    shared = _Shared(plan, data, base, journal, reporter, threading.Event(), lock_timeout,
                     device_pool)
    singles = [r for r in plan.strategies if not get_workflow(r.workflow).is_group()]
    groups = [r for r in plan.strategies if get_workflow(r.workflow).is_group()]
    summaries: list[RunSummary] = []
    # images are built here, one at a time: parallel makes of one tree would race
    images: dict[str, Path] = {}
    for entry in devices:
        try:
            images[entry.id] = backend_for(entry).firmware_image(entry)
        except HilError as exc:
            message = _one_line(exc)
            journal.error(entry.id, message)
            reporter.event(entry.id, f"error: {message}")
            summaries += [shared.broken(shared.start_run(entry.id, spec), entry.id, spec, (entry.id,),
                                        message) for spec in singles]
            continue
        journal.device(entry.id, entry=entry.model_dump(mode="json"))
    sessions = [_DeviceSession(e, images[e.id], singles, shared) for e in devices
                if e.id in images and singles]
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(sessions))) as pool:
            try:
                futures = [pool.submit(x.run) for x in sessions]
                for f in futures:
                    summaries.extend(f.result())
            except BaseException as exc:
                # the other device threads stop at their next reply; what they measured is kept
                shared.stop.set()
                if isinstance(exc, KeyboardInterrupt):
                    journal.stopped(stop_reason(exc))
                raise
        for spec in groups:
            members = group_devices(spec, devices)
            lost = [e.id for e in members if e.id not in images]
            if lost:
                label = group_label([e.id for e in members])
                summaries.append(shared.broken(shared.start_run(label, spec), label, spec,
                                               tuple(e.id for e in members),
                                               f"no firmware image for {', '.join(lost)}"))
                continue
            try:
                summaries.append(_group_run(shared, spec, members, images))
            except KeyboardInterrupt as exc:
                shared.stop.set()
                journal.stopped(stop_reason(exc))
                raise
    finally:
        status = finish_with_history(journal)
    return RunOutcome(out_dir, status, summaries)
