"""Thresholds a plan puts on a run's metrics, and the catalogue of those metrics.

A plan writes `accuracy: ">= 0.90"`; this module parses that into a
`Threshold`, keeps the catalogue of metric names (so a typo fails when the plan
is loaded, not after an hour on the bench) and checks a measured value.

The catalogue is filled by the workflows (hil_service.workflows): each
registers the metrics it measures when the registry loads it; `catalogue()`
loads the registry first.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["AMOUNT", "METRICS", "RATIO", "RATIO_CHANGE", "MetricInfo", "Threshold", "ThresholdError",
           "UnitKind", "Verdict", "catalogue", "check", "register_metrics",
           "unregister_metrics"]


@dataclass(frozen=True)
class UnitKind:
    """What a threshold on a metric may say: k/Ki/M/Mi suffixes, and the values it can reach."""

    scalable: bool = True
    low: float = -math.inf
    high: float = math.inf


AMOUNT = UnitKind()  # counts, bytes, times: any value, suffixes welcome
RATIO = UnitKind(scalable=False, low=0.0, high=1.0)  # a share: ">= 0.9Ki" can never hold
RATIO_CHANGE = UnitKind(scalable=False, low=-1.0, high=1.0)  # a difference of two shares


@dataclass(frozen=True)
class MetricInfo:
    unit: str
    meaning: str
    #: in a group run, measured on each device (judged once per device), not once for the group
    per_device: bool = False
    #: None: RATIO for unit "ratio", else AMOUNT
    kind: UnitKind | None = None
    #: which way is better ("higher" | "lower"), for regression checks (history.py);
    #: None lets history.direction() infer it from the unit, or not check the metric
    better: str | None = field(default=None, compare=False)

    @property
    def unit_kind(self) -> UnitKind:
        return self.kind or (RATIO if self.unit == "ratio" else AMOUNT)


#: Every metric a workflow records, with its unit and meaning (README lists them).
METRICS: dict[str, MetricInfo] = {}
#: the workflows that registered each metric, first one first
_OWNERS: dict[str, list[str]] = {}


class MetricClash(ValueError):
    """Two workflows register one metric name with different meanings."""


def register_metrics(owner: str, metrics: Mapping[str, MetricInfo]) -> None:
    """Add a workflow's metrics; sharing a name is fine if unit and meaning agree."""
    for name, info in metrics.items():
        known = METRICS.get(name)
        if known is not None and known != info:
            raise MetricClash(f"workflow {owner} registers metric {name!r} as {info}, but "
                              f"{_OWNERS[name][0]} registered it as {known}")
        METRICS[name] = info
        owners = _OWNERS.setdefault(name, [])
        if owner not in owners:
            owners.append(owner)


def unregister_metrics(owner: str) -> None:
    """Forget the metrics only this workflow registered (a test's workflow leaves no trace)."""
    for name in [n for n, owners in _OWNERS.items() if owner in owners]:
        _OWNERS[name].remove(owner)
        if not _OWNERS[name]:
            del _OWNERS[name], METRICS[name]


def catalogue() -> Mapping[str, MetricInfo]:
    """Every metric of every registered workflow (loads the workflow registry)."""
    from hil_service.workflows.registry import registered

    registered()
    return METRICS


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
    def parse(cls, text: object, info: MetricInfo | None = None) -> Threshold:
        """`">= 0.90"`, `"<= 48Ki"` (Ki, Mi: powers of 1024; k, M: of 1000); with the
        metric's info, a suffix or value its unit cannot take is refused too."""
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise ThresholdError(f"threshold {text!r} must be a string like \">= 0.90\"")
        m = _PATTERN.match(str(text))
        if m is None:
            raise ThresholdError(
                f"threshold {str(text)!r} does not parse: write an operator "
                f"(>=, <=, >, <, ==, !=) and a number, e.g. \">= 0.90\" or \"<= 48Ki\"")
        op, number, suffix = m.groups()
        value = float(number) * _SUFFIX[(suffix or "").lower()]
        if info is not None:
            kind = info.unit_kind
            if suffix and not kind.scalable:
                raise ThresholdError(f"threshold {str(text)!r}: a {info.unit} takes no "
                                     f"k/Ki/M/Mi suffix")
            if not kind.low <= value <= kind.high:
                raise ThresholdError(f"threshold {str(text)!r}: a {info.unit} lies in "
                                     f"{kind.low:g}..{kind.high:g}, {value:g} is outside")
        return cls(op, value, str(text).strip())

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
    #: the group member a per-device metric was judged on; None for a run's own metrics
    device: str | None = None

    @property
    def label(self) -> str:
        """`metric`, or `metric[device]` for one member of a group run."""
        return self.metric if self.device is None else f"{self.metric}[{self.device}]"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"metric": self.metric, "expected": self.expected,
                                  "actual": self.actual, "passed": self.passed, "reason": self.reason}
        if self.device is not None:
            out["device"] = self.device
        return out


def check(metric: str, threshold: Threshold, metrics: Mapping[str, float | None],
          device: str | None = None) -> Verdict:
    """Judge one expectation against what a run (or one member of a group) measured."""
    actual = metrics.get(metric)
    where = "on this device" if device is None else f"on {device}"
    if actual is None:
        return Verdict(metric, threshold.text, None, False, f"{metric} was not measured {where}",
                       device)
    ok = threshold.holds(float(actual))
    reason = (f"{metric} = {actual:.6g} {'meets' if ok else 'misses'} {threshold}"
              + ("" if device is None else f" on {device}"))
    return Verdict(metric, threshold.text, float(actual), ok, reason, device)
