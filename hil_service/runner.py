"""Run a plan: every selected device × every strategy run, judged and recorded.

Per device (one thread each, holding the device's lock): build or find the
image, start the target, then per strategy run: HELLO and build-id check,
RESET, CONFIGURE, LOAD_WEIGHTS (the host-pretrained base), EVALUATE before,
stream (or query the oracle, for active learning), EVALUATE after, METRICS,
READ_WEIGHTS, static memory from the ELF, expectations. Each finding goes to
the journal the moment it exists, so whatever breaks later, it is kept.
A strategy run that breaks (dead emulator, link timeout) is recorded as an
error with the reason; the target is restarted for the next one.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hil_service import base_models
from hil_service.backends import BackendError, LiveTarget
from hil_service.device import Device, DeviceError, ProtocolMismatch, TrainSummary
from hil_service.duts import LatencyClock, firmware_image, latency_clock, start_target
from hil_service.expectations import Verdict, check
from hil_service.firmware_build import BuildError
from hil_service.image import FirmwareImage, ImageError, inspect_image
from hil_service.inventory import DeviceEntry
from hil_service.link import LinkError
from hil_service.locks import DeviceBusy, DeviceLock
from hil_service.plan import SCORE_NAMES, Plan, StrategyRun
from hil_service.protocol import Hello, Metrics, Quantization
from hil_service.reference import ScoreKind
from hil_service.results import RunJournal

__all__ = ["Reporter", "RunOutcome", "RunSummary", "run_plan"]

#: What a broken strategy run can raise; anything else is a bug and propagates.
RUN_ERRORS = (BackendError, DeviceError, LinkError, ProtocolMismatch, ImageError, DeviceBusy,
              BuildError, OSError, RuntimeError, ValueError, struct.error, IndexError)


class RunStopped(RuntimeError):
    """The run was interrupted (Ctrl-C); raised in the device thread at the next reply."""


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
    device: str
    strategy: str
    status: str  # passed, failed, error
    verdicts: tuple[Verdict, ...]
    metrics: dict[str, float | None]
    error: str | None

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
        failed = [v.metric for v in self.verdicts if not v.passed]
        tail = f"; missed: {', '.join(failed)}" if failed else ""
        return (f"{'PASS' if self.status == 'passed' else 'FAIL'} {self.device} {self.strategy}: "
                f"{held}/{len(self.verdicts)} expectations, {', '.join(figures)}{tail}")


@dataclass
class RunOutcome:
    directory: Path
    status: str
    summaries: list[RunSummary] = field(default_factory=list)


#: Errors whose messages already say what broke; others get their type name prefixed.
_SELF_EXPLAINING = (BackendError, DeviceError, LinkError, DeviceBusy, ImageError, BuildError)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, _SELF_EXPLAINING) and first:
        return first
    return f"{type(exc).__name__}: {first}".rstrip(": ")


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q, method="higher")) if len(values) else None


@dataclass
class _Live:
    target: LiveTarget
    device: Device
    hello: Hello

    def close(self) -> None:
        try:
            self.device.close()
        finally:
            self.target.close()


class _DeviceSession:
    """One device's share of a plan: runs its strategies one after another."""

    def __init__(self, entry: DeviceEntry, image_path: Path, plan: Plan,
                 data: base_models.PreparedData, base: base_models.BaseModel,
                 journal: RunJournal, reporter: Reporter, stop: threading.Event,
                 lock_timeout: float) -> None:
        self.entry, self.image_path, self.plan = entry, image_path, plan
        self.data, self.base, self.journal, self.reporter = data, base, journal, reporter
        self.stop, self.lock_timeout = stop, lock_timeout
        self.clock: LatencyClock = latency_clock(entry)
        self.summaries: list[RunSummary] = []
        self.image: FirmwareImage | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> list[RunSummary]:
        lock = DeviceLock(lock_name(self.entry))
        try:
            lock.acquire(timeout=self.lock_timeout)
        except DeviceBusy as exc:
            self._fail_all(str(exc))
            return self.summaries
        live: _Live | None = None
        try:
            self.image = inspect_image(self.image_path)
            self.journal.device(self.entry.id, image=self.image.to_json())
            for spec in self.plan.strategies:
                if self.stop.is_set():
                    self._record_error(spec, self.journal.start_run(self.entry.id, spec.name),
                                       "not run: the run was stopped")
                    continue
                live = self._strategy(spec, live)
        except ImageError as exc:
            self._fail_all(str(exc))
        finally:
            try:
                if live is not None:
                    live.close()
            finally:
                lock.release()
        return self.summaries

    def _fail_all(self, message: str) -> None:
        self.journal.error(self.entry.id, message)
        self.reporter.event(self.entry.id, f"error: {message}")
        for spec in self.plan.strategies:
            if not any(s.strategy == spec.name for s in self.summaries):
                self._record_error(spec, self.journal.start_run(self.entry.id, spec.name), message)

    def _record_error(self, spec: StrategyRun, index: int, message: str) -> None:
        self.journal.finish_run(index, "error", error=message)
        self.summaries.append(RunSummary(self.entry.id, spec.name, "error", (), {}, message))

    def _start(self) -> _Live:
        assert self.image is not None
        self.reporter.event(self.entry.id, f"starting {self.entry.backend} with {self.image.path.name}")
        target = start_target(self.entry, self.image_path,
                              progress=lambda m: self.reporter.event(self.entry.id, m))
        try:
            device = Device.open(target.serial_url, baudrate=self.entry.baud)
            try:
                hello = device.hello()
            except BaseException:
                device.close()
                raise
        except BaseException:
            target.close()
            raise
        live = _Live(target, device, hello)
        self._check_build_id(live)
        self.journal.device(self.entry.id, serial_url=target.serial_url, hello={
            "protocol_version": hello.protocol_version, "fw_version": hello.fw_version,
            "git_hash": hello.git_hash, "board": hello.board, "cycles_hz": hello.cycles_hz,
            "arena_size": hello.arena_size, "max_body": hello.max_body,
            "device_id": hello.device_id.hex()}, latency=self.clock.to_json())
        return live

    def _check_build_id(self, live: _Live) -> None:
        assert self.image is not None
        if self.image.build_id is not None and live.hello.git_hash != self.image.build_id:
            live.close()
            raise BackendError(f"device {self.entry.id} runs firmware {live.hello.git_hash!r} but "
                               f"image {self.image.path} is {self.image.build_id!r}: wrong or stale image")

    def _strategy(self, spec: StrategyRun, live: _Live | None) -> _Live | None:
        index = self.journal.start_run(self.entry.id, spec.name, strategy_kind=spec.strategy,
                                       params=spec.params.model_dump(mode="json"),
                                       stream=spec.stream.model_dump(mode="json"),
                                       active_learning=(spec.active_learning.model_dump(mode="json")
                                                        if spec.active_learning else None))
        measured: dict[str, float | None] = {}

        def record(**values: float | None) -> None:
            measured.update(values)
            self.journal.update_run(index, metrics=values)

        try:
            if live is None or not live.target.alive():
                if live is not None:
                    live.close()
                live = None
                live = self._start()
            else:
                live.hello = live.device.hello()  # a fresh session per strategy run
                self._check_build_id(live)
            self._execute(spec, live, index, record)
        except RUN_ERRORS as exc:
            message = _one_line(exc)
            if live is not None and live.target.alive():
                # a dropped link is often the first sign of a dying target: give it a moment
                try:
                    live.target.wait_exit(1.0)
                except BackendError:
                    pass
            if live is not None and not live.target.alive():
                # the link error is a symptom; the target's death is the cause
                try:
                    live.target.ensure_alive()
                except BackendError as death:
                    message = f"{str(death).splitlines()[0]} ({message})"
            self.reporter.event(self.entry.id, f"{spec.name}: error: {message}")
            self.journal.finish_run(index, "error", error=message)
            self.summaries.append(RunSummary(self.entry.id, spec.name, "error", (), measured, message))
            if live is not None:
                live.close()
            return None
        except BaseException:
            # a bug or Ctrl-C: the target this call may have started must not leak
            if live is not None:
                live.close()
            raise
        verdicts = tuple(check(m, t, measured) for m, t in spec.thresholds(self.entry.id).items())
        status = "passed" if all(v.passed for v in verdicts) else "failed"
        self.journal.finish_run(index, status, expectations=[v.to_json() for v in verdicts])
        summary = RunSummary(self.entry.id, spec.name, status, verdicts, measured, None)
        self.summaries.append(summary)
        self.reporter.event(self.entry.id, summary.line())
        return live

    # -- one strategy run ---------------------------------------------------------------
    def _execute(self, spec: StrategyRun, live: _Live, index: int,
                 record: Callable[..., None]) -> None:
        dev, sc, base = live.device, self.data.scenario, self.base
        quant = Quantization.for_range(0.0, 1.0) if spec.stream.encoding == "int8" else None
        timings: dict[str, float] = {}

        def timed(phase: str, fn: Callable[[], Any]) -> Any:
            t0 = time.monotonic()
            try:
                return fn()
            finally:
                timings[phase] = round(time.monotonic() - t0, 4)
                self.journal.update_run(index, timings={phase: timings[phase]})

        assert self.image is not None
        record(ram_bytes=self.image.ram_bytes, flash_bytes=self.image.flash_bytes)
        timed("reset", dev.reset)
        arena = timed("configure", lambda: dev.configure(base.arch, spec.train_params()))
        timed("load_weights", lambda: dev.load_weights(base.blob))
        self.journal.update_run(index, base_weights_sha256=base.sha256)
        before = timed("evaluate_before", lambda: dev.evaluate(sc.x_test, sc.y_test, quant=quant))
        record(accuracy_before=before.accuracy, loss_before=before.loss, arena_bytes=arena)
        dev.metrics(reset=True)

        x, y = sc.x_stream, sc.y_stream
        if spec.stream.samples is not None:
            x, y = x[: spec.stream.samples], y[: spec.stream.samples]
        # Renode counts the guest's instructions; per sample, they price the whole
        # firmware path (link, decoding, training), which the step cycles do not
        counter = getattr(live.target, "executed_instructions", None)
        instructions_before = counter() if callable(counter) else None
        t0 = time.monotonic()
        if spec.active_learning is None:
            xs, ys = np.concatenate([x] * spec.stream.epochs), np.concatenate([y] * spec.stream.epochs)
            summary = dev.train(xs, ys, batch_size=spec.stream.batch_size, quant=quant,
                                progress=lambda d, t: self._progress(spec.name, d, t))
            summaries, labels = [summary], None
        else:
            summaries, labels = self._active_learning(spec, dev, x, y, quant)
        stream_s = time.monotonic() - t0
        timings["stream"] = round(stream_s, 4)
        self.journal.update_run(index, timings={"stream": timings["stream"]})
        streamed = sum(s.samples for s in summaries)
        if instructions_before is not None and streamed:
            assert callable(counter)
            record(stream_instructions_per_sample=(counter() - instructions_before) / streamed)
        record(samples_streamed=streamed, stream_seconds=stream_s,
               samples_per_second=streamed / stream_s if stream_s > 0 else None,
               link_lost_replies=sum(s.lost_replies for s in summaries))

        after = timed("evaluate_after", lambda: dev.evaluate(sc.x_test, sc.y_test, quant=quant))
        record(accuracy=after.accuracy, loss=after.loss,
               accuracy_gain=after.accuracy - before.accuracy)
        m = timed("metrics", dev.metrics)
        self._record_device_metrics(m, summaries, spec, labels, record, index)
        final = timed("read_weights", dev.read_weights)
        self.journal.update_run(index, final_weights_sha256=hashlib.sha256(final).hexdigest(),
                                timings=timings)

    def _progress(self, strategy: str, done: int, total: int) -> None:
        if self.stop.is_set():
            raise RunStopped("stopped by the user")
        self.reporter.stream(self.entry.id, strategy, done, total)

    def _active_learning(self, spec: StrategyRun, dev: Device, x: np.ndarray, y: np.ndarray,
                         quant: Quantization | None) -> tuple[list[TrainSummary], int]:
        """Rounds of: the device scores the unlabelled pool, the host labels the most
        uncertain query_size samples, the device trains on them; until the budget is spent."""
        al = spec.active_learning
        assert al is not None
        kind = SCORE_NAMES[al.score]
        pool = np.arange(len(x))
        used = 0
        summaries: list[TrainSummary] = []
        budget = min(al.budget, len(x))
        while used < budget:
            preds = dev.infer(x[pool], score_kind=kind, quant=quant)
            # margin is small where the model is unsure; the others are large there
            order = np.argsort(preds.score if kind == ScoreKind.MARGIN else -preds.score,
                               kind="stable")
            pick = pool[order[: min(al.query_size, budget - used)]]
            summaries.append(dev.train(x[pick], y[pick], batch_size=spec.stream.batch_size,
                                       quant=quant))
            used += len(pick)
            pool = np.setdiff1d(pool, pick, assume_unique=True)
            self._progress(spec.name, used, budget)
        return summaries, used

    def _record_device_metrics(self, m: Metrics, summaries: list[TrainSummary], spec: StrategyRun,
                               labels: int | None, record: Callable[..., None], index: int) -> None:
        cycles = np.array([c for s in summaries for c, o in zip(s.step_cycles, s.outcomes) if o == 0],
                          dtype=np.float64)
        hz = m.cycles_hz or 0
        p95 = _percentile(cycles, 95)
        to_us = (lambda c: c / hz * 1e6 if c is not None and hz else None)
        ipc = self.clock.instructions_per_cycle
        if labels is None:
            labels = m.selected if spec.params.select_score != "none" else m.seen
        record(train_step_us_p50=to_us(_percentile(cycles, 50)), train_step_us_p95=to_us(p95),
               train_step_us_max=to_us(float(cycles.max()) if len(cycles) else None),
               train_step_cycles_p95=p95,
               train_step_instructions_p95=p95 * ipc if p95 is not None and ipc else None,
               backward_macs_ratio=(m.macs_backward / m.macs_backward_full
                                    if m.macs_backward_full else None),
               samples_trained=m.trained, samples_skipped=m.skipped,
               samples_not_selected=m.seen - m.selected, labels_used=labels,
               arena_peak_bytes=m.arena_peak, stack_high_water_bytes=m.stack_high_water,
               frames_bad=m.frames_bad)
        self.journal.update_run(index, device_metrics={
            "k_mean": list(m.k_mean()), "k_min": list(m.k_min[: m.n_layers]),
            "k_max": list(m.k_max[: m.n_layers]), "cycles_hz": hz,
            "forward_cycles_mean": m.forward.mean, "backward_cycles_mean": m.backward.mean,
            "update_cycles_mean": m.update.mean, "macs_forward": m.macs_forward,
            "macs_backward": m.macs_backward, "macs_backward_full": m.macs_backward_full,
            "frames_ok": m.frames_ok, "frames_duplicate": m.frames_duplicate,
            "rx_overruns": m.rx_overruns, "arena_size": m.arena_size},
            step_cycles=[int(c) for s in summaries for c in s.step_cycles])


