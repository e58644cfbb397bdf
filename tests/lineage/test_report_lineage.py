"""The report's "Trust and lineage" section from hand-made run.json records."""

from __future__ import annotations

import json
from pathlib import Path

from hil_service.lineage import ancestry
from hil_service.report import render_report
from hil_service.report_lineage import lineage_section


def _h(c: str) -> str:
    return c * 64


def _entry(strategy: str, parent: str, child: str) -> dict:
    return {"device": "qemu", "parent": parent, "child": child, "plan": _h("e"), "data": _h("d"),
            "build_id": "b<1>", "strategy": strategy, "strategy_kind": "full", "workflow": "stream",
            "blob": f"qemu/{strategy}/weights-qemu.bin"}


def _chain(tmp_path: Path) -> dict:
    """Three runs: host base 0 → r1 makes 1 → r2 (from r1) makes 2 → r3 (from r2) makes 3."""
    runs = {}
    base: dict = {"sha256": _h("0"), "key": _h("k"), "arch": [64, 16, 10], "origin": None}
    for i, name in enumerate(("r1", "r2", "r3"), start=1):
        data = {"plan": {"name": name}, "base_model": base, "status": "passed",
                "runs": [{"device": "qemu", "strategy": f"s{i}", "status": "passed",
                          "metrics": {"source_accuracy_before": 0.9, "source_accuracy_after": 0.8,
                                      "negative_flip_rate": 0.125, "prediction_churn": 0.25},
                          "lineage": _entry(f"s{i}", base["sha256"], _h(str(i)))}]}
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(data))
        runs[name] = data
        base = {"sha256": _h(str(i)), "origin": {"from_run": str(tmp_path / name), "device": "qemu",
                                                 "strategy": f"s{i}", "sha256": _h(str(i))}}
    return runs["r3"]


def test_chain_trust_and_lineage_of_the_third_run(tmp_path: Path) -> None:
    data = _chain(tmp_path)
    assert [s["sha256"] for s in ancestry(data)] == [_h("0"), _h("1"), _h("2")]
    html = render_report(data)
    section = html[html.index('<h2 id="lineage">'):]
    chain = section[section.index('<ol class="chain">'):section.index("</ol>")]
    # oldest first: the host base, run 1's result, run 2's result, then this run
    positions = [chain.index(_h(c)[:12]) for c in "012"]
    assert positions == sorted(positions)
    assert "pretrained on the host" in chain and f"{tmp_path / 'r2'}" in chain
    assert "0.900 → 0.800" in section and "0.125" in section and "0.250" in section
    assert f'title="{_h("3")}"' in section  # the child, whole hash on hover
    assert '<a href="qemu/s3/weights-qemu.bin">' in section
    assert "b&lt;1&gt;" in section and "b<1>" not in section  # strings from the run are escaped


def test_a_missing_ancestor_and_broken_records_still_render(tmp_path: Path) -> None:
    data = _chain(tmp_path)
    (tmp_path / "r1" / "run.json").unlink()
    html = lineage_section(data)
    assert "its run.json is gone" in html and _h("2")[:12] in html
    broken = {"base_model": "oops", "runs": [{"metrics": "x", "lineage": {"child": 5}}, 7]}
    assert lineage_section(broken) == ""
    assert lineage_section({"runs": [{"metrics": {"negative_flip_rate": None}}]}) == ""
