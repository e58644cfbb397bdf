"""`continual`: a sequence of tasks on one device, with replay and growth (docs/continual.md).

The host pretrains task 0's base model on the twin; the device is configured for the
largest model the run can reach plus the replay memory, loads the base and then
learns task after task as workflows/continual_schedule.py describes (grow outputs,
load replay, train with replay interleaved, evaluate every task so far, widen the
hidden layers while the accuracy is below the standard). The accuracy matrix R, the
decisions and the model after each task go to run.json; the joint-training upper
bound of the final-size model is computed on the host twin.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hil_service.device import Device
from hil_service.protocol import Quantization
from hil_service.reference import Arch, Mlp, ScoreKind, TrainParams
from hil_service.workflows.base import PlanMismatch, Workflow, WorkflowContext
from hil_service.workflows.continual_data import TaskSequence, build_tasks, check_replay_fits
from hil_service.workflows.continual_metrics import (
    CONTINUAL_METRICS,
    average_accuracy,
    backward_transfer,
    forgetting,
)
from hil_service.workflows.continual_schedule import (
    Recipe,
    inference_macs,
    joint_accuracy,
    pretrain_base,
    run_schedule,
)
from hil_service.workflows.continual_spec import ContinualSpec

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import StrategyRun

__all__ = ["ContinualWorkflow", "DeviceLearner"]


class DeviceLearner:
    """The schedule's Learner on a device over the wire protocol."""

    def __init__(self, dev: Device, params: TrainParams, quant: Quantization | None,
                 batch_size: int | None, progress: Any) -> None:
        self.dev, self.params, self.quant = dev, params, quant
        self.batch_size, self.progress = batch_size, progress
        self.step_cycles: list[int] = []
        #: host seconds per phase (link and device time together)
        self.seconds: dict[str, float] = {}

    def _timed(self, phase: str, t0: float) -> None:
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.monotonic() - t0, 3)

    def start(self, arch: Arch, max_arch: Arch, replay_capacity: int, blob: bytes) -> int:
        t0 = time.monotonic()
        self.dev.reset()
        arena = self.dev.configure_continual(arch, self.params, max_arch=max_arch,
                                             replay_capacity=replay_capacity)
        self.dev.load_weights(blob)
        self._timed("start", t0)
        return arena

    def grow(self, to: Arch, seed: int) -> int:
        t0 = time.monotonic()
        n = self.dev.grow(to, seed)
        self._timed("grow", t0)
        return n

    def load_replay(self, x: np.ndarray, y: np.ndarray, ratio: int) -> int:
        t0 = time.monotonic()
        n = self.dev.load_replay(x, y, ratio=ratio, quant=self.quant)
        self._timed("load_replay", t0)
        return n

    def train(self, x: np.ndarray, y: np.ndarray) -> int:
        """Trains; returns the MACs the device counted (new and replay steps)."""
        t0 = time.monotonic()
        self.dev.metrics(reset=True)
        s = self.dev.train(x, y, batch_size=self.batch_size, quant=self.quant,
                           progress=self.progress)
        self.step_cycles += s.step_cycles
        m = self.dev.metrics()
        self._timed("train", t0)
        return int(m.macs_forward + m.macs_backward)

    def predict(self, x: np.ndarray) -> np.ndarray:
        t0 = time.monotonic()
        p = self.dev.infer(x, score_kind=ScoreKind.NONE, quant=self.quant).predicted
        self._timed("infer", t0)
        return p

    def model(self) -> Mlp:
        t0 = time.monotonic()
        m = Mlp.from_blob(self.dev.read_weights())
        self._timed("read_weights", t0)
        return m


def _sequence(spec: ContinualSpec, data: PreparedData) -> TaskSequence:
    return build_tasks(spec, data.scenario, data.n_classes, data.image_shape)


