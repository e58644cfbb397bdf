"""`few_shot`: the device adapts from k labelled target-domain samples per class.

Few-shot results are noisy (which k samples were drawn matters as much as k),
so every k is repeated over several seeds and reported as mean and spread. Its
plan section:

    few_shot: {k: [1, 5, 10], seeds: [0, 1, 2]}

For each seed, one draw per class orders that class's samples of the stream
split; the support set of size k is the first k of each class, so a seed's
k = 1 set lies inside its k = 5 set (the curve over k shows more labels, not
other labels). The set is shuffled by the seed and streamed `stream.epochs`
times. Every (k, seed) adaptation starts afresh from the base weights: RESET,
CONFIGURE, LOAD_WEIGHTS, TRAIN, EVALUATE on the whole (shifted) test split.

Metrics: `accuracy_k<k>_mean` and `accuracy_k<k>_sd` (sample standard
deviation over the seeds) for each k of the plan; `accuracy` is the mean at the
largest k, `accuracy_gain` that minus `accuracy_before` (the base weights).
k takes the values of K_CHOICES, so each metric name is known when the plan
loads and a typo in `expect:` fails there. The trust metrics (trust.py) compare
each seed's model at the largest k with the base on the unshifted test split,
as means over the seeds; the run's final weights (lineage) are the last seed's
at the largest k. Each adaptation's accuracy is kept in run.json under
"few_shot" (report_few_shot.py plots it).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hil_service.device import Evaluation
from hil_service.expectations import MetricInfo
from hil_service.protocol import Quantization
from hil_service.trust import TRUST_METRICS, SourceProbe, TrustFigures
from hil_service.workflows.adaptation import ADAPTATION_METRICS
from hil_service.workflows.base import PlanMismatch, Workflow, WorkflowContext

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import StrategyRun

__all__ = ["FEW_SHOT_METRICS", "K_CHOICES", "FewShotSpec", "FewShotWorkflow", "aggregate",
           "metric_names", "support_indices"]

#: the k a plan may ask for: each has its registered metrics (accuracy_k5_mean, ...)
K_CHOICES = (1, 2, 3, 5, 10, 20)
SEED_MAX = 2**32 - 1  # numpy's generators take no larger seed
T = TypeVar("T")


def metric_names(k: int) -> tuple[str, str]:
    """The mean and spread metrics of one k."""
    return f"accuracy_k{k}_mean", f"accuracy_k{k}_sd"


def _per_k_metrics() -> dict[str, MetricInfo]:
    out: dict[str, MetricInfo] = {}
    for k in K_CHOICES:
        mean, sd = metric_names(k)
        out[mean] = MetricInfo("ratio", f"few-shot: test accuracy after training on {k} labelled "
                                        "target samples per class, mean over the seeds",
                               better="higher")
        out[sd] = MetricInfo("ratio", f"few-shot: sample standard deviation over the seeds of "
                                      f"that accuracy at k = {k}", better="lower")
    return out


_SHARED = ("accuracy", "accuracy_before", "accuracy_gain", "ram_bytes", "flash_bytes",
           "arena_bytes")
FEW_SHOT_METRICS: Mapping[str, MetricInfo] = {
    **{name: ADAPTATION_METRICS[name] for name in _SHARED},
    **_per_k_metrics(),
    **TRUST_METRICS,
    "adaptations": MetricInfo("runs", "few-shot: adaptations done (k values x seeds), each from "
                                      "the base weights"),
}


class FewShotSpec(BaseModel):
    """k labelled samples per class from the target domain, for each k and each seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: Annotated[tuple[int, ...], Field(min_length=1)]
    #: at least two: one seed says nothing about the spread
    seeds: Annotated[tuple[Annotated[int, Field(ge=0, le=SEED_MAX)], ...], Field(min_length=2)]

    @field_validator("k")
    @classmethod
    def _k(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        bad = [k for k in v if k not in K_CHOICES]
        if bad:
            raise ValueError(f"k {bad[0]} is not one of {', '.join(map(str, K_CHOICES))} "
                             "(each k has its registered metrics)")
        if list(v) != sorted(set(v)):
            raise ValueError("k values must be increasing, each once")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v):
            raise ValueError("a seed is listed twice")
        return v


