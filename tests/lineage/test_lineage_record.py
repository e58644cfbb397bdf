"""Lineage for every single-device workflow (the runner reads back what a workflow did not
keep), on the host build of the firmware; and the tree over hand-made runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from hil_service.cli import main
from hil_service.expectations import MetricInfo
from hil_service.inventory import load_inventory
from hil_service.lineage import LineageError, render_tree, scan, targets_of
from hil_service.plan import load_plan
from hil_service.reference import Mlp
from hil_service.runner import run_plan
from hil_service.workflows import Workflow, WorkflowContext, register, unregister

PLAN = """\
name: bare
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.1, seed: 1}
base_model: {hidden: [16], epochs: 5, seed: 7}
strategies:
  - name: bare
    strategy: full
    workflow: bare_train
    expect: {steps: "== 8"}
"""


class _BareTrain(Workflow):
    """Trains 8 samples and keeps nothing itself: the runner must read the model back."""

    name: ClassVar[str] = "bare_train"
    summary: ClassVar[str] = "train a little, keep nothing"
    metrics = {"steps": MetricInfo("samples", "samples trained by the bare workflow")}
    leave_model: ClassVar[bool] = True

    def run(self, ctx: WorkflowContext) -> None:
        dev, sc = ctx.device.device, ctx.data.scenario
        dev.reset()
        if type(self).leave_model:
            dev.configure(ctx.base.arch, ctx.spec.train_params())
            dev.load_weights(ctx.base.blob)
            dev.train(sc.x_stream[:8], sc.y_stream[:8])
        ctx.record(steps=8)


@pytest.fixture
def bare() -> Iterator[type[_BareTrain]]:
    register(_BareTrain)
    _BareTrain.leave_model = True
    yield _BareTrain
    unregister("bare_train")


def test_a_workflow_that_keeps_nothing_still_has_its_lineage(tmp_path: Path, bare) -> None:
    (tmp_path / "p.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "p.yaml")
    outcome = run_plan(plan, tmp_path / "p.yaml", [load_inventory().get("native")], tmp_path / "r")
    assert outcome.status == "passed"
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    e = data["runs"][0]["lineage"]
    blob = (tmp_path / "r" / e["blob"]).read_bytes()
    assert e["blob"] == "native/bare/weights-native.bin"
    assert hashlib.sha256(blob).hexdigest() == e["child"] != e["parent"] == data["base_model"]["sha256"]
    assert e["workflow"] == "bare_train" and e["strategy_kind"] == "full"
    assert tuple(Mlp.from_blob(blob).arch.sizes) == (64, 16, 10)


def test_a_workflow_that_leaves_no_model_says_so_and_still_passes(tmp_path: Path, bare) -> None:
    bare.leave_model = False
    (tmp_path / "p.yaml").write_text(PLAN)
    outcome = run_plan(load_plan(tmp_path / "p.yaml"), tmp_path / "p.yaml",
                       [load_inventory().get("native")], tmp_path / "r")
    assert outcome.status == "passed"
    run = json.loads((tmp_path / "r" / "run.json").read_text())["runs"][0]
    assert "lineage" not in run and run["lineage_error"] == "no final weights: device refused READ_WEIGHTS: NOT_CONFIGURED"


# -- the tree over hand-made runs ------------------------------------------------------------
def _h(c: str) -> str:
    return c * 64


def _run(root: Path, name: str, base: dict, results: list[tuple[str, str, str]],
         group: dict | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    runs = [{"device": "dev", "strategy": s, "lineage": {
        "device": "dev", "parent": p, "child": c, "plan": _h("e"), "data": _h("d"), "build_id": "b1",
        "strategy": s, "strategy_kind": s, "workflow": "stream", "blob": f"dev/{s}/weights-dev.bin"}}
        for s, p, c in results]
    if group:
        runs.append({"device": "a+b", "strategy": "fed", "lineage_members": group})
    (d / "run.json").write_text(json.dumps({"base_model": base, "runs": runs}))
    return d


def test_tree_with_siblings_descendants_and_unrelated_runs(tmp_path: Path) -> None:
    base = {"sha256": _h("0"), "arch": [64, 16, 10], "key": _h("k"), "origin": None}
    _run(tmp_path, "a", base, [("ll", _h("0"), _h("1")), ("full", _h("0"), _h("2"))])
    _run(tmp_path, "b", {"sha256": _h("1"), "origin": {"from_run": str(tmp_path / "a")}},
         [("ll2", _h("1"), _h("3"))])
    _run(tmp_path, "c", {"sha256": _h("3"), "origin": {"from_run": str(tmp_path / "b")}},
         [("ll3", _h("3"), _h("4"))])
    _run(tmp_path, "other", {"sha256": _h("9"), "arch": [64, 8, 10], "key": _h("j")},
         [("x", _h("9"), _h("8"))])
    nodes = scan([tmp_path])
    # from run b: its ancestors (base, a/ll) and its descendants (c), not a's sibling nor "other"
    text = render_tree(nodes, targets_of(str(tmp_path / "b"), nodes), root=tmp_path)
    assert text.splitlines() == [
        f"{_h('0')[:12]}  host-pretrained base 64-16-10 (recipe {_h('k')[:12]}), first used by a",
        f"└── {_h('1')[:12]}  a: dev/ll [ll, stream] plan {_h('e')[:12]} data {_h('d')[:12]} build b1",
        f"    └── {_h('3')[:12]}  b: dev/ll2 [ll2, stream] plan {_h('e')[:12]} data {_h('d')[:12]} build b1 *",
        f"        └── {_h('4')[:12]}  c: dev/ll3 [ll3, stream] plan {_h('e')[:12]} data {_h('d')[:12]} build b1"]
    # from the base by hash: every descendant, siblings included
    text = render_tree(nodes, targets_of(_h("0")[:8], nodes), root=tmp_path)
    assert len(text.splitlines()) == 5 and "dev/full" in text and "other" not in text
    assert text.splitlines()[0].endswith(" *")


def test_group_members_and_unknown_parents(tmp_path: Path) -> None:
    member = {"device": "a", "parent": _h("5"), "child": _h("6"), "strategy": "fed",
              "strategy_kind": "full", "workflow": "federated", "build_id": "b", "plan": _h("e"),
              "data": _h("d")}
    _run(tmp_path, "g", {"sha256": _h("5")}, [], group={"a": member, "b": {**member, "device": "b"}})
    nodes = scan([tmp_path])
    lines = render_tree(nodes, targets_of(str(tmp_path / "g"), nodes), root=tmp_path).splitlines()
    assert len(lines) == 2 and "g: a/fed [full, federated]" in lines[1]
    assert "(also made by 1 other run(s))" in lines[1]  # both members ended with the global model


def test_bad_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = scan([tmp_path])
    with pytest.raises(LineageError, match="neither a run directory nor the hash"):
        targets_of("abcdef12", nodes)
    with pytest.raises(LineageError, match="neither"):
        targets_of("abc", nodes)  # too short to be a prefix
    (tmp_path / "plain").mkdir()
    with pytest.raises(LineageError, match="is not a run directory"):
        targets_of(str(tmp_path / "plain"), nodes)
    _run(tmp_path, "broken", {"sha256": _h("0")}, [])
    assert main(["lineage", str(tmp_path / "broken")]) == 2
    assert "kept no weights" in capsys.readouterr().err