def lock_name(entry: DeviceEntry) -> str:
    """Boards lock their probe: one board can appear under two ids (lab.yaml and a Twister map)."""
    return f"probe-{entry.probe_uid.lower()}" if entry.backend == "board" and entry.probe_uid else entry.id


class PlanMismatch(ValueError):
    """The plan asks for more than the data set gives; found before any device is touched."""


def check_plan_fits(plan: Plan, data: base_models.PreparedData) -> None:
    n = len(data.scenario.x_stream)
    for run in plan.strategies:
        if run.stream.samples is not None and run.stream.samples > n:
            raise PlanMismatch(f"strategy run {run.name}: stream.samples {run.stream.samples} is "
                               f"more than the {n} samples of the stream split")
        al = run.active_learning
        if al is not None and al.budget > n:
            raise PlanMismatch(f"strategy run {run.name}: active_learning.budget {al.budget} is "
                               f"more than the {n} samples of the stream split")


def run_plan(plan: Plan, plan_path: Path, devices: list[DeviceEntry], out_dir: Path,
             reporter: Reporter | None = None, lock_timeout: float = 0.0) -> RunOutcome:
    """Run plan on devices (already selected) and record everything in out_dir."""
    reporter = reporter or QuietReporter()
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = RunJournal(out_dir, {"name": plan.name, "path": str(plan_path),
                                   "sha256": plan.digest(),
                                   "content": plan.model_dump(mode="json")})
    journal.set("devices_selected", [d.id for d in devices])
    try:
        return _run(plan, devices, out_dir, reporter, lock_timeout, journal)
    finally:
        if journal.data["finished"] is None:
            journal.error("host", "the run ended early")
            journal.finish()


