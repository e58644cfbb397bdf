"""`hil run --pushgateway URL`: push one run's metrics to a Prometheus Pushgateway.

For CI jobs that end before Prometheus scrapes them. The series are the ones
`hil serve` would export for the run directory alone (same names, labels and
help), cut into Pushgateway groups under job "hil":

* {plan, board, strategy} for the per-strategy series (values, verdicts, status),
* {plan, board} for what is known of a device (firmware, availability),
* {plan} for the run as a whole (status, finish time, group membership).

So jobs of one plan on different devices never replace each other's series.
Each group is pushed with POST (pushadd), which replaces only the metric
families the push carries: a strategy run that broke pushes its status
(error) but no accuracy, so the gateway keeps the last good accuracy next to
the flagged status, as `hil serve` does.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, pushadd_to_gateway
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from hil_service.errors import HilError
from hil_service.metrics_export import RunsCollector

__all__ = ["JOB", "PushError", "push_groups", "push_run"]

JOB = "hil"
#: families that describe the files on disk or the exporter, not the run
NOT_PUSHED = {"hil_runs", "hil_unreadable_run_files", "hil_run_in_progress", "hil_build_info"}
GROUP_LABELS = ("plan", "board", "strategy")

Group = tuple[tuple[str, str], ...]


class PushError(HilError):
    """The Pushgateway did not take the run's metrics; names the gateway and why."""


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def push_groups(run_dir: Path) -> dict[Group, list[Metric]]:
    """The run's metric families split into Pushgateway groups (grouping key -> families)."""
    plan = ""
    families = list(RunsCollector(run_dir).collect())
    for family in families:
        for sample in family.samples:
            plan = plan or sample.labels.get("plan", "")
    groups: dict[Group, dict[str, Metric]] = {}
    for family in families:
        if family.name in NOT_PUSHED:
            continue
        for sample in family.samples:
            labels = {"plan": plan, **sample.labels}  # hil_firmware_info has no plan label
            key: Group = tuple((k, labels[k]) for k in GROUP_LABELS if k in labels)
            if family.name == "hil_group_member":
                key = (("plan", labels["plan"]),)
            out = groups.setdefault(key, {})
            if family.name not in out:
                out[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            out[family.name].samples.append(sample)
    return {key: list(fams.values()) for key, fams in sorted(groups.items())}


def push_run(run_dir: Path, gateway: str, timeout: float = 10.0) -> int:
    """Push the run in run_dir; returns how many groups were pushed."""
    groups = push_groups(run_dir)
    for key, families in groups.items():
        registry = CollectorRegistry()
        registry.register(_Families(families))
        try:
            pushadd_to_gateway(gateway, job=JOB, registry=registry, grouping_key=dict(key),
                               timeout=timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise PushError(f"pushgateway {gateway}: pushing {dict(key)} failed: {reason}") from None
    return len(groups)
