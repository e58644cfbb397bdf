"""pytest plugin (entry point `hil`): plans as test items, and a `dut` fixture.

`pytest --hil-plan test_plans/smoke.yaml` collects one item per (device,
strategy run, expectation), named `plan.yaml::device::run::metric`, so a
failure names the metric. The plan runs once, when its first item runs;
every item then reports its own verdict. Results land in a run directory
(`--hil-out`, default runs/pytest-<plan>-<time>) exactly as with `hil run`.

The session-scoped `dut` fixture gives hand-written HIL tests a started,
locked device with its firmware answering HELLO (`--hil-dut`, `--hil-backend`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hil_service.backends import LiveTarget
from hil_service.device import Device
from hil_service.duts import (
    SelectionError,
    check_device_names,
    firmware_image,
    select_devices,
    start_target,
)
from hil_service.inventory import DEFAULT_INVENTORY, DeviceEntry, Inventory, load_inventory
from hil_service.locks import DeviceLock
from hil_service.plan import BackendKind, DeviceSelector, Plan, load_plan
from hil_service.protocol import Hello
from hil_service.yaml_source import SourceError

__all__ = ["Dut"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop on-device learning")
    group.addoption("--hil-plan", type=Path, help="test plan to collect as test items")
    group.addoption("--hil-backend", choices=[k.value for k in BackendKind],
                    help="device kind for the plan and the dut fixture (default: the plan's / auto)")
    group.addoption("--hil-dut", help="inventory id of the device to use")
    group.addoption("--hil-inventory", type=Path, default=DEFAULT_INVENTORY,
                    help=f"lab inventory or Twister hardware map (default {DEFAULT_INVENTORY})")
    group.addoption("--hil-out", type=Path, help="run directory for the plan's results")


def pytest_configure(config: pytest.Config) -> None:
    plan = config.getoption("--hil-plan")
    if plan is not None and str(plan) not in config.args:
        config.args.append(str(plan))
    config.stash[_RUN_KEY] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    plan = parent.config.getoption("--hil-plan")
    if plan is not None and file_path.resolve() == Path(plan).resolve():
        return PlanFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # plan items first: they lock their devices only while the plan runs,
    # the dut fixture holds its device until the session ends
    items.sort(key=lambda item: not isinstance(item, ExpectationItem))


_RUN_KEY = pytest.StashKey[dict[str, Any]]()


def _backend(config: pytest.Config) -> BackendKind | None:
    value = config.getoption("--hil-backend")
    return BackendKind(value) if value else None


class PlanFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        cfg = self.config
        try:
            plan = load_plan(self.path)
            inventory = load_inventory(cfg.getoption("--hil-inventory"))
            check_device_names(plan, inventory)
            devices = select_devices(inventory, plan.devices, _backend(cfg), cfg.getoption("--hil-dut"))
        except (SourceError, SelectionError) as exc:
            raise self.CollectError(str(exc)) from None
        state = _PlanState(plan, self.path, devices)
        for device in devices:
            for run in plan.strategies:
                for metric in run.expectations(device.id):
                    yield ExpectationItem.from_parent(
                        self, name=f"{device.id}::{run.name}::{metric}", state=state,
                        device=device.id, strategy=run.name, metric=metric)

    def __repr__(self) -> str:
        return f"<PlanFile {self.path.name}>"


class _PlanState:
    """The plan's one run, shared by its items; started by the first item that needs it."""

    def __init__(self, plan: Plan, path: Path, devices: list[DeviceEntry]) -> None:
        self.plan, self.path, self.devices = plan, path, devices
        self.outcome: Any = None
        self.failure: str | None = None

    def ensure_run(self, config: pytest.Config) -> None:
        if self.outcome is not None or self.failure is not None:
            return
        from hil_service.results import new_run_dir
        from hil_service.runner import run_plan

        out = config.getoption("--hil-out")
        if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
            self.failure = f"--hil-out {out} is not empty; results are never overwritten"
            return
        if out is None:
            out = new_run_dir(Path(config.rootpath) / "runs", f"pytest-{self.plan.name}")
        try:
            self.outcome = run_plan(self.plan, self.path, self.devices, Path(out))
        except Exception as exc:  # noqa: BLE001 - every item must report it, once each
            self.failure = f"{type(exc).__name__}: {exc}"
        config.stash[_RUN_KEY][str(self.path)] = self


class HilExpectationFailed(AssertionError):
    """An expectation missed, or the run that should measure it broke."""


class ExpectationItem(pytest.Item):
    def __init__(self, *, state: _PlanState, device: str, strategy: str, metric: str,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state, self.device, self.strategy, self.metric = state, device, strategy, metric
        self.user_properties.append(("hil_metric", metric))

    def runtest(self) -> None:
        self.state.ensure_run(self.config)
        if self.state.failure is not None:
            raise HilExpectationFailed(f"the plan could not run: {self.state.failure}")
        for summary in self.state.outcome.summaries:
            if summary.device == self.device and summary.strategy == self.strategy:
                break
        else:
            raise HilExpectationFailed(f"{self.device} {self.strategy}: no result recorded")
        if summary.status == "error":
            raise HilExpectationFailed(f"{self.device} {self.strategy} broke before "
                                       f"{self.metric} was judged: {summary.error}")
        verdict = next(v for v in summary.verdicts if v.metric == self.metric)
        self.user_properties.append(("hil_actual", verdict.actual))
        if not verdict.passed:
            raise HilExpectationFailed(verdict.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, HilExpectationFailed):
            return f"{self.device} {self.strategy}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.device}::{self.strategy}::{self.metric}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    states = config.stash.get(_RUN_KEY, {})
    for state in states.values():
        if state.outcome is None:
            continue
        terminalreporter.section(f"hil plan {state.plan.name}")
        for s in state.outcome.summaries:
            terminalreporter.write_line(s.line())
        terminalreporter.write_line(f"results: {state.outcome.directory}")


@dataclass
class Dut:
    """A started device under test with its firmware answering HELLO."""

    entry: DeviceEntry
    target: LiveTarget
    device: Device
    hello: Hello
    image: Path


@pytest.fixture(scope="session")
def hil_inventory(pytestconfig: pytest.Config) -> Inventory:
    try:
        return load_inventory(pytestconfig.getoption("--hil-inventory"))
    except SourceError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def dut(pytestconfig: pytest.Config, hil_inventory: Inventory) -> Iterator[Dut]:
    """The session's device: --hil-dut, else the first available of --hil-backend (auto)."""
    try:
        entry = select_devices(hil_inventory, DeviceSelector(limit=1), _backend(pytestconfig),
                               pytestconfig.getoption("--hil-dut"))[0]
    except (SourceError, SelectionError) as exc:
        pytest.fail(str(exc), pytrace=False)
    from hil_service.runner import RUN_ERRORS, lock_name

    lock = DeviceLock(lock_name(entry))
    try:
        lock.acquire()
        image = firmware_image(entry)
        target = start_target(entry, image)
    except RUN_ERRORS as exc:
        lock.release()
        pytest.fail(f"dut {entry.id}: {str(exc).splitlines()[0]}", pytrace=False)
    try:
        device = Device.open(target.serial_url, baudrate=entry.baud)
        try:
            yield Dut(entry, target, device, device.hello(), image)
        finally:
            device.close()
    finally:
        target.close()
        lock.release()
