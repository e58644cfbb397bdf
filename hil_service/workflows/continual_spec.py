"""The `continual:` section of a strategy run: the task sequence, replay and growth.

    continual:
      tasks: [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]]   # class-incremental: class groups
      # tasks: [{shift: none}, {shift: sensor_offset, strength: 0.5}, {shift: misaligned}]
      #                                               # domain-incremental: one shift a task
      epochs: 5                  # passes over each task's data
      replay: distilled          # none | random | herding | distilled
      budget: {fraction: 0.02}   # or {samples: 26} or {bytes: 6656}: the replay memory
      ratio: 1                   # replay steps after every new sample
      accuracy_standard: 0.9     # grow while the seen classes' accuracy is below it
      grow_by: 8                 # hidden neurons added per growth step
      max_hidden: 64             # widest a hidden layer may grow
      hidden: [16]               # start widths (default: the plan's base_model.hidden)

Everything a plan can get wrong here fails at load time with the field's line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hil_service import datasets

__all__ = ["Budget", "ContinualSpec", "DomainTask", "REPLAY_METHODS"]

#: plan name -> hil_service.distill.Method value (None: no memory)
REPLAY_METHODS: dict[str, str | None] = {"none": None, "random": "random", "herding": "herding",
                                         "distilled": "distribution_matching"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainTask(_Strict):
    """One domain-incremental task: the same classes through a shift. strength s blends
    x + s * (shift(x) - x): 0 is the clean data, 1 the shift as datasets.SHIFTS defines it."""

    shift: str
    strength: Annotated[float, Field(ge=0, le=1)] = 1.0

    @field_validator("shift")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in datasets.SHIFTS:
            raise ValueError(f"unknown shift {v!r}; known: {', '.join(datasets.SHIFTS)}")
        return v


class Budget(_Strict):
    """The replay memory's size: exactly one of samples, bytes (as the device stores them)
    or a fraction of the training data (base + stream splits)."""

    samples: Annotated[int, Field(ge=1, le=65535)] | None = None
    bytes: Annotated[int, Field(ge=1)] | None = None
    fraction: Annotated[float, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Budget:
        given = [k for k in ("samples", "bytes", "fraction") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give the budget as exactly one of samples, bytes or fraction"
                             + (f", not {' and '.join(given)}" if given else ""))
        return self


ClassTasks = tuple[tuple[Annotated[int, Field(ge=0, le=255)], ...], ...]


class ContinualSpec(_Strict):
    tasks: ClassTasks | tuple[DomainTask, ...]
    epochs: Annotated[int, Field(ge=1, le=100)] = 1
    replay: Literal["none", "random", "herding", "distilled"] = "none"
    budget: Budget | None = None
    ratio: Annotated[int, Field(ge=1, le=255)] = 1
    accuracy_standard: Annotated[float, Field(gt=0, le=1)] | None = None
    grow_by: Annotated[int, Field(ge=1, le=256)] | None = None
    max_hidden: Annotated[int, Field(ge=1, le=256)] | None = None
    hidden: tuple[Annotated[int, Field(ge=1, le=256)], ...] | None = None
    #: distribution matching's iterations (replay: distilled)
    distill_iterations: Annotated[int, Field(ge=1, le=5000)] = 300

    @field_validator("tasks", mode="before")
    @classmethod
    def _shape(cls, v: Any) -> Any:
        # pydantic's union error lists both shapes' complaints; say which shape was meant
        if not isinstance(v, (list, tuple)) or len(v) < 2:
            raise ValueError("tasks is a list of at least 2 tasks: class groups like [[0, 1], [2]] "
                             "or shifts like [{shift: none}, {shift: misaligned}]")
        kinds = {"domain" if isinstance(t, dict) else "class" if isinstance(t, (list, tuple))
                 else "bad" for t in v}
        if "bad" in kinds or len(kinds) > 1:
            raise ValueError("every task is a list of classes (class-incremental) or every task is "
                             "a mapping with shift and strength (domain-incremental), not a mix")
        if kinds == {"domain"}:
            out = []
            for i, t in enumerate(v):
                try:
                    out.append(DomainTask.model_validate(t))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"])
                    raise ValueError(f"task {i}: {where}: {first['msg']}") from None
            return tuple(out)
        for i, group in enumerate(v):
            bad = [c for c in group if isinstance(c, bool) or not isinstance(c, int)
                   or not 0 <= c <= 255]
            if bad:
                raise ValueError(f"task {i}: class {bad[0]!r} is not an integer in 0..255")
        return v

    @field_validator("tasks")
    @classmethod
    def _classes(cls, v: Any) -> Any:
        if v and isinstance(v[0], DomainTask):
            return v
        seen: set[int] = set()
        for i, group in enumerate(v):
            if not group:
                raise ValueError(f"task {i} has no classes")
            for c in group:
                if c in seen:
                    raise ValueError(f"class {c} is in two tasks (task {i} and an earlier one)")
                seen.add(c)
        if len(v[0]) < 2:
            raise ValueError("the first task needs at least 2 classes (the base model's output)")
        return v

    @field_validator("hidden")
    @classmethod
    def _depth(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and not 1 <= len(v) <= 2:
            raise ValueError("1 or 2 hidden layers (the core holds 4 layers of sizes)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ContinualSpec:
        if self.replay == "none" and self.budget is not None:
            raise ValueError("budget: replay none keeps no memory; set replay or drop the budget")
        if self.replay != "none" and self.budget is None:
            raise ValueError(f"replay {self.replay} needs a budget: {{samples|bytes|fraction: ...}}")
        growth = (self.accuracy_standard, self.grow_by, self.max_hidden)
        if any(g is not None for g in growth) and any(g is None for g in growth):
            raise ValueError("growth needs all of accuracy_standard, grow_by and max_hidden "
                             "(leave all three out to keep the size fixed)")
        if self.max_hidden is not None and self.hidden is not None and max(self.hidden) > self.max_hidden:
            raise ValueError(f"hidden {list(self.hidden)} is wider than max_hidden {self.max_hidden}")
        return self

    @property
    def class_incremental(self) -> bool:
        return not isinstance(self.tasks[0], DomainTask)

    @property
    def grows(self) -> bool:
        return self.accuracy_standard is not None

    @property
    def method(self) -> str | None:
        return REPLAY_METHODS[self.replay]
