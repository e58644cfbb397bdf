"""`label_free`: the device adapts on unlabelled target-domain samples with its own pseudo labels.

The stream split goes to the device without labels (Device.train_unlabelled):
the core labels a sample with its own prediction when its confidence passes
`params.pseudo_threshold` under `params.pseudo_score`, and skips it otherwise
(docs/core.md). The host still knows the true labels, so it grades the pseudo
labels the device reports: `pseudo_labels_used` (how many it trained on) and
`pseudo_label_precision` (the share of those that were right). Zero labels
are used (`labels_used` 0). Its plan section (optional):

    label_free: {supervised_baseline: true}

With `supervised_baseline` the same device then adapts once more from the base
weights on the same samples with their true labels, same strategy and epochs:
`supervised_accuracy`, `supervised_gain`, and `gain_recovered` = accuracy_gain /
supervised_gain, the share of the supervised gain recovered without labels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from hil_service.device import Device, TrainSummary
from hil_service.expectations import RATIO_CHANGE, MetricInfo, UnitKind
from hil_service.protocol import Quantization
from hil_service.workflows.adaptation import ADAPTATION_METRICS, adapt, check_stream_fits
from hil_service.workflows.base import PlanMismatch, Workflow, WorkflowContext

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import StrategyRun

__all__ = ["LABEL_FREE_METRICS", "LabelFreeSpec", "LabelFreeWorkflow", "PseudoLabelGrade",
           "grade_pseudo_labels"]

#: a quotient of two gains: any sign, any size (a threshold on it takes no suffix)
QUOTIENT = UnitKind(scalable=False)

LABEL_FREE_METRICS: Mapping[str, MetricInfo] = {
    **ADAPTATION_METRICS,
    "pseudo_labels_used": MetricInfo(
        "samples", "label-free: samples the device pseudo-labelled and trained on (each pass counts)"),
    "pseudo_label_precision": MetricInfo(
        "ratio", "label-free: share of the device's pseudo labels that equal the true label",
        better="higher"),
    "supervised_accuracy": MetricInfo(
        "ratio", "label-free baseline: accuracy after the same adaptation with the true labels",
        better="higher"),
    "supervised_gain": MetricInfo(
        "ratio", "label-free baseline: supervised_accuracy minus accuracy_before", kind=RATIO_CHANGE,
        better="higher"),
    "gain_recovered": MetricInfo(
        "ratio", "label-free: accuracy_gain over supervised_gain, the share of the supervised gain "
        "reached without labels", kind=QUOTIENT, better="higher"),
}


BASELINE_METRICS = frozenset({"supervised_accuracy", "supervised_gain", "gain_recovered"})


class LabelFreeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: also adapt with the true labels (same samples, strategy, epochs) to compare the gains
    supervised_baseline: bool = False


class PseudoLabelGrade:
    """How the device's pseudo labels compare with the truth the host kept."""

    def __init__(self, pseudo: np.ndarray, truth: np.ndarray) -> None:
        if len(pseudo) != len(truth):
            raise ValueError(f"{len(pseudo)} pseudo labels for {len(truth)} samples")
        used = pseudo >= 0
        self.used = int(used.sum())
        self.right = int((pseudo[used] == truth[used]).sum())

    @property
    def precision(self) -> float | None:
        return self.right / self.used if self.used else None


def grade_pseudo_labels(summaries: list[TrainSummary], truth: np.ndarray) -> PseudoLabelGrade:
    """Grade the pseudo labels of the summaries (in stream order) against the true labels."""
    parts = []
    for s in summaries:
        if s.pseudo_labels is None:
            raise ValueError("a TRAIN summary without pseudo labels (was it a labelled TRAIN?)")
        parts.append(np.asarray(s.pseudo_labels, dtype=np.int64))
    pseudo = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return PseudoLabelGrade(pseudo, np.asarray(truth, dtype=np.int64))


