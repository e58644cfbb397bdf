"""Thresholds a plan puts on a run's metrics, and the catalogue of those metrics.

A plan writes `accuracy: ">= 0.90"`; this module parses that into a
`Threshold`, knows which metric names exist (so a typo fails when the plan is
loaded, not after an hour on the bench) and checks a measured value.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["METRICS", "MetricInfo", "Threshold", "ThresholdError", "Verdict", "check"]


@dataclass(frozen=True)
class MetricInfo:
    unit: str
    meaning: str


#: Every metric a run records, with its unit and meaning (README lists the same).
METRICS: Mapping[str, MetricInfo] = {
    "accuracy": MetricInfo("ratio", "share of the test split the device classifies right after streaming"),
    "accuracy_before": MetricInfo("ratio", "the same, with the base weights before streaming"),
    "accuracy_gain": MetricInfo("ratio", "accuracy minus accuracy_before"),
    "loss": MetricInfo("nats", "mean cross-entropy on the test split after streaming"),
    "loss_before": MetricInfo("nats", "mean cross-entropy on the test split before streaming"),
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
        "ratio", "backward MACs spent over what full backpropagation would spend"),
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
}


class ThresholdError(ValueError):
    """A threshold string that does not parse; the message shows the accepted form."""


_OPS: Mapping[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}
_SUFFIX = {"": 1, "k": 1000, "ki": 1024, "m": 1000**2, "mi": 1024**2}
_PATTERN = re.compile(
    r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(k|ki|m|mi)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Threshold:
    op: str
    value: float
    text: str

    @classmethod
    def parse(cls, text: object) -> Threshold:
        """`">= 0.90"`, `"<= 48Ki"` (Ki, Mi: powers of 1024; k, M: of 1000)."""
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise ThresholdError(f"threshold {text!r} must be a string like \">= 0.90\"")
        m = _PATTERN.match(str(text))
        if m is None:
            raise ThresholdError(
                f"threshold {str(text)!r} does not parse: write an operator "
                f"(>=, <=, >, <, ==, !=) and a number, e.g. \">= 0.90\" or \"<= 48Ki\"")
        op, number, suffix = m.groups()
        return cls(op, float(number) * _SUFFIX[(suffix or "").lower()], str(text).strip())

    def holds(self, actual: float) -> bool:
        return not math.isnan(actual) and _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Verdict:
    metric: str
    expected: str
    actual: float | None
    passed: bool
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"metric": self.metric, "expected": self.expected, "actual": self.actual,
                "passed": self.passed, "reason": self.reason}


def check(metric: str, threshold: Threshold, metrics: Mapping[str, float | None]) -> Verdict:
    """Judge one expectation against what a run measured."""
    actual = metrics.get(metric)
    if actual is None:
        return Verdict(metric, threshold.text, None, False,
                       f"{metric} was not measured on this device")
    ok = threshold.holds(float(actual))
    reason = f"{metric} = {actual:.6g} {'meets' if ok else 'misses'} {threshold}"
    return Verdict(metric, threshold.text, float(actual), ok, reason)
