"""Workflows as registered plugins, the runner as lifecycle only, and device groups.

Real firmware throughout: the host build on a pty (two of them for a group).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree as ET

import pytest

from hil_service.backends import LiveTarget
from hil_service.expectations import MetricInfo, catalogue
from hil_service.inventory import load_inventory
from hil_service.locks import DeviceLock
from hil_service.metrics_export import exposition
from hil_service.plan import PlanError, load_plan
from hil_service.report import write_report
from hil_service.runner import run_plan
from hil_service.workflows import (
    Workflow,
    WorkflowContext,
    get,
    register,
    registered,
    unregister,
)
from hil_service.workflows.active_learning import ActiveLearningSpec
from hil_service.workflows.adaptation import ADAPTATION_METRICS
from hil_service.workflows.stream import StreamWorkflow

from .conftest import PASSING_RUN, small_plan
from .group_workflow import GROUP_PLAN, TWO_NATIVE, PairEvaluation


def test_builtins_come_from_the_entry_point_group() -> None:
    names = {ep.name for ep in entry_points(group="hil_service.workflows")}
    assert {"stream", "active_learning"} <= names
    assert {"stream", "active_learning"} <= set(registered())
    cat = catalogue()
    assert {"accuracy", "train_step_us_p95", "query_rounds"} <= set(cat)
    assert "query_rounds" in get("active_learning").metrics
    assert "query_rounds" not in get("stream").metrics


def test_a_broken_plugin_is_left_out_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from hil_service.workflows import registry

    monkeypatch.setitem(registry.BUILTIN, "broken", "hil_service.no_such_module:Broken")
    monkeypatch.setattr(registry, "_loaded", None)
    try:
        with pytest.warns(RuntimeWarning, match="workflow plugin broken = .* failed to load"):
            known = registered()
        assert "broken" not in known and "stream" in known
        with pytest.raises(registry.UnknownWorkflow, match="ModuleNotFoundError"):
            get("broken")
    finally:
        monkeypatch.undo()
        registry._loaded = None
        registered()
    assert "broken" not in registry.load_failures()


def test_a_run_without_workflow_is_stream_or_what_its_section_implies(tmp_path: Path) -> None:
    runs = PASSING_RUN + """\
  - name: al
    strategy: last_layer
    active_learning: {score: margin, budget: 30, query_size: 10}
    expect: {query_rounds: "== 3"}
