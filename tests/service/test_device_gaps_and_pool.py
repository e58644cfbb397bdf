"""No silent gaps (an unavailable selected device is reported as skipped) and device pools.

Real runs of the host build (native backend) through `hil run`, with a lab
whose entries are partly unusable and locks held by this test.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil_service.cli import main
from hil_service.locks import DeviceLock

from .conftest import PASSING_RUN, small_plan

LAB = """\
devices:
  - {id: n1, backend: native, board: native_sim, tags: [pool]}
  - {id: n2, backend: native, board: native_sim, tags: [pool]}
  - {id: gone, backend: native, board: native_sim, image: missing/firmware.elf, tags: [pool]}
  - {id: broken, backend: qemu, board: mps2/an386, machine: no-such-machine}
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))  # our locks only
    path = tmp_path / "lab.yaml"
    path.write_text(LAB)
    return path


def _plan(tmp_path: Path, devices: str, extra: str = "") -> Path:
    plan = small_plan(tmp_path, PASSING_RUN)
    plan.write_text(plan.read_text().replace("devices: {backend: auto, limit: 1}",
                                             f"devices: {devices}\n{extra}"))
    return plan


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_unavailable_devices_are_skipped_with_their_reason(tmp_path: Path, lab: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tmp_path, "{ids: [n1, gone, broken]}")
    out_dir = tmp_path / "r"
    code, out, err = _run(capsys, str(plan), "--inventory", str(lab), "--out", str(out_dir))
    assert code == 0, err
    missing = (tmp_path / "missing" / "firmware.elf").resolve()
    last = out.strip().splitlines()[-1]
    assert last.startswith("small: 1 passed, 0 failed, 0 errors on 1 device(s), 2 skipped "
                           f"(gone: image {missing} not built; broken: "), last
    assert "no-such-machine" in last
    data = json.loads((out_dir / "run.json").read_text())
    assert data["status"] == "passed"
    assert [s["device"] for s in data["skipped_devices"]] == ["gone", "broken"]
    assert data["skipped_devices"][0]["reason"] == f"image {missing} not built"
    junit = ET.parse(out_dir / "junit.xml").getroot()
    suite = junit.find("testsuite[@name='small.gone']")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("tests") == "1"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "setup"
    assert case.find("skipped").get("message") == f"device unavailable: image {missing} not built"
    assert junit.find("testsuite[@name='small.broken']/testcase/skipped") is not None
    # the device that ran: times per case, thresholds and values as properties
    cases = junit.findall("testsuite[@name='small.n1']/testcase")
    assert [c.get("name") for c in cases] == ["accuracy", "samples_trained", "labels_used"]
    assert all(float(c.get("time")) > 0 for c in cases)
    props = {p.get("name"): p.get("value") for p in cases[1].iter("property")}
    assert props == {"threshold": "== 64", "actual": "64.0"}
    # the host build's console and the link's counters are kept; nothing for skipped devices
    assert sorted(p.name for p in (out_dir / "logs").iterdir()) == ["n1.console.log", "n1.link.jsonl"]
    assert (out_dir / "logs" / "n1.console.log").read_text().startswith("=== odl_fw")
    stats = json.loads((out_dir / "logs" / "n1.link.jsonl").read_text().splitlines()[-1])
    assert stats["frames_sent"] == stats["frames_received"] > 0 and stats["errors"] == {}


@pytest.mark.parametrize("how", ["flag", "plan"])
def test_require_all_devices_turns_a_gap_into_an_error(tmp_path: Path, lab: Path, how: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tmp_path, "{ids: [n1, gone]}", "require_all_devices: true" if how == "plan" else "")
    argv = [str(plan), "--inventory", str(lab), "--out", str(tmp_path / "r")]
    code, out, err = _run(capsys, *argv, *(["--require-all-devices"] if how == "flag" else []))
    assert code == 2, err
    assert "PASS n1 last_layer" in out and ", 1 skipped (gone: image " in out
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["status"] == "error" and data["require_all_devices"] is True
    case = ET.parse(tmp_path / "r" / "junit.xml").getroot().find(
        "testsuite[@name='small.gone']/testcase")
    assert case.find("skipped") is None
    assert "all devices are required" in case.find("error").get("message")


def test_pool_takes_a_free_device_when_the_first_is_busy(tmp_path: Path, lab: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tmp_path, "{backend: native, tags: [pool], limit: 1}")
    with DeviceLock("n1"):
        code, out, err = _run(capsys, str(plan), "--inventory", str(lab), "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert out.splitlines()[0].startswith("PASS n2 last_layer")
    assert "skipped" not in out  # the pool had enough available devices: no gap
    assert "n2: takes the place of n1, which is busy" in err
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["devices_selected"] == ["n2"]
    assert data["devices"]["n2"]["instead_of"] == "n1"
    assert [r["device"] for r in data["runs"]] == ["n2"]


def test_pool_waits_only_when_every_device_is_busy(tmp_path: Path, lab: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tmp_path, "{backend: native, tags: [pool], limit: 1}")
    n1, n2 = DeviceLock("n1"), DeviceLock("n2")
    n1.acquire()
    n2.acquire()
    try:
        code, out, _ = _run(capsys, str(plan), "--inventory", str(lab), "--out", str(tmp_path / "a"))
        assert code == 2
        assert "every device of the pool is in use" in out  # the run's error line names the pool
        threading.Timer(1.5, n2.release).start()
        t0 = time.monotonic()
        code, out, err = _run(capsys, str(plan), "--inventory", str(lab), "--out", str(tmp_path / "b"),
                              "--lock-timeout", "30")
        assert code == 0, err
        assert time.monotonic() - t0 >= 1.5
        assert out.splitlines()[0].startswith("PASS n2 last_layer")
    finally:
        n1.release()
        n2.release()
