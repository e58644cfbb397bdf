"""Test plans: which data, which base model, which devices, which strategies, what to expect.

A plan is YAML (test_plans/*.yaml). Everything is validated here, before any
device is touched: unknown fields, unknown strategies, datasets and shifts,
thresholds that do not parse and metrics that do not exist all fail with
`file:line: field: problem`.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hil_service import datasets
from hil_service.expectations import METRICS, Threshold, ThresholdError
from hil_service.reference import ScoreKind, Strategy, TrainParams
from hil_service.yaml_source import SourceError, load_yaml

__all__ = ["BackendKind", "Plan", "PlanError", "StrategyRun", "load_plan"]

PlanError = SourceError


class BackendKind(str, Enum):
    AUTO = "auto"
    BOARD = "board"
    RENODE = "renode"
    QEMU = "qemu"
    NATIVE = "native"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioSpec(_Strict):
    """How the dataset splits: base (host pretraining), stream (device), test."""

    base: Annotated[float, Field(gt=0, lt=1)] = 0.5
    stream: Annotated[float, Field(gt=0, lt=1)] = 0.25
    test: Annotated[float, Field(gt=0, lt=1)] = 0.25
    seed: int = 1
    shift: str = "none"

    @field_validator("shift")
    @classmethod
    def _known_shift(cls, v: str) -> str:
        if v not in datasets.SHIFTS:
            raise ValueError(f"unknown shift {v!r}; known: {', '.join(datasets.SHIFTS)}")
        return v

    @model_validator(mode="after")
    def _fits(self) -> ScenarioSpec:
        if self.base + self.stream + self.test > 1.0 + 1e-9:
            raise ValueError(f"base + stream + test = {self.base + self.stream + self.test:g} > 1")
        return self


class BaseModelSpec(_Strict):
    """The host-pretrained model the device starts from (numpy twin, full backprop)."""

    hidden: tuple[Annotated[int, Field(ge=1, le=256)], ...] = (32,)
    epochs: Annotated[int, Field(ge=0, le=500)] = 30
    seed: int = 7
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.05

    @field_validator("hidden")
    @classmethod
    def _depth(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) > 2:
            raise ValueError("at most 2 hidden layers (the core holds 4 layers of sizes)")
        return v


class DeviceSelector(_Strict):
    """Which inventory devices run the plan; the CLI's --backend/--dut override it."""

    backend: BackendKind = BackendKind.AUTO
    ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    limit: Annotated[int, Field(ge=1)] | None = None


STRATEGY_NAMES = {s.name.lower(): s for s in Strategy}
SCORE_NAMES = {s.name.lower(): s for s in ScoreKind}


class TrainingParams(_Strict):
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.05
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0
    s_min: Annotated[float, Field(ge=0, le=1)] = 0.1
    s_max: Annotated[float, Field(ge=0, le=1)] = 0.9
    zeta: Annotated[float, Field(gt=0, le=1)] = 0.5
    gate_threshold: Annotated[float, Field(ge=0)] = 0.0
    select_score: str = "none"
    select_threshold: Annotated[float, Field(ge=0)] = 0.0

    @field_validator("select_score")
    @classmethod
    def _score(cls, v: str) -> str:
        if v not in SCORE_NAMES:
            raise ValueError(f"unknown score {v!r}; known: {', '.join(SCORE_NAMES)}")
        return v

    @model_validator(mode="after")
    def _range(self) -> TrainingParams:
        if self.s_min > self.s_max:
            raise ValueError(f"s_min {self.s_min} is above s_max {self.s_max}")
        return self


class StreamSpec(_Strict):
    samples: Annotated[int, Field(ge=1)] | None = None  # None: the whole stream split
    epochs: Annotated[int, Field(ge=1, le=100)] = 1
    batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None
    encoding: Literal["float32", "int8"] = "float32"


