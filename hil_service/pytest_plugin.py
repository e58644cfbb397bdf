"""pytest plugin (entry point `hil`): plans as test items, and `dut` / `duts` fixtures.

`pytest test_plans/smoke.yaml` (or `pytest --hil-plan test_plans/smoke.yaml`,
or a directory of plans) collects one item per (device,
strategy run, expectation), named `plan.yaml::device::run::metric`, so a
failure names the metric. A group run (one run on several devices) is one
set of items under its group label `a+b`: `plan.yaml::a+b::run::metric` for a
group metric and `...::metric[a]` for a per-device metric on member a. The
plan runs once, when its first item runs; every item then reports its own
verdict. Results land in a run directory (`--hil-out`, default
runs/pytest-<plan>-<time>) exactly as with `hil run`, and the run is indexed into
the run history of that directory's parent (history.py). Regressions against that
history are listed in the terminal summary; with `--hil-fail-on-regression` each
(device, run) also gets an item `...::run::regressions` that fails on one (with
the option it is there for every run, passing or not, so names stay stable
between nights, as junit.xml's `regressions` case).

The session-scoped `dut` fixture gives hand-written HIL tests a locked device
brought up by `BringUp` (firmware answering HELLO, build id checked):
`--hil-dut`, `--hil-backend`. `duts` gives several at once (`--hil-duts a,b`
or `--hil-group N` of `--hil-backend`), locked in a fixed order and brought
up in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from hil_service.bringup import BringUp, LiveDevice
from hil_service.errors import HilError
from hil_service.inventory import DEFAULT_INVENTORY, DeviceEntry, Inventory, load_inventory
from hil_service.locks import DeviceLock
from hil_service.plan import DeviceSelector, Plan, backend_kinds, load_plan
from hil_service.plan_limits import check_devices
from hil_service.selection import Skipped, check_device_names, select_devices, select_pool

__all__ = ["Dut"]

#: what the `dut` fixture yields (kept under its old name for hand-written tests)
Dut = LiveDevice


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop on-device learning")
    group.addoption("--hil-plan", type=Path, help="test plan to collect as test items")
    group.addoption("--hil-backend", choices=list(backend_kinds()),
                    help="device kind for the plan and the dut fixtures (default: the plan's / auto)")
    group.addoption("--hil-dut", help="inventory id of the device to use")
    group.addoption("--hil-duts", help="comma-separated inventory ids for the duts fixture")
    group.addoption("--hil-group", type=int, default=2,
                    help="how many devices the duts fixture takes without --hil-duts (default 2)")
    group.addoption("--hil-inventory", type=Path, default=DEFAULT_INVENTORY,
                    help=f"lab inventory or Twister hardware map (default {DEFAULT_INVENTORY})")
    group.addoption("--hil-out", type=Path, help="run directory for the plan's results")
    group.addoption("--hil-fail-on-regression", action="store_true",
                    help="a regression against the run history (in --hil-out's parent) fails "
                         "the run and its `regressions` item")


def pytest_configure(config: pytest.Config) -> None:
    plan = config.getoption("--hil-plan")
    if plan is not None and str(plan) not in config.args:
        config.args.append(str(plan))
    config.stash[_RUN_KEY] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _is_plan(file_path, parent.config):
        return PlanFile.from_parent(parent, path=file_path)
    return None


def _is_plan(file_path: Path, config: pytest.Config) -> bool:
    """--hil-plan; a YAML file named on the command line (`pytest test_plans/smoke.yaml`);
    or, under a directory named there, a YAML file with a plan's `strategies` list.

    Only what the command line names: the YAML files a plain `pytest` walks past under
    testpaths (inventories, fixtures) are not plans.
    """
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    path = file_path.resolve()
    plan = config.getoption("--hil-plan")
    if plan is not None and path == Path(plan).resolve():
        return True
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    named = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    if path in named:
        return True
    if not any(d.is_dir() and path.is_relative_to(d) for d in named):
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and isinstance(data.get("strategies"), list)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # plan items first: they lock their devices only while the plan runs,
    # the dut fixtures hold theirs until the session ends
    items.sort(key=lambda item: not isinstance(item, (ExpectationItem, RegressionItem)))


_RUN_KEY = pytest.StashKey[dict[str, Any]]()


def _backend(config: pytest.Config) -> str | None:
    value = config.getoption("--hil-backend")
    return str(value) if value else None


class PlanFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from hil_service.runner import group_devices, group_label
        from hil_service.workflows import get as get_workflow

        cfg = self.config
        try:
            plan = load_plan(self.path)
            inventory = load_inventory(cfg.getoption("--hil-inventory"))
            check_device_names(plan, inventory)
            selection = select_pool(inventory, plan.devices, _backend(cfg), cfg.getoption("--hil-dut"))
            devices = selection.devices
            check_devices(self.path, plan, devices)  # the model's arena on each device, before boot
            groups = {run.name: group_devices(run, devices) for run in plan.strategies
                      if get_workflow(run.workflow).is_group()}
        except HilError as exc:
            raise self.CollectError(str(exc)) from None
        state = _PlanState(plan, self.path, devices, selection.skipped)
        judge_regressions = bool(cfg.getoption("--hil-fail-on-regression"))
        for skipped in selection.skipped:
            yield SkippedDeviceItem.from_parent(self, name=f"{skipped.device}::setup",
                                                skipped=skipped, strict=plan.require_all_devices)
        for device in devices:
            for run in plan.strategies:
                if run.name in groups:
                    continue
                for metric in run.expectations(device.id):
                    yield ExpectationItem.from_parent(
                        self, name=f"{device.id}::{run.name}::{metric}", state=state,
                        device=device.id, strategy=run.name, metric=metric, member=None)
                if judge_regressions:
                    yield RegressionItem.from_parent(self, name=f"{device.id}::{run.name}::regressions",
                                                     state=state, device=device.id, strategy=run.name)
        for run in plan.strategies:
            if run.name not in groups:
                continue
            ids = tuple(d.id for d in groups[run.name])
            label = group_label(ids)
            for metric, member, _ in run.checks(ids, group=True):
                suffix = f"[{member}]" if member is not None else ""
                yield ExpectationItem.from_parent(
                    self, name=f"{label}::{run.name}::{metric}{suffix}", state=state,
                    device=label, strategy=run.name, metric=metric, member=member)
            if judge_regressions:
                yield RegressionItem.from_parent(self, name=f"{label}::{run.name}::regressions",
                                                 state=state, device=label, strategy=run.name)

    def __repr__(self) -> str:
        return f"<PlanFile {self.path.name}>"


class _PlanState:
    """The plan's one run, shared by its items; started by the first item that needs it."""

    def __init__(self, plan: Plan, path: Path, devices: list[DeviceEntry],
                 skipped: Sequence[Skipped] = ()) -> None:
        self.plan, self.path, self.devices, self.skipped = plan, path, devices, skipped
        self.outcome: Any = None
        self.failure: str | None = None
        self._seconds: dict[tuple[str, str], float] | None = None
        self._data: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The finished run's run.json."""
        if self._data is None:
            from hil_service.results import load_run

            self._data = load_run(self.outcome.directory)
        return self._data

    def seconds(self, device: str, strategy: str) -> float | None:
        """An item's share of its strategy run's wall time (as junit.xml gives it)."""
        if self.outcome is None:
            return None
        if self._seconds is None:
            from hil_service.results import case_seconds

            self._seconds = case_seconds(self.data())
        return self._seconds.get((device, strategy))

    def ensure_run(self, config: pytest.Config) -> None:
        if self.outcome is not None or self.failure is not None:
            return
        from hil_service.cancel import cancel_on_signals
        from hil_service.results import new_run_dir
        from hil_service.runner import run_plan

        out = config.getoption("--hil-out")
        if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
            self.failure = f"--hil-out {out} is not empty; results are never overwritten"
            return
        if out is None:
            out = new_run_dir(Path(config.rootpath) / "runs", f"pytest-{self.plan.name}")
        try:
            with cancel_on_signals():  # a CI cancel (SIGTERM) tears down as Ctrl-C does
                self.outcome = run_plan(self.plan, self.path, self.devices, Path(out),
                                        skipped=self.skipped,
                                        fail_on_regression=bool(config.getoption("--hil-fail-on-regression")))
        except HilError as exc:
            # an expected failure of the whole plan: every item reports it, once each;
            # anything else is a bug and fails the item that ran it with its traceback
            self.failure = f"{type(exc).__name__}: {exc}"
        config.stash[_RUN_KEY][str(self.path)] = self


