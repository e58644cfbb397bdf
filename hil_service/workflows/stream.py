"""`stream`: the device adapts on the stream split, every sample labelled, `stream.epochs` passes."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hil_service.device import Device, TrainSummary
from hil_service.protocol import Quantization
from hil_service.workflows.adaptation import ADAPTATION_METRICS, adapt, check_stream_fits
from hil_service.workflows.base import Workflow, WorkflowContext

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import StrategyRun

__all__ = ["StreamWorkflow"]


class StreamWorkflow(Workflow):
    name: ClassVar[str] = "stream"
    summary: ClassVar[str] = "adapt the base model on the labelled stream split"
    metrics = ADAPTATION_METRICS

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:
        check_stream_fits(spec, len(data.scenario.x_stream))

    def run(self, ctx: WorkflowContext) -> None:
        stream = ctx.spec.stream

        def train(dev: Device, x: np.ndarray, y: np.ndarray,
                  quant: Quantization | None) -> tuple[list[TrainSummary], int | None]:
            xs, ys = np.concatenate([x] * stream.epochs), np.concatenate([y] * stream.epochs)
            summary = dev.train(xs, ys, batch_size=stream.batch_size, quant=quant,
                                progress=ctx.progress)
            return [summary], None

        adapt(ctx, train)