def _run(plan: Plan, devices: list[DeviceEntry], out_dir: Path, reporter: Reporter,
         lock_timeout: float, journal: RunJournal) -> RunOutcome:
    reporter.event("host", f"preparing {plan.dataset} and the base model")
    data = base_models.prepare_data(plan)
    check_plan_fits(plan, data)
    base = base_models.prepare(plan, data)
    journal.set("base_model", {"key": base.key, "sha256": base.sha256, "arch": list(base.arch.sizes),
                               "cached": base.cached, "host_accuracy": base.host_accuracy,
                               "epochs": plan.base_model.epochs})
    reporter.event("host", f"base model {base.arch} ({'cached' if base.cached else 'pretrained'}), "
                           f"host accuracy {base.host_accuracy:.3f}")
    # images are built here, one at a time: parallel makes of one tree would race
    sessions: list[_DeviceSession] = []
    stop = threading.Event()
    summaries: list[RunSummary] = []
    for entry in devices:
        try:
            image = firmware_image(entry)
        except (BackendError, BuildError) as exc:
            message = _one_line(exc)
            journal.error(entry.id, message)
            reporter.event(entry.id, f"error: {message}")
            for spec in plan.strategies:
                i = journal.start_run(entry.id, spec.name)
                journal.finish_run(i, "error", error=message)
                summaries.append(RunSummary(entry.id, spec.name, "error", (), {}, message))
            continue
        journal.device(entry.id, entry=entry.model_dump(mode="json"))
        sessions.append(_DeviceSession(entry, image, plan, data, base, journal, reporter, stop,
                                       lock_timeout))
    pool = ThreadPoolExecutor(max_workers=max(1, len(sessions)))
    try:
        futures = [pool.submit(s.run) for s in sessions]
        for f in futures:
            summaries.extend(f.result())
    except KeyboardInterrupt:
        # device threads stop at their next reply; what they measured is recorded
        stop.set()
        journal.error("host", "interrupted")
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        status = journal.finish()
    return RunOutcome(out_dir, status, summaries)