class LabelFreeWorkflow(Workflow):
    name: ClassVar[str] = "label_free"
    summary: ClassVar[str] = "adapt on unlabelled target samples with the device's own pseudo labels"
    section: ClassVar[str | None] = "label_free"
    section_model = LabelFreeSpec
    implied_by_section: ClassVar[bool] = True
    metrics = LABEL_FREE_METRICS

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:
        check_stream_fits(spec, len(data.scenario.x_stream))
        lf = spec.section if isinstance(spec.section, LabelFreeSpec) else LabelFreeSpec()
        asked = sorted(m for exp in (spec.expect, *spec.expect_on.values()) for m in exp
                       if m in BASELINE_METRICS)
        if asked and not lf.supervised_baseline:
            raise PlanMismatch(f"strategy run {spec.name}: {asked[0]} is measured only with "
                               "label_free: {supervised_baseline: true}")

    def run(self, ctx: WorkflowContext) -> None:
        spec = ctx.spec
        lf = spec.section if isinstance(spec.section, LabelFreeSpec) else LabelFreeSpec()
        stream = spec.stream
        truth: list[np.ndarray] = []

        def train(dev: Device, x: np.ndarray, y: np.ndarray,
                  quant: Quantization | None) -> tuple[list[TrainSummary], int | None]:
            xs, ys = np.concatenate([x] * stream.epochs), np.concatenate([y] * stream.epochs)
            summary = dev.train_unlabelled(xs, batch_size=stream.batch_size, quant=quant,
                                           progress=ctx.progress)
            truth.append(ys)
            if summary.lost_replies:
                # a lost reply's batch trained but its pseudo labels never came: the rest
                # cannot be matched to their samples, so precision is not guessed
                ctx.record(pseudo_labels_used=summary.trained, pseudo_label_precision=None)
                ctx.annotate(pseudo_labels={"streamed": len(xs), "used": summary.trained,
                                            "note": f"{summary.lost_replies} TRAIN replies lost: "
                                                    "precision not measured"})
            else:
                grade = grade_pseudo_labels([summary], ys)
                ctx.record(pseudo_labels_used=grade.used, pseudo_label_precision=grade.precision)
                ctx.annotate(pseudo_labels={"used": grade.used, "right": grade.right,
                                            "streamed": len(xs)})
            return [summary], 0  # not one label was given

        measured: dict[str, float | None] = {}

        def record(**values: float | None) -> None:
            measured.update(values)
            ctx.record(**values)

        adapt(replace(ctx, record=record), train)
        before, gain = measured.get("accuracy_before"), measured.get("accuracy_gain")
        if lf.supervised_baseline and before is not None and gain is not None:
            self._supervised(ctx, truth[0], before, gain)

    @staticmethod
    def _supervised(ctx: WorkflowContext, ys: np.ndarray, before: float, gain: float) -> None:
        """The same adaptation with the true labels, from the base weights again."""
        spec, sc, base, dev = ctx.spec, ctx.data.scenario, ctx.base, ctx.device.device
        quant = Quantization.for_range(0.0, 1.0) if spec.stream.encoding == "int8" else None
        x = sc.x_stream if spec.stream.samples is None else sc.x_stream[: spec.stream.samples]
        xs = np.concatenate([x] * spec.stream.epochs)
        t0 = time.monotonic()
        dev.reset()
        dev.configure(base.arch, spec.train_params())
        dev.load_weights(base.blob)
        dev.train(xs, ys, batch_size=spec.stream.batch_size, quant=quant)
        acc = dev.evaluate(sc.x_test, sc.y_test, quant=quant).accuracy
        ctx.annotate(timings={"supervised_baseline": round(time.monotonic() - t0, 4)})
        # before: the base weights' accuracy adapt() measured on this device, same encoding
        supervised_gain = acc - before
        ctx.record(supervised_accuracy=acc, supervised_gain=supervised_gain,
                   gain_recovered=gain / supervised_gain if supervised_gain > 0 else None)

