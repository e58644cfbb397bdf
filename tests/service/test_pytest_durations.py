"""The pytest plugin in CI: each item's time is its own run's share, skipped devices are items."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil_service.results import case_seconds

from .conftest import FAILING_RUN, PASSING_RUN, small_plan

LAB = """\
devices:
  - {id: n1, backend: native, board: native_sim}
  - {id: gone, backend: native, board: native_sim, image: missing.elf}
"""


def test_item_durations_and_skipped_devices(pytester: pytest.Pytester, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    (tmp_path / "lab.yaml").write_text(LAB)
    plan = small_plan(tmp_path, PASSING_RUN + FAILING_RUN)
    plan.write_text(plan.read_text().replace("devices: {backend: auto, limit: 1}",
                                             "devices: {ids: [n1, gone]}"))
    out, xml = tmp_path / "run", tmp_path / "pytest-junit.xml"
    result = pytester.runpytest_subprocess(
        "--hil-plan", str(plan), "--hil-inventory", str(tmp_path / "lab.yaml"),
        "--hil-out", str(out), f"--junitxml={xml}", "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*device gone unavailable: image *missing.elf not built*"])
    shares = case_seconds(json.loads((out / "run.json").read_text()))
    times = {(c.get("classname", "").rsplit(".", 1)[-1], c.get("name")): float(c.get("time", "nan"))
             for c in ET.parse(xml).getroot().iter("testcase")}
    assert len(times) == 7 and times[("gone", "setup")] < 0.05
    for strategy, metrics in (("last_layer", ("accuracy", "samples_trained", "labels_used")),
                              ("tinyprop", ("accuracy", "train_step_us_p95", "backward_macs_ratio"))):
        share = shares[("n1", strategy)]
        assert share > 0
        for metric in metrics:
            # the first item ran the whole plan, yet it reports only its share, like the others
            assert times[(strategy, metric)] == pytest.approx(share, abs=0.02)
    plan_time = sum(shares[("n1", s)] * 3 for s in ("last_layer", "tinyprop"))
    assert times[("last_layer", "accuracy")] < plan_time / 2
