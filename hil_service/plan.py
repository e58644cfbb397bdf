"""Test plans: which data, which base model, which devices, which strategies, what to expect.

A plan is YAML (test_plans/*.yaml). Everything is validated here, before any
device is touched: unknown fields, unknown strategies, datasets and shifts,
thresholds that do not parse and metrics that do not exist all fail with
`file:line: field: problem`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from hil_service import datasets
from hil_service.expectations import Threshold, ThresholdError, catalogue
from hil_service.reference import ScoreKind, Strategy, TrainParams
from hil_service.wire_gen import CONSTRAINTS as WIRE_CONSTRAINTS
from hil_service.wire_gen import PARAMS as WIRE_PARAMS
from hil_service.yaml_source import SourceError, YamlDocument, load_yaml

__all__ = ["BackendKind", "GroupSpec", "Plan", "PlanError", "StrategyRun", "load_plan"]

PlanError = SourceError


def backend_kinds() -> tuple[str, ...]:
    """"auto" and every registered backend kind, in `auto`'s order."""
    from hil_service.backends.registry import AUTO, auto_order

    return (AUTO, *auto_order())


class BackendKind(str):
    """A backend kind the registry knows, or "auto" (hil_service.backends.registry)."""

    AUTO: ClassVar[BackendKind]

    def __new__(cls, value: str) -> BackendKind:
        if value != "auto" and value not in backend_kinds():
            raise ValueError(f"unknown backend {value!r}; known: {', '.join(backend_kinds())}")
        return super().__new__(cls, value)

    @property
    def value(self) -> str:
        return str(self)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema())