def support_indices(y: np.ndarray, n_classes: int, k: int, seed: int) -> np.ndarray:
    """Indices into y of k samples per class, nested in k for one seed, in shuffled order."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(n_classes)]
    short = [c for c, idx in enumerate(per_class) if len(idx) < k]
    if short:
        raise ValueError(f"class {short[0]} has {len(per_class[short[0]])} samples, fewer than k={k}")
    chosen = np.concatenate([idx[:k] for idx in per_class])
    # the order: a second draw of the same generator, so it does not depend on k's order
    order = np.random.default_rng([seed, k]).permutation(len(chosen))
    out: np.ndarray = chosen[order]
    return out


@dataclass(frozen=True)
class KResult:
    k: int
    mean: float
    sd: float
    accuracies: tuple[float, ...]


def aggregate(accuracies: Mapping[int, Sequence[float]]) -> list[KResult]:
    """Per k (ascending): mean and sample standard deviation (ddof 1) over the seeds."""
    out = []
    for k in sorted(accuracies):
        a = np.asarray(accuracies[k], dtype=np.float64)
        if len(a) < 2:
            raise ValueError(f"k={k}: {len(a)} result(s); the spread needs two seeds or more")
        out.append(KResult(k, float(a.mean()), float(a.std(ddof=1)), tuple(float(v) for v in a)))
    return out


def check_few_shot_fits(spec: StrategyRun, data: PreparedData) -> None:
    fs = spec.section
    assert isinstance(fs, FewShotSpec)
    if spec.stream.samples is not None:
        raise PlanMismatch(f"strategy run {spec.name}: stream.samples is not used by few_shot "
                           "(its samples are k per class); leave it out")
    counts = np.bincount(data.scenario.y_stream, minlength=data.n_classes)
    k = max(fs.k)
    short = np.flatnonzero(counts < k)
    if len(short):
        c = int(short[0])
        raise PlanMismatch(f"strategy run {spec.name}: few_shot.k {k} is more than the "
                           f"{int(counts[c])} samples of class {c} in the stream split")


class FewShotWorkflow(Workflow):
    name: ClassVar[str] = "few_shot"
    summary: ClassVar[str] = "adapt from k labelled target samples per class, over several seeds"
    section: ClassVar[str | None] = "few_shot"
    section_model = FewShotSpec
    implied_by_section: ClassVar[bool] = True
    metrics = FEW_SHOT_METRICS

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:
        check_few_shot_fits(spec, data)

    def run(self, ctx: WorkflowContext) -> None:
        fs = ctx.section(FewShotSpec)
        spec, live, base, sc = ctx.spec, ctx.device, ctx.base, ctx.data.scenario
        dev = live.device
        quant = Quantization.for_range(0.0, 1.0) if spec.stream.encoding == "int8" else None
        params = spec.train_params()
        ctx.record(ram_bytes=live.image.ram_bytes, flash_bytes=live.image.flash_bytes)

        # host seconds per phase, summed over the adaptations (what a CI budget is spent on)
        timings: dict[str, float] = {}

        def timed(phase: str, fn: Callable[[], T]) -> T:
            t0 = time.monotonic()
            try:
                return fn()
            finally:
                timings[phase] = round(timings.get(phase, 0.0) + time.monotonic() - t0, 4)

        def fresh() -> int:
            dev.reset()
            arena = dev.configure(base.arch, params)
            timed("load_weights", lambda: dev.load_weights(base.blob))
            return arena

        def evaluate() -> Evaluation:
            return timed("evaluate", lambda: dev.evaluate(sc.x_test, sc.y_test, quant=quant))

        arena = fresh()
        ctx.annotate(base_weights_sha256=base.sha256)
        base_eval = evaluate()
        before = base_eval.accuracy
        # the base model's predictions on the unshifted split: the trust figures compare
        # each seed's model at the largest k with them
        probe = timed("evaluate_source", lambda: SourceProbe.before(dev, ctx.data, base.blob, quant,
                                                                    base_eval))
        ctx.record(accuracy_before=before, arena_bytes=arena)
        trust: list[TrustFigures] = []
        total = len(fs.k) * len(fs.seeds)
        results: dict[int, list[float]] = {k: [] for k in fs.k}
        trials: list[dict[str, float | int]] = []
        for seed in fs.seeds:
            for k in fs.k:
                idx = support_indices(sc.y_stream, ctx.data.n_classes, k, seed)
                x = np.concatenate([sc.x_stream[idx]] * spec.stream.epochs)
                y = np.concatenate([sc.y_stream[idx]] * spec.stream.epochs)
                fresh()
                summary = timed("train", functools.partial(
                    dev.train, x, y, batch_size=spec.stream.batch_size, quant=quant))
                after = evaluate()
                acc = after.accuracy
                results[k].append(acc)
                if k == fs.k[-1]:
                    figures = timed("evaluate_source", functools.partial(probe.after, dev, quant,
                                                                         after))
                    trust += [figures] if figures is not None else []
                trials.append({"k": k, "seed": seed, "accuracy": acc, "labels": len(idx),
                               "trained": summary.trained})
                ctx.annotate(few_shot={"k": list(fs.k), "seeds": list(fs.seeds),
                                       "accuracy_before": before, "trials": trials},
                             timings=dict(timings))
                ctx.progress(len(trials), total)
        per_k = aggregate(results)
        for r in per_k:
            mean, sd = metric_names(r.k)
            ctx.record(**{mean: r.mean, sd: r.sd})
        ctx.record(accuracy=per_k[-1].mean, accuracy_gain=per_k[-1].mean - before,
                   adaptations=len(trials))
        if trust:
            ctx.record(**{name: float(np.mean([t.metrics()[name] for t in trust]))
                          for name in TRUST_METRICS})
        # the device ends with the last seed's model at the largest k: the runner's lineage
        # record reads it back as this run's result
