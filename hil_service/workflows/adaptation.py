"""Adapting one device's base model on data: the part `stream` and `active_learning` share.

The sequence is the one the runner ran before workflows existed, unchanged:
RESET, CONFIGURE, LOAD_WEIGHTS (the host-pretrained base), EVALUATE before,
train (the workflow's part: the whole stream, or oracle-chosen queries),
EVALUATE after, METRICS, READ_WEIGHTS. Every figure goes to the journal the
moment it exists.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hil_service.device import Device, TrainSummary
from hil_service.expectations import RATIO_CHANGE, MetricInfo
from hil_service.lineage import keep_weights
from hil_service.protocol import Metrics, Quantization
from hil_service.train_curve import train_curve
from hil_service.trust import TRUST_METRICS, SourceProbe
from hil_service.workflows.base import PlanMismatch, WorkflowContext

__all__ = ["ADAPTATION_METRICS", "Trainer", "adapt", "check_stream_fits"]

#: train(device, x, y, quant) -> (the TRAIN summaries, labels the oracle gave or None)
Trainer = Callable[[Device, np.ndarray, np.ndarray, "Quantization | None"],
                   tuple[list[TrainSummary], "int | None"]]

ADAPTATION_METRICS: Mapping[str, MetricInfo] = {
    "accuracy": MetricInfo("ratio", "share of the test split the device classifies right after streaming", better="higher"),
    "accuracy_before": MetricInfo("ratio", "the same, with the base weights before streaming", better="higher"),
    "accuracy_gain": MetricInfo("ratio", "accuracy minus accuracy_before", kind=RATIO_CHANGE,
                                better="higher"),
    "loss": MetricInfo("nats", "mean cross-entropy on the test split after streaming", better="lower"),
    "loss_before": MetricInfo("nats", "mean cross-entropy on the test split before streaming", better="lower"),
    "train_step_us_p50": MetricInfo(
        "µs", "median time of one trained step by the device's clock (virtual time under QEMU)"),
    "train_step_us_p95": MetricInfo("µs", "95th percentile of one trained step, device clock"),
    "train_step_us_max": MetricInfo("µs", "slowest trained step, device clock"),
    "train_step_cycles_p95": MetricInfo("cycles", "95th percentile step in device counter ticks"),
    "train_step_instructions_p95": MetricInfo(
        "instructions", "95th percentile step in guest instructions (QEMU -icount only)"),
    "stream_instructions_per_sample": MetricInfo(
        "instructions", "guest instructions per streamed sample, whole firmware path (Renode only)"),
    "backward_macs_ratio": MetricInfo(
        "ratio", "backward MACs spent over what full backpropagation would spend", better="lower"),
    "samples_streamed": MetricInfo("samples", "samples sent to the device for training"),
    "samples_trained": MetricInfo("samples", "samples the device trained on"),
    "samples_skipped": MetricInfo("samples", "samples the skip gate passed over"),
    "samples_not_selected": MetricInfo("samples", "samples data point selection left out"),
    "labels_used": MetricInfo(
        "labels", "labels the oracle had to give: every streamed sample, or only those data "
        "point selection kept, or the active-learning queries"),
    "ram_bytes": MetricInfo("bytes", "static RAM of the image: writable allocated ELF sections"),
    "flash_bytes": MetricInfo("bytes", "flash of the image: allocated ELF sections with contents"),
    "arena_bytes": MetricInfo("bytes", "arena the configured model needs for training"),
    "arena_peak_bytes": MetricInfo("bytes", "arena high-water mark the core reports"),
    "stack_high_water_bytes": MetricInfo("bytes", "deepest stack use seen by stack painting"),
    "stream_seconds": MetricInfo("s", "host wall time to stream the training samples"),
    "samples_per_second": MetricInfo("1/s", "training samples streamed per host second"),
    "link_lost_replies": MetricInfo("frames", "TRAIN replies lost on the link (samples still trained)"),
    "frames_bad": MetricInfo("frames", "frames the device dropped for a bad CRC or length"),
    **TRUST_METRICS,
}


def check_stream_fits(spec: Any, n_stream: int) -> None:
    if spec.stream.samples is not None and spec.stream.samples > n_stream:
        raise PlanMismatch(f"strategy run {spec.name}: stream.samples {spec.stream.samples} is "
                           f"more than the {n_stream} samples of the stream split")


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q, method="higher")) if len(values) else None


def adapt(ctx: WorkflowContext, train: Trainer) -> None:
    """The whole adaptation of ctx.device; `train` is the workflow's own part."""
    spec, live, record = ctx.spec, ctx.device, ctx.record
    dev, sc, base = live.device, ctx.data.scenario, ctx.base
    quant = Quantization.for_range(0.0, 1.0) if spec.stream.encoding == "int8" else None
    timings: dict[str, float] = {}

    def timed(phase: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        try:
            return fn()
        finally:
            timings[phase] = round(time.monotonic() - t0, 4)
            ctx.annotate(timings={phase: timings[phase]})

    record(ram_bytes=live.image.ram_bytes, flash_bytes=live.image.flash_bytes)
    timed("reset", dev.reset)
    arena = timed("configure", lambda: dev.configure(base.arch, spec.train_params()))
    timed("load_weights", lambda: dev.load_weights(base.blob))
    ctx.annotate(base_weights_sha256=base.sha256)
    before = timed("evaluate_before", lambda: dev.evaluate(sc.x_test, sc.y_test, quant=quant))
    # the base model's own predictions on the unshifted split, for the trust metrics
    probe = timed("evaluate_source_before",
                  lambda: SourceProbe.before(dev, ctx.data, base.blob, quant, before))
    ctx.annotate(trust={"base_predictions": probe.how})
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
    summaries, labels = train(dev, x, y, quant)
    stream_s = time.monotonic() - t0
    timings["stream"] = round(stream_s, 4)
    ctx.annotate(timings={"stream": timings["stream"]})
    streamed = sum(s.samples for s in summaries)
    ctx.annotate(train_curve=train_curve(summaries))
    if instructions_before is not None and streamed:
        assert callable(counter)
        record(stream_instructions_per_sample=(counter() - instructions_before) / streamed)
    record(samples_streamed=streamed, stream_seconds=stream_s,
           samples_per_second=streamed / stream_s if stream_s > 0 else None,
           link_lost_replies=sum(s.lost_replies for s in summaries))

    after = timed("evaluate_after", lambda: dev.evaluate(sc.x_test, sc.y_test, quant=quant))
    record(accuracy=after.accuracy, loss=after.loss, accuracy_gain=after.accuracy - before.accuracy)
    trust = timed("evaluate_source_after", lambda: probe.after(dev, quant, after))
    if trust is not None:
        record(**trust.metrics())
    m = timed("metrics", dev.metrics)
    _record_device_metrics(ctx, m, summaries, labels)
    final = timed("read_weights", dev.read_weights)
    keep_weights(ctx.run_dir, live.entry.id, final)  # the run's result, for lineage and from_run
    ctx.annotate(final_weights_sha256=hashlib.sha256(final).hexdigest(), timings=timings)


def _record_device_metrics(ctx: WorkflowContext, m: Metrics, summaries: list[TrainSummary],
                           labels: int | None) -> None:
    cycles = np.array([c for s in summaries for c, o in zip(s.step_cycles, s.outcomes, strict=True)
                       if o == 0],
                      dtype=np.float64)
    hz = m.cycles_hz or 0
    p95 = _percentile(cycles, 95)

    def to_us(c: float | None) -> float | None:
        return c / hz * 1e6 if c is not None and hz else None

    ipc = ctx.device.clock.instructions_per_cycle
    if labels is None:
        labels = m.selected if ctx.spec.params.select_score != "none" else m.seen
    ctx.record(train_step_us_p50=to_us(_percentile(cycles, 50)), train_step_us_p95=to_us(p95),
               train_step_us_max=to_us(float(cycles.max()) if len(cycles) else None),
               train_step_cycles_p95=p95,
               train_step_instructions_p95=p95 * ipc if p95 is not None and ipc else None,
               backward_macs_ratio=(m.macs_backward / m.macs_backward_full
                                    if m.macs_backward_full else None),
               samples_trained=m.trained, samples_skipped=m.skipped,
               samples_not_selected=m.seen - m.selected, labels_used=labels,
               arena_peak_bytes=m.arena_peak, stack_high_water_bytes=m.stack_high_water,
               frames_bad=m.frames_bad)
    ctx.annotate(device_metrics={
        "k_mean": list(m.k_mean()), "k_min": list(m.k_min[: m.n_layers]),
        "k_max": list(m.k_max[: m.n_layers]), "cycles_hz": hz,
        "forward_cycles_mean": m.forward.mean, "backward_cycles_mean": m.backward.mean,
        "update_cycles_mean": m.update.mean, "macs_forward": m.macs_forward,
        "macs_backward": m.macs_backward, "macs_backward_full": m.macs_backward_full,
        "frames_ok": m.frames_ok, "frames_duplicate": m.frames_duplicate,
        "rx_overruns": m.rx_overruns, "arena_size": m.arena_size},
        step_cycles=[int(c) for s in summaries for c in s.step_cycles])
