"""What a workflow is, and what the runner hands it.

A workflow is what one strategy run does with its device(s): adapt on a
stream, query an oracle, average across a group. It declares its plan section
(a pydantic model under one key of the strategy run), the metrics it records
(into the catalogue `expect:` is checked against), how many devices it needs,
and its run function. The runner owns everything around it: devices, locks,
bring-up, journal, expectations; the workflow sees only a `WorkflowContext`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel

from hil_service.errors import ConfigError, HilError
from hil_service.expectations import MetricInfo

if TYPE_CHECKING:
    from hil_service.base_models import BaseModel as BaseWeights
    from hil_service.base_models import PreparedData
    from hil_service.bringup import LiveDevice
    from hil_service.plan import StrategyRun

__all__ = ["PlanMismatch", "RunStopped", "Workflow", "WorkflowContext"]

S = TypeVar("S", bound=BaseModel)


class RunStopped(HilError):
    """The run was interrupted (Ctrl-C); raised in the workflow at its next progress report."""


class PlanMismatch(ConfigError):
    """The plan asks for more than the data set gives; found before any device is touched."""


@dataclass(frozen=True)
class WorkflowContext:
    """Everything one strategy run may use; the callbacks journal as they go."""

    spec: StrategyRun
    devices: tuple[LiveDevice, ...]
    data: PreparedData
    base: BaseWeights
    #: record(**metrics): the run's metrics (a group run's group metrics); journalled at once
    record: Callable[..., None]
    #: record_device(device_id, **metrics): one member's metrics in a group run
    record_device: Callable[..., None]
    #: annotate(**fields): other journal fields of the run (timings, step_cycles, hashes)
    annotate: Callable[..., None]
    #: progress(done, total): tells the human; raises RunStopped once the run is stopped
    progress: Callable[[int, int], None]
    stop: threading.Event
    #: this strategy run's own directory inside the `hil run` directory, for the files a
    #: workflow keeps (Flower logs, partitions); not created until the workflow writes there
    run_dir: Path
    #: restart(device_id): the runner restarts that member through its own BringUp and
    #: journals it; the new LiveDevice (ctx.devices keeps the ones handed over at the start)
    restart: Callable[[str], LiveDevice]

    @property
    def device(self) -> LiveDevice:
        """The device of a single-device workflow."""
        if len(self.devices) != 1:
            raise RuntimeError(f"workflow {self.spec.workflow} has {len(self.devices)} devices, "
                               f"not one: use ctx.devices")
        return self.devices[0]

    def section(self, model: type[S]) -> S:
        """The run's workflow section, validated when the plan loaded."""
        value = self.spec.section
        if not isinstance(value, model):
            raise RuntimeError(f"strategy run {self.spec.name} has no {model.__name__} section")
        return value


class Workflow(ABC):
    """One kind of strategy run. Subclasses set the class variables and `run`."""

    name: ClassVar[str]
    #: one line for `docs` and error messages
    summary: ClassVar[str]
    #: the key of this workflow's section in a strategy run (None: it has none)
    section: ClassVar[str | None] = None
    section_model: ClassVar[type[BaseModel] | None] = None
    #: a run without `workflow:` that has this section runs this workflow (active_learning)
    implied_by_section: ClassVar[bool] = False
    metrics: ClassVar[Mapping[str, MetricInfo]]
    min_devices: ClassVar[int] = 1
    #: 1: a single-device workflow, run on each selected device; None: no upper bound
    max_devices: ClassVar[int | None] = 1

    @classmethod
    def is_group(cls) -> bool:
        return cls.max_devices != 1

    def parse_section(self, raw: Any) -> BaseModel | None:
        """The validated section; pydantic's ValidationError names the bad field."""
        if self.section_model is None:
            return None
        if raw is None:
            return None
        return self.section_model.model_validate(raw)

    def check_fits(self, spec: StrategyRun, data: PreparedData) -> None:  # noqa: B027 - optional hook
        """Raise PlanMismatch when the run asks more than the data gives."""

    @abstractmethod
    def run(self, ctx: WorkflowContext) -> None:
        """Do the run on ctx.devices; record metrics through ctx; raise a HilError when broken."""
