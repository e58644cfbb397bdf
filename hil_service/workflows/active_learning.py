"""`active_learning`: the host is the labelling oracle for what the device is least sure of.

Rounds of: the device scores the unlabelled pool (INFER), the host labels the
`query_size` most uncertain samples, the device trains on them; until the
label budget is spent. Its plan section:

    active_learning: {score: entropy, budget: 100, query_size: 20}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hil_service.device import Device, TrainSummary
from hil_service.expectations import MetricInfo
from hil_service.protocol import Quantization
from hil_service.reference import ScoreKind
from hil_service.workflows.adaptation import ADAPTATION_METRICS, adapt, check_stream_fits
from hil_service.workflows.base import PlanMismatch, Workflow, WorkflowContext

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import StrategyRun

__all__ = ["ActiveLearningSpec", "ActiveLearningWorkflow"]

SCORES = {s.name.lower(): s for s in ScoreKind if s != ScoreKind.NONE}


class ActiveLearningSpec(BaseModel):
    """The host is the labelling oracle: it labels what the device is least sure of."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: str = "entropy"
    budget: Annotated[int, Field(ge=1)]
    query_size: Annotated[int, Field(ge=1)] = 20

    @field_validator("score")
    @classmethod
    def _score(cls, v: str) -> str:
        if v not in SCORES:
            raise ValueError(f"unknown score {v!r}; known: {', '.join(SCORES)}")
        return v


class ActiveLearningWorkflow(Workflow):
    name: ClassVar[str] = "active_learning"
    summary: ClassVar[str] = "the device scores the pool, the host labels the most uncertain"
    section: ClassVar[str | None] = "active_learning"
    section_model = ActiveLearningSpec
    implied_by_section: ClassVar[bool] = True
    metrics = {**ADAPTATION_METRICS, "query_rounds": MetricInfo(
        "rounds", "active learning: rounds of score, label and train until the budget was spent")}

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:
        n = len(data.scenario.x_stream)
        check_stream_fits(spec, n)
        al = spec.section
        assert isinstance(al, ActiveLearningSpec)
        if al.budget > n:
            raise PlanMismatch(f"strategy run {spec.name}: active_learning.budget {al.budget} is "
                               f"more than the {n} samples of the stream split")

    def run(self, ctx: WorkflowContext) -> None:
        al = ctx.section(ActiveLearningSpec)
        kind = SCORES[al.score]
        batch_size = ctx.spec.stream.batch_size
        rounds = 0

        def train(dev: Device, x: np.ndarray, y: np.ndarray,
                  quant: Quantization | None) -> tuple[list[TrainSummary], int | None]:
            nonlocal rounds
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
                summaries.append(dev.train(x[pick], y[pick], batch_size=batch_size, quant=quant))
                used += len(pick)
                rounds += 1
                pool = np.setdiff1d(pool, pick, assume_unique=True)
                ctx.progress(used, budget)
            return summaries, used

        adapt(ctx, train)
        ctx.record(query_rounds=rounds)