class HilExpectationFailed(AssertionError):
    """An expectation missed, or the run that should measure it broke."""


class ExpectationItem(pytest.Item):
    def __init__(self, *, state: _PlanState, device: str, strategy: str, metric: str,
                 member: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state, self.device, self.strategy, self.metric = state, device, strategy, metric
        self.member = member  # the group member a per-device metric is judged on
        self.user_properties.append(("hil_metric", metric))
        if member is not None:
            self.user_properties.append(("hil_device", member))

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
        verdict = next(v for v in summary.verdicts
                       if v.metric == self.metric and v.device == self.member)
        self.user_properties.append(("hil_actual", verdict.actual))
        if not verdict.passed:
            raise HilExpectationFailed(verdict.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, HilExpectationFailed):
            return f"{self.device} {self.strategy}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class RegressionItem(pytest.Item):
    """One (device or group, run): fails when the run history flags a regression of that
    run (history.py's rule: outside median +- max(3 scaled MADs, a floor) of earlier runs)."""

    def __init__(self, *, state: _PlanState, device: str, strategy: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state, self.device, self.strategy = state, device, strategy

    def runtest(self) -> None:
        from hil_service.history import regression_line, run_regressions

        self.state.ensure_run(self.config)
        if self.state.failure is not None:
            raise HilExpectationFailed(f"the plan could not run: {self.state.failure}")
        data = self.state.data()
        run = next((r for r in data.get("runs") or []
                    if isinstance(r, dict) and r.get("device") == self.device
                    and r.get("strategy") == self.strategy), None)
        if run is None:
            raise HilExpectationFailed(f"{self.device} {self.strategy}: no result recorded")
        if data.get("history_error"):
            # the history is an extra: an unusable store never changes a verdict
            self.user_properties.append(("hil_history_error", data["history_error"]))
        found = run_regressions(data, run)
        self.user_properties.extend(("hil_regression", regression_line(r)) for r in found)
        if found:
            raise HilExpectationFailed("; ".join(regression_line(r) for r in found))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, HilExpectationFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class SkippedDeviceItem(pytest.Item):
    """A device the plan selects that is unavailable: skipped with its reason (or failed
    if the plan sets require_all_devices)."""

    def __init__(self, *, skipped: Skipped, strict: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.skipped, self.strict = skipped, strict

    def runtest(self) -> None:
        message = f"device {self.skipped.device} unavailable: {self.skipped.reason}"
        if self.strict:
            raise HilExpectationFailed(message + " (the plan requires all devices)")
        pytest.skip(message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The plan runs inside its first item: give each item its share of its own run's time."""
    outcome = yield
    if call.when == "call" and isinstance(item, ExpectationItem):
        seconds = item.state.seconds(item.device, item.strategy)
        if seconds is not None:
            outcome.get_result().duration = seconds  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    states = config.stash.get(_RUN_KEY, {})
    for state in states.values():
        if state.outcome is None:
            continue
        from hil_service.history_cli import regression_summary

        terminalreporter.section(f"hil plan {state.plan.name}")
        for s in state.outcome.summaries:
            terminalreporter.write_line(s.line())
        for line in regression_summary(state.data())[0]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"results: {state.outcome.directory}")


@pytest.fixture(scope="session")
def hil_inventory(pytestconfig: pytest.Config) -> Inventory:
    try:
        return load_inventory(pytestconfig.getoption("--hil-inventory"))
    except HilError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def dut(pytestconfig: pytest.Config, hil_inventory: Inventory) -> Iterator[LiveDevice]:
    """The session's device: --hil-dut, else the first available of --hil-backend (auto)."""
    try:
        entry = select_devices(hil_inventory, DeviceSelector(limit=1), _backend(pytestconfig),
                               pytestconfig.getoption("--hil-dut"))[0]
        bring = BringUp(entry)
        lock = DeviceLock(bring.lock_key)
        lock.acquire()
    except HilError as exc:
        pytest.fail(f"dut: {str(exc).splitlines()[0]}", pytrace=False)
    try:
        with bring:
            try:
                live = bring.up()
            except HilError as exc:
                pytest.fail(f"dut {entry.id}: {bring.diagnose(exc)}", pytrace=False)
            yield live
    finally:
        lock.release()


@pytest.fixture(scope="session")
def duts(pytestconfig: pytest.Config, hil_inventory: Inventory) -> Iterator[tuple[LiveDevice, ...]]:
    """Several devices at once: --hil-duts a,b, else --hil-group N available of --hil-backend."""
    from hil_service.runner import DeviceGroup

    named = pytestconfig.getoption("--hil-duts")
    try:
        if named:
            entries = [select_devices(hil_inventory, DeviceSelector(), None, name.strip())[0]
                       for name in named.split(",") if name.strip()]
        else:
            size = pytestconfig.getoption("--hil-group")
            entries = select_devices(hil_inventory, DeviceSelector(limit=size), _backend(pytestconfig))
            if len(entries) < size:
                pytest.fail(f"duts: {size} devices wanted, {len(entries)} available "
                            f"({', '.join(e.id for e in entries)})", pytrace=False)
        group = DeviceGroup(entries)
    except HilError as exc:
        pytest.fail(f"duts: {str(exc).splitlines()[0]}", pytrace=False)
    try:
        group.lock()
    except HilError as exc:
        group.close()
        pytest.fail(f"duts: {str(exc).splitlines()[0]}", pytrace=False)
    try:
        try:
            lives = group.up()
        except HilError as exc:
            pytest.fail(f"duts: {group.diagnose(exc)}", pytrace=False)
        yield lives
    finally:
        group.close()