class ActiveLearningSpec(_Strict):
    """The host is the labelling oracle: it labels what the device is least sure of."""

    score: str = "entropy"
    budget: Annotated[int, Field(ge=1)]
    query_size: Annotated[int, Field(ge=1)] = 20

    @field_validator("score")
    @classmethod
    def _score(cls, v: str) -> str:
        if v not in SCORE_NAMES or v == "none":
            raise ValueError(f"unknown score {v!r}; known: "
                             f"{', '.join(n for n in SCORE_NAMES if n != 'none')}")
        return v


def _threshold(v: Any) -> Threshold:
    try:
        return Threshold.parse(v)
    except ThresholdError as exc:
        raise ValueError(str(exc)) from None


class StrategyRun(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    strategy: str
    params: TrainingParams = TrainingParams()
    stream: StreamSpec = StreamSpec()
    active_learning: ActiveLearningSpec | None = None
    expect: dict[str, Any] = Field(default_factory=dict)
    #: per device id, thresholds that replace or add to `expect` on that device
    expect_on: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        if v not in STRATEGY_NAMES:
            raise ValueError(f"unknown strategy {v!r}; known: {', '.join(STRATEGY_NAMES)}")
        return v

    def expectations(self, device_id: str) -> dict[str, Any]:
        return {**self.expect, **self.expect_on.get(device_id, {})}

    def thresholds(self, device_id: str) -> dict[str, Threshold]:
        return {m: _threshold(t) for m, t in self.expectations(device_id).items()}

    def train_params(self) -> TrainParams:
        p = self.params
        return TrainParams(STRATEGY_NAMES[self.strategy], learning_rate=p.learning_rate,
                           momentum=p.momentum, s_min=p.s_min, s_max=p.s_max, zeta=p.zeta,
                           gate_threshold=p.gate_threshold, select_score=SCORE_NAMES[p.select_score],
                           select_threshold=p.select_threshold)


class Plan(_Strict):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    dataset: str
    scenario: ScenarioSpec = ScenarioSpec()
    base_model: BaseModelSpec = BaseModelSpec()
    devices: DeviceSelector = DeviceSelector()
    strategies: Annotated[tuple[StrategyRun, ...], Field(min_length=1)]

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if v not in datasets.LOADERS:
            raise ValueError(f"unknown dataset {v!r}; known: {', '.join(datasets.LOADERS)}")
        return v

    @field_validator("strategies")
    @classmethod
    def _unique(cls, v: tuple[StrategyRun, ...]) -> tuple[StrategyRun, ...]:
        seen: set[str] = set()
        for run in v:
            if run.name in seen:
                raise ValueError(f"strategy run name {run.name!r} is used twice")
            seen.add(run.name)
        return v

    def digest(self) -> str:
        """Content hash of the validated plan (what ran, whatever the file looked like)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_plan(path: Path | str) -> Plan:
    """Load and validate a plan; PlanError names file, line and field."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a plan is a mapping with name, dataset and strategies")
    try:
        plan = Plan.model_validate(doc.data)
    except ValidationError as exc:
        raise doc.validation_error(exc) from None
    # metrics and thresholds are checked in a second pass so the error points at the metric's line
    for i, run in enumerate(plan.strategies):
        sources = [(("strategies", i, "expect"), run.expect)] + [
            (("strategies", i, "expect_on", dev), exp) for dev, exp in run.expect_on.items()]
        if not run.expect:
            raise doc.error(("strategies", i, "expect") if "expect" in doc.data["strategies"][i]
                            else ("strategies", i),
                            "a strategy run needs at least one expectation (expect:)")
        for loc, expect in sources:
            for metric, text in expect.items():
                if metric not in METRICS:
                    raise doc.error((*loc, metric), f"unknown metric {metric!r}; known: "
                                                    f"{', '.join(METRICS)}")
                try:
                    Threshold.parse(text)
                except ThresholdError as exc:
                    raise doc.error((*loc, metric), str(exc)) from None
    return plan