BackendKind.AUTO = BackendKind("auto")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioSpec(_Strict):
    """How the dataset splits: base (host pretraining), stream (device), test."""

    base: Annotated[float, Field(gt=0, lt=1)] = 0.5
    stream: Annotated[float, Field(gt=0, lt=1)] = 0.25
    test: Annotated[float, Field(gt=0, lt=1)] = 0.25
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 1  # numpy's generators take no negative seed
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
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 7  # the core's RNG seed is a u32
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.05
    #: start from an earlier run's final weights (hil_service/lineage.py), or from a blob file;
    #: then the recipe fields above are not used and hidden defaults to the weights' own
    from_run: str | None = None
    strategy: str | None = None  # which of from_run's results, when it kept several
    device: str | None = None
    blob: str | None = None

    @field_validator("hidden")
    @classmethod
    def _depth(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) > 2:
            raise ValueError("at most 2 hidden layers (the core holds 4 layers of sizes)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> BaseModelSpec:
        if self.from_run is not None and self.blob is not None:
            raise ValueError("give from_run or blob, not both")
        if self.from_run is None and (self.strategy is not None or self.device is not None):
            raise ValueError("strategy and device choose among the results of from_run")
        return self


class DeviceSelector(_Strict):
    """Which inventory devices run the plan; the CLI's --backend/--dut override it."""

    backend: BackendKind = BackendKind.AUTO
    ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    limit: Annotated[int, Field(ge=1)] | None = None


STRATEGY_NAMES = {s.name.lower(): s for s in Strategy}
SCORE_NAMES = {s.name.lower(): s for s in ScoreKind}


class TrainingParams(_Strict):
    """Training parameters of a strategy run. Ranges and defaults come from the wire table
    (firmware_zephyr/protocol/wire.toml), the same ones the codec and the device enforce,
    so a value the device would refuse fails here with file and line."""

    learning_rate: float = float(WIRE_PARAMS["learning_rate"].default)
    momentum: float = float(WIRE_PARAMS["momentum"].default)
    s_min: float = float(WIRE_PARAMS["s_min"].default)
    s_max: float = float(WIRE_PARAMS["s_max"].default)
    zeta: float = float(WIRE_PARAMS["zeta"].default)
    gate_threshold: float = float(WIRE_PARAMS["gate_threshold"].default)
    select_score: str = str(WIRE_PARAMS["select_score"].default)
    select_threshold: float = float(WIRE_PARAMS["select_threshold"].default)
    pseudo_score: str = str(WIRE_PARAMS["pseudo_score"].default)
    pseudo_threshold: float = float(WIRE_PARAMS["pseudo_threshold"].default)
    l2sp_lambda: float = float(WIRE_PARAMS["l2sp_lambda"].default)

    @field_validator("*")
    @classmethod
    def _in_table_range(cls, v: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        WIRE_PARAMS[info.field_name].check(v)
        # a constraint is checked on its later field, so the error points at that line
        for c in WIRE_CONSTRAINTS:
            if info.field_name == c.rhs and c.lhs in info.data:
                c.check({c.lhs: info.data[c.lhs], c.rhs: v})
        return v


class StreamSpec(_Strict):
    samples: Annotated[int, Field(ge=1)] | None = None  # None: the whole stream split
    epochs: Annotated[int, Field(ge=1, le=100)] = 1
    batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None
    encoding: Literal["float32", "int8"] = "float32"


class GroupSpec(_Strict):
    """The devices of a group run: how many, or which (ids among the selected devices)."""

    count: Annotated[int, Field(ge=1, le=64)] | None = None
    ids: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_way(self) -> GroupSpec:
        if self.count is None and not self.ids:
            raise ValueError("give count or ids")
        if self.count is not None and self.ids and self.count != len(self.ids):
            raise ValueError(f"count {self.count} but {len(self.ids)} ids")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("an id is listed twice")
        return self

    @property
    def size(self) -> int:
        return len(self.ids) or self.count or 0


def _threshold(v: Any) -> Threshold:
    try:
        return Threshold.parse(v)
    except ThresholdError as exc:
        raise ValueError(str(exc)) from None


def _workflow_of(data: dict[str, Any]) -> str:
    """A run without `workflow:` runs the workflow its section implies, else `stream`."""
    from hil_service.workflows.registry import registered

    implied = [wf.name for wf in registered().values()
               if wf.implied_by_section and wf.section is not None and wf.section in data]
    return implied[0] if len(implied) == 1 else "stream"


class StrategyRun(_Strict):
    # the workflow's own section (e.g. `active_learning:`) is the one extra key allowed
    model_config = ConfigDict(extra="allow", frozen=True)

    # names become file names, JUnit test names and metric labels: keep them short
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    strategy: str
    #: what the run does with its device(s): a registered workflow (hil_service.workflows)
    workflow: str = "stream"
    #: a group run's devices (group workflows only); default: the workflow's minimum
    devices: GroupSpec | None = None
    params: TrainingParams = TrainingParams()
    stream: StreamSpec = StreamSpec()
    expect: dict[str, Any] = Field(default_factory=dict)
    #: per device id, thresholds that replace or add to `expect` on that device
    expect_on: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_workflow(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("workflow") is None:
            return {**data, "workflow": _workflow_of(data)}
        return data

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        if v not in STRATEGY_NAMES:
            raise ValueError(f"unknown strategy {v!r}; known: {', '.join(STRATEGY_NAMES)}")
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: str) -> str:
        from hil_service.workflows.registry import get

        get(v)  # UnknownWorkflow (a ValueError) names the known ones, or why it did not load
        return v

    @model_validator(mode="after")
    def _section(self) -> StrategyRun:
        from hil_service.workflows.registry import get

        wf = get(self.workflow)
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        for key in extra:
            if key != wf.section:
                raise ValueError(f"unknown field {key!r} (workflow {wf.name} "
                                 + (f"takes section {wf.section!r})" if wf.section else "has no section)"))
        if wf.section is not None:
            raw = extra.get(wf.section)
            if raw is None:
                if wf.section_model is not None and _required(wf.section_model):
                    raise ValueError(f"workflow {wf.name} needs its {wf.section}: section")
            elif not isinstance(raw, BaseModel):
                try:
                    extra[wf.section] = wf.parse_section(raw)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"])
                    raise ValueError(f"{wf.section}.{where}: {first['msg']}") from None
        size = self.devices.size if self.devices is not None else wf.min_devices
        if not wf.is_group() and self.devices is not None:
            raise ValueError(f"devices: workflow {wf.name} runs on each selected device in turn; "
                             f"devices: is for group workflows")
        if size < wf.min_devices or (wf.max_devices is not None and size > wf.max_devices):
            bound = f"{wf.min_devices}" + ("+" if wf.max_devices is None else f"..{wf.max_devices}")
            raise ValueError(f"devices: workflow {wf.name} takes {bound} devices, not {size}")
        return self

    @property
    def section(self) -> BaseModel | None:
        """The workflow's validated section (None when the workflow has none or it is left out)."""
        from hil_service.workflows.registry import get

        name = get(self.workflow).section
        extra = self.__pydantic_extra__ or {}
        value = extra.get(name) if name is not None else None
        return value if isinstance(value, BaseModel) else None

    @property
    def group_size(self) -> int:
        """Devices one run of this uses at once (1 for single-device workflows)."""
        from hil_service.workflows.registry import get

        wf = get(self.workflow)
        if not wf.is_group():
            return 1
        return self.devices.size if self.devices is not None else wf.min_devices

    def checks(self, device_ids: tuple[str, ...], group: bool) -> list[tuple[str, str | None, Threshold]]:
        """What to judge, as (metric, device or None, threshold).

        A single-device run judges `expect` with that device's `expect_on`. A
        group run judges a per-device metric on each member (its `expect_on`
        wins there) and any other metric once, on the group's figures.
        """
        if not group:
            (device_id,) = device_ids
            return [(m, None, t) for m, t in self.thresholds(device_id).items()]
        from hil_service.expectations import catalogue

        cat = catalogue()
        out: list[tuple[str, str | None, Threshold]] = []
        for metric, text in self.expect.items():
            info = cat.get(metric)
            if info is not None and info.per_device:
                out += [(metric, d, self.thresholds(d)[metric]) for d in device_ids]
            else:
                out.append((metric, None, _threshold(text)))
        for d in device_ids:
            for metric, text in self.expect_on.get(d, {}).items():
                info = cat.get(metric)
                if metric not in self.expect and info is not None and info.per_device:
                    out.append((metric, d, _threshold(text)))
        return out

    def expectations(self, device_id: str) -> dict[str, Any]:
        return {**self.expect, **self.expect_on.get(device_id, {})}

    def thresholds(self, device_id: str) -> dict[str, Threshold]:
        return {m: _threshold(t) for m, t in self.expectations(device_id).items()}

    def train_params(self) -> TrainParams:
        p = self.params
        return TrainParams(STRATEGY_NAMES[self.strategy], learning_rate=p.learning_rate,
                           momentum=p.momentum, s_min=p.s_min, s_max=p.s_max, zeta=p.zeta,
                           gate_threshold=p.gate_threshold, select_score=SCORE_NAMES[p.select_score],
                           select_threshold=p.select_threshold,
                           pseudo_score=SCORE_NAMES[p.pseudo_score],
                           pseudo_threshold=p.pseudo_threshold, l2sp_lambda=p.l2sp_lambda)


class Plan(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    dataset: str
    scenario: ScenarioSpec = ScenarioSpec()
    base_model: BaseModelSpec = BaseModelSpec()
    devices: DeviceSelector = DeviceSelector()
    #: a selected device that is unavailable fails the run (else it is recorded as skipped)
    require_all_devices: bool = False
    strategies: Annotated[tuple[StrategyRun, ...], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _recipe(cls, data: Any) -> Any:
        from hil_service.data.recipes import with_recipe  # the data set's default base_model

        return with_recipe(data)

    @model_validator(mode="before")
    @classmethod
    def _base_source(cls, data: Any, info: ValidationInfo) -> Any:
        from hil_service.lineage import with_base_source  # from_run/blob: absolute; hidden of the weights

        return with_base_source(data, (info.context or {}).get("base_dir"))

    @field_validator("dataset", mode="before")
    @classmethod
    def _user_file(cls, v: Any, info: ValidationInfo) -> Any:
        from hil_service.data.user import dataset_name  # {path: data.npz|csv} -> "file:<abs path>"

        return v if isinstance(v, str) else dataset_name(v, (info.context or {}).get("base_dir"))

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        from hil_service.data.user import PREFIX, UserDataError

        if v.startswith(PREFIX):
            try:
                datasets.load(v)
            except UserDataError as exc:
                raise ValueError(str(exc)) from None
            return v
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


def _required(model: type[BaseModel]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())


def _check_sections(doc: YamlDocument) -> None:
    """Unknown keys and bad workflow sections of each run, at their own line."""
    from hil_service.workflows.registry import registered

    runs = doc.data.get("strategies") if isinstance(doc.data, dict) else None
    if not isinstance(runs, list):
        return
    known = registered()
    for i, raw in enumerate(runs):
        if not isinstance(raw, dict):
            continue
        name = raw.get("workflow") or _workflow_of(raw)
        wf = known.get(name) if isinstance(name, str) else None
        if wf is None:
            continue  # the model's validation names the unknown workflow
        sections = {w.section: w.name for w in known.values() if w.section is not None}
        for key in raw:
            if key not in StrategyRun.model_fields and key != wf.section:
                owner = sections.get(key)
                raise doc.error(("strategies", i, key), "unknown field" + (
                    f" (the section of workflow {owner}; this run's workflow is {wf.name})"
                    if owner else ""))
        if "devices" in raw and not wf.is_group():
            raise doc.error(("strategies", i, "devices"),
                            f"workflow {wf.name} runs on each selected device in turn; "
                            f"devices: is for group workflows")
        if wf.section is not None and raw.get(wf.section) is not None:
            try:
                wf.parse_section(raw[wf.section])
            except ValidationError as exc:
                raise doc.validation_error(exc, prefix=("strategies", i, wf.section)) from None


def load_plan(path: Path | str) -> Plan:
    """Load and validate a plan; PlanError names file, line and field."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a plan is a mapping with name, dataset and strategies")
    from hil_service.workflows.registry import get as get_workflow

    _check_sections(doc)
    try:
        plan = Plan.model_validate(doc.data, context={"base_dir": Path(doc.path).parent})
    except ValidationError as exc:
        raise doc.validation_error(exc) from None
    cat = catalogue()
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
                if metric not in cat:
                    raise doc.error((*loc, metric), f"unknown metric {metric!r}; known: "
                                                    f"{', '.join(cat)}")
                measured = get_workflow(run.workflow).metrics
                if metric not in measured:
                    raise doc.error((*loc, metric), f"metric {metric!r} is not measured by workflow "
                                                    f"{run.workflow}; it measures: {', '.join(measured)}")
                try:
                    Threshold.parse(text, cat[metric])
                except ThresholdError as exc:
                    raise doc.error((*loc, metric), str(exc)) from None
    from hil_service.plan_limits import check_plan

    check_plan(doc, plan)
    from hil_service.lineage import check_plan_base

    check_plan_base(doc, plan)
    return plan