"""
    plan = load_plan(small_plan(tmp_path, runs))
    plain, al = plan.strategies
    assert plain.workflow == "stream" and plain.section is None
    assert al.workflow == "active_learning"
    assert al.section == ActiveLearningSpec(score="margin", budget=30, query_size=10)
    assert plan.model_dump(mode="json")["strategies"][1]["active_learning"]["budget"] == 30


RUN_END = "    stream: {samples: 64}\n"


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), [
    (RUN_END, RUN_END + "    active_learning: {budget: 0}\n",
     10, "strategies[0].active_learning.budget", "greater than or equal to 1"),
    (RUN_END, RUN_END + "    active_learning: {score: none, budget: 5}\n",
     10, "strategies[0].active_learning.score", "unknown score 'none'"),
    (RUN_END, RUN_END + "    workflow: stream\n    active_learning: {budget: 5}\n",
     11, "strategies[0].active_learning", "unknown field (the section of workflow active_learning; "
                                          "this run's workflow is stream)"),
    (RUN_END, RUN_END + "    workflow: gossip\n",
     10, "strategies[0].workflow", "unknown workflow 'gossip'; known: active_learning, "),
    (RUN_END, RUN_END + "    devices: {count: 2}\n",
     10, "strategies[0].devices", "workflow stream runs on each selected device in turn"),
    (RUN_END, RUN_END + "    replay: {size: 3}\n",
     10, "strategies[0].replay", "unknown field"),
    ('labels_used: "<= 64"', 'query_rounds: "<= 64"',
     10, "strategies[0].expect.query_rounds", "not measured by workflow stream"),
])
def test_workflow_sections_are_checked_at_their_line(tmp_path: Path, old: str, new: str, line: int,
                                                     field: str, words: str) -> None:
    path = small_plan(tmp_path, PASSING_RUN.replace(old, new))
    with pytest.raises(PlanError) as err:
        load_plan(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: {field}"), msg
    assert words in msg and "\n" not in msg


class _Exploding(Workflow):
    """Streams like `stream`, then trips over a bug of its own."""

    name: ClassVar[str] = "exploding"
    summary: ClassVar[str] = "a bug in a workflow"
    metrics = StreamWorkflow.metrics
    targets: ClassVar[list[LiveTarget]] = []

    def run(self, ctx: WorkflowContext) -> None:
        type(self).targets.append(ctx.device.target)
        ctx.record(accuracy_before=0.5)
        raise IndexError("index 7 is out of bounds for axis 0 with size 7")


@pytest.fixture
def exploding() -> Iterator[type[_Exploding]]:
    register(_Exploding)
    _Exploding.targets.clear()
    yield _Exploding
    unregister("exploding")


def test_a_bug_in_a_workflow_propagates_and_still_cleans_up(tmp_path: Path, exploding) -> None:
    runs = PASSING_RUN + PASSING_RUN.replace("name: last_layer", "name: buggy").replace(
        "    strategy: last_layer\n", "    strategy: last_layer\n    workflow: exploding\n")
    plan_path = small_plan(tmp_path, runs)
    with pytest.raises(IndexError, match="out of bounds"):
        run_plan(load_plan(plan_path), plan_path, [load_inventory().get("native")], tmp_path / "r")
    (target,) = exploding.targets
    assert not target.alive()  # the target was torn down on the way out
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["finished"] and data["status"] == "error"
    first, buggy = data["runs"]
    assert first["status"] == "passed"
    assert buggy["status"] == "error" and buggy["error"].startswith("bug: IndexError: index 7")
    assert buggy["metrics"] == {"accuracy_before": 0.5}  # what it recorded is kept
    DeviceLock("native").acquire()  # and the lock is free again


def test_group_run_records_group_and_member_figures(tmp_path: Path) -> None:
    register(PairEvaluation)
    try:
        lab = tmp_path / "lab.yaml"
        lab.write_text(TWO_NATIVE)
        plan_path = tmp_path / "group.yaml"
        plan_path.write_text(GROUP_PLAN.format(runs=PASSING_RUN))
        plan = load_plan(plan_path)
        assert plan.strategies[1].group_size == 2
        inv = load_inventory(lab)
        outcome = run_plan(plan, plan_path, [inv.get("native-a"), inv.get("native-b")], tmp_path / "r")
    finally:
        unregister("pair_evaluation")
    by = {(s.device, s.strategy): s for s in outcome.summaries}
    assert set(by) == {("native-a", "last_layer"), ("native-b", "last_layer"),
                       ("native-a+native-b", "pair")}
    pair = by[("native-a+native-b", "pair")]
    assert pair.devices == ("native-a", "native-b")
    # native-b's expect_on asks 0.99 of the base weights: only that member's verdict misses
    assert pair.status == "failed"
    assert [v.label for v in pair.verdicts if not v.passed] == ["member_accuracy[native-b]"]
    assert outcome.status == "failed"

    data = json.loads((tmp_path / "r" / "run.json").read_text())
    run = next(r for r in data["runs"] if r["strategy"] == "pair")
    assert run["device"] == "native-a+native-b" and run["devices"] == ["native-a", "native-b"]
    assert run["workflow"] == "pair_evaluation"
    acc = {d: r["metrics"]["member_accuracy"] for d, r in run["device_results"].items()}
    assert set(acc) == {"native-a", "native-b"} and 0.3 < acc["native-a"] < 0.99
    assert acc["native-a"] == acc["native-b"]  # one firmware, one set of weights
    assert run["metrics"] == {"accuracy_spread": 0.0, "members_up": 2}
    verdicts = {(v["metric"], v.get("device")): v["passed"] for v in run["expectations"]}
    assert verdicts == {("member_accuracy", "native-a"): True, ("member_accuracy", "native-b"): False,
                        ("accuracy_spread", None): True, ("members_up", None): True}
    for member in ("native-a", "native-b"):  # each member's bring-up is recorded
        assert data["devices"][member]["hello"]["git_hash"]

    junit = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")): c.find("failure") is not None
             for c in junit.iter("testcase")}
    assert cases[("group.native-a+native-b.pair", "member_accuracy[native-b]")] is True
    assert cases[("group.native-a+native-b.pair", "member_accuracy[native-a]")] is False
    assert cases[("group.native-a+native-b.pair", "members_up")] is False

    html = write_report(data, tmp_path / "r" / "report.html").read_text()
    assert "Group run native-a+native-b / pair" in html and "member_accuracy[native-b]" in html
    assert "<h3>native-a+native-b</h3>" not in html  # the label is not a device

    text = exposition(tmp_path)
    assert ('hil_group_member{device="native-b",group="native-a+native-b",plan="group",'
            'strategy="pair"} 1.0') in text
    assert 'hil_expectation_passed{board="native-b",metric="member_accuracy",plan="group",' \
           'strategy="pair"} 0.0' in text
    assert 'hil_expectation_passed{board="native-a+native-b",metric="members_up",plan="group",' \
           'strategy="pair"} 1.0' in text


def test_group_locks_all_or_nothing(tmp_path: Path) -> None:
    """A member held elsewhere makes the group run an error; the locks it took are let go."""
    register(PairEvaluation)
    try:
        lab = tmp_path / "lab.yaml"
        lab.write_text(TWO_NATIVE)
        plan_path = tmp_path / "group.yaml"
        plan_path.write_text(GROUP_PLAN.format(runs=""))
        inv = load_inventory(lab)
        with DeviceLock("native-b"):
            outcome = run_plan(load_plan(plan_path), plan_path,
                               [inv.get("native-a"), inv.get("native-b")], tmp_path / "r")
    finally:
        unregister("pair_evaluation")
    (summary,) = outcome.summaries
    assert summary.status == "error"
    assert summary.error.startswith(f"device native-b is in use by pid {os.getpid()}")
    with DeviceLock("native-a"), DeviceLock("native-b"):
        pass


def test_group_bigger_than_the_selection_fails_before_any_device(tmp_path: Path) -> None:
    register(PairEvaluation)
    try:
        plan_path = tmp_path / "group.yaml"
        plan_path.write_text(GROUP_PLAN.format(runs="").replace("{count: 2}", "{count: 3}"))
        lab = tmp_path / "lab.yaml"
        lab.write_text(TWO_NATIVE)
        inv = load_inventory(lab)
        with pytest.raises(Exception, match="needs 3 devices at once, 2 selected") as err:
            run_plan(load_plan(plan_path), plan_path, [inv.get("native-a"), inv.get("native-b")],
                     tmp_path / "r")
        from hil_service.errors import ConfigError

        assert isinstance(err.value, ConfigError)
    finally:
        unregister("pair_evaluation")


GROUP_CONFTEST = """
import sys
sys.path.insert(0, {root!r})
from hil_service.workflows import register
from tests.service.group_workflow import PairEvaluation
register(PairEvaluation)
"""


def test_group_items_and_duts_fixture_in_pytest(pytester: pytest.Pytester, tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    pytester.makeconftest(GROUP_CONFTEST.format(root=root))
    lab = tmp_path / "lab.yaml"
    lab.write_text(TWO_NATIVE)
    plan = tmp_path / "group.yaml"
    plan.write_text(GROUP_PLAN.format(runs=""))
    result = pytester.runpytest_subprocess("--hil-plan", str(plan), "--hil-inventory", str(lab),
                                           "--hil-out", str(tmp_path / "r"), "-v",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*group.yaml::native-a+native-b::pair::member_accuracy[[]native-a[]] PASSED*",
        "*group.yaml::native-a+native-b::pair::member_accuracy[[]native-b[]] FAILED*",
        "*group.yaml::native-a+native-b::pair::accuracy_spread PASSED*",
        "*group.yaml::native-a+native-b::pair::members_up PASSED*",
        "*member_accuracy = * misses >= 0.99 on native-b*",
    ])

    pytester.makepyfile(test_pair="""
        def test_two_devices(duts):
            a, b = duts
            assert {a.entry.id, b.entry.id} == {"native-a", "native-b"}
            assert a.target.serial_url != b.target.serial_url
            assert a.hello.git_hash == b.hello.git_hash
            assert a.device.metrics().configured is False and b.device.metrics().configured is False
    """)
    result = pytester.runpytest_subprocess("--hil-inventory", str(lab), "--hil-backend", "native",
                                           "test_pair.py", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess("--hil-inventory", str(lab), "--hil-group", "3",
                                           "--hil-backend", "native", "test_pair.py",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*duts: 3 devices wanted, 2 available*"])


def test_hil_run_prints_a_group_run_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hil_service.cli import main

    register(PairEvaluation)
    try:
        lab = tmp_path / "lab.yaml"
        lab.write_text(TWO_NATIVE)
        plan = tmp_path / "group.yaml"
        plan.write_text(GROUP_PLAN.format(runs="").replace('      native-b: {member_accuracy: ">= 0.99"}\n',
                                                           '      native-b: {member_accuracy: ">= 0.3"}\n'))
        code = main(["run", str(plan), "--inventory", str(lab), "--out", str(tmp_path / "r")])
    finally:
        unregister("pair_evaluation")
    out, err = capsys.readouterr()
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert lines[0] == "PASS native-a+native-b pair: 4/4 expectations, 2 devices"
    assert lines[-1] == f"group: 1 passed, 0 failed, 0 errors on 2 device(s); {tmp_path / 'r' / 'run.json'}"
    assert "native-a: starting native" in err and "native-b: starting native" in err


def test_a_group_workflow_restarts_a_member_and_keeps_files_in_its_run_dir(tmp_path: Path) -> None:
    from .group_workflow import RestartPair

    register(RestartPair)
    RestartPair.seen.clear()
    try:
        lab = tmp_path / "lab.yaml"
        lab.write_text(TWO_NATIVE)
        plan_path = tmp_path / "group.yaml"
        plan_path.write_text(GROUP_PLAN.format(runs="").replace("pair_evaluation", "restart_pair")
                             .replace('native-b: {member_accuracy: ">= 0.99"}', 'native-b: {members_up: "== 2"}'))
        inv = load_inventory(lab)
        events: list[tuple[str, str]] = []

        class Recorder:
            def event(self, device: str, message: str) -> None:
                events.append((device, message))

            def stream(self, device: str, strategy: str, done: int, total: int) -> None:
                pass

        outcome = run_plan(load_plan(plan_path), plan_path, [inv.get("native-a"), inv.get("native-b")],
                           tmp_path / "r", Recorder())
    finally:
        unregister("restart_pair")
    (summary,) = outcome.summaries
    assert summary.status == "passed", summary.error or summary.verdicts
    old, new = RestartPair.seen["old"], RestartPair.seen["new"]
    assert isinstance(old, LiveTarget) and isinstance(new, LiveTarget)
    # the member came back as a new target through the group's own BringUp, which closed it at the end
    assert old is not new and old.exit_code() == -9 and not new.alive()
    assert "no-such-device is not in this group (native-a, native-b)" in str(RestartPair.seen["unknown"])
    # the restarted member's accuracy was measured on the new target; the journal has its new link
    assert summary.device_metrics["native-b"]["member_accuracy"] > 0.3
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["devices"]["native-b"]["serial_url"] == new.serial_url
    # through the group's BringUp (its events), native-a left alone
    starts = [d for d, m in events if m.startswith("starting native")]
    assert sorted(starts) == ["native-a", "native-b", "native-b"]
    # the run's own directory, inside the `hil run` directory
    assert (tmp_path / "r" / "native-a+native-b" / "pair" / "note.txt").read_text() == new.serial_url


class _Counting(Workflow):
    name: ClassVar[str] = "counting"
    summary: ClassVar[str] = "records a metric no other workflow has"
    metrics = {"counted_things": MetricInfo("things", "a metric of this test only"),
               "accuracy": ADAPTATION_METRICS["accuracy"]}

    def run(self, ctx: WorkflowContext) -> None:
        ctx.record(counted_things=1)


def test_unregister_forgets_the_metrics_only_that_workflow_registered() -> None:
    register(_Counting)
    assert "counted_things" in catalogue() and "accuracy" in catalogue()
    unregister("counting")
    assert "counted_things" not in catalogue()
    assert catalogue()["accuracy"] == ADAPTATION_METRICS["accuracy"]  # still the stream workflow's