class ContinualWorkflow(Workflow):
    name: ClassVar[str] = "continual"
    summary: ClassVar[str] = "learn a sequence of tasks with replay and growth; forgetting measured"
    section: ClassVar[str | None] = "continual"
    section_model = ContinualSpec
    implied_by_section: ClassVar[bool] = True
    metrics = CONTINUAL_METRICS

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:
        c = spec.section
        if not isinstance(c, ContinualSpec):
            raise PlanMismatch(f"strategy run {spec.name}: workflow continual needs its continual: "
                               "section")
        if spec.stream.samples is not None or spec.stream.epochs != 1:
            raise PlanMismatch(f"strategy run {spec.name}: stream.samples and stream.epochs do not "
                               "apply to continual runs; set continual.epochs")
        seq = _sequence(c, data)
        check_replay_fits(c, seq, spec.stream.encoding)
        if data.base_recipe is None:
            raise PlanMismatch(f"strategy run {spec.name}: no base model recipe")

    def run(self, ctx: WorkflowContext) -> None:
        t_run = time.monotonic()
        spec, live, data = ctx.spec, ctx.device, ctx.data
        c = ctx.section(ContinualSpec)
        seq = _sequence(c, data)
        assert data.base_recipe is not None
        b = data.base_recipe
        recipe = Recipe(b.epochs, b.learning_rate, b.seed)
        hidden = c.hidden if c.hidden is not None else ctx.base.arch.sizes[1:-1]
        start, blob, cached = pretrain_base(seq, tuple(hidden), recipe)
        base = Mlp.from_blob(blob)
        _check_base(spec.name, base, seq)
        ctx.annotate(continual_base={"arch": str(start), "cached": cached,
                                     "host_accuracy": base.accuracy(seq.tasks[0].x_test,
                                                                    seq.tasks[0].y_test)},
                     continual_tasks=[{"name": k.name, "train": len(k.y_train),
                                       "test": len(k.y_test)} for k in seq.tasks],
                     continual_classes=list(seq.classes))
        ctx.record(ram_bytes=live.image.ram_bytes, flash_bytes=live.image.flash_bytes)
        quant = Quantization.for_range(0.0, 1.0) if spec.stream.encoding == "int8" else None
        learner = DeviceLearner(live.device, spec.train_params(), quant, spec.stream.batch_size,
                                ctx.progress)
        decisions: list[dict[str, Any]] = []

        def decide(**d: Any) -> None:
            decisions.append(d)
            ctx.annotate(continual_decisions=decisions)

        rows: list[list[float | None]] = []

        def on_row(t: int, row: list[float | None]) -> None:
            rows.append(row)  # R as far as it goes: a broken run still shows it
            ctx.annotate(accuracy_matrix=rows)

        out = run_schedule(learner, seq, c, start, blob, seed=b.seed,
                           encoding=spec.stream.encoding, decide=decide, on_row=on_row)
        joint = joint_accuracy(seq, out.arch, recipe)
        avg = average_accuracy(out.R)
        ctx.annotate(accuracy_matrix=out.R, average_accuracy_per_task=out.average_per_task,
                     arch_per_task=out.archs, step_cycles=learner.step_cycles,
                     timings={**learner.seconds, "total": round(time.monotonic() - t_run, 3)})
        ctx.record(accuracy=out.accuracy, average_accuracy=avg, forgetting=forgetting(out.R),
                   backward_transfer=backward_transfer(out.R), replay_bytes=out.replay_bytes,
                   model_params=out.arch.n_params, inference_macs=inference_macs(out.arch),
                   training_macs_total=out.training_macs, growth_steps=out.growth_steps,
                   joint_accuracy=joint, joint_gap=joint - avg,
                   arena_bytes=decisions[0].get("arena_bytes") if decisions else None)


def _check_base(run: str, base: Mlp, seq: TaskSequence) -> None:
    from hil_service.base_models import BaseModelError, near_chance

    t0 = seq.tasks[0]
    acc = base.accuracy(t0.x_test, t0.y_test)
    if near_chance(acc, seq.outputs[0]):
        raise BaseModelError(f"strategy run {run}: task 0's base model {base.arch} reaches {acc:.3f} "
                             f"on its test set, near chance ({1 / seq.outputs[0]:.3f}): set "
                             "base_model.learning_rate/epochs in the plan")
