"""`hil serve`'s exposition by the book: promtool-clean, no gaps while a run is in progress
or after one broke (last good values stay, the status flags it), abandoned runs, and the
run.json regressions and skipped devices as metrics."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hil_service.metrics_export import GAUGES, exposition
from hil_service.results import boot_id, process_start
from tests.service.test_report import sample_run

from .conftest import tool

QEMU, BOARD = "qemu-an386", "nrf52840dk-1"
KEY = {"plan": "nightly", "board": QEMU, "strategy": "last_layer"}

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _write(runs: Path, name: str, data: dict[str, Any]) -> None:
    (runs / name).mkdir(parents=True)
    (runs / name / "run.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


def _samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(s: Samples, name: str, **labels: str) -> float:
    hits = [v for lab, v in s.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, f"{name}{labels}: {hits}"
    return hits[0]


def _absent(s: Samples, name: str, **labels: str) -> bool:
    return not [v for lab, v in s.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]


def _finished(day: int, accuracy: float) -> dict[str, Any]:
    """A finished nightly of May `day`, every strategy run passed, accuracy as given."""
    data = sample_run(plan="nightly", started=f"2024-05-{day:02d}T02:00:00.000+00:00",
                      finished=f"2024-05-{day:02d}T02:03:10.500+00:00")
    data["status"], data["errors"] = "passed", []
    data["runs"] = data["runs"][:1] + data["runs"][2:3]  # qemu and board, last_layer
    for run in data["runs"]:
        run["metrics"]["accuracy"] = accuracy
    data["regressions"] = []
    return data


def _live(data: dict[str, Any], pid: int) -> dict[str, Any]:
    """Mark data as a run still being written by process pid on this machine."""
    data.update(status="running", finished=None, pid=pid, boot_id=boot_id(),
                pid_start=process_start(pid))
    data["host"]["node"] = platform.node()
    return data


def _in_progress(day: int, pid: int) -> dict[str, Any]:
    data = _live(_finished(day, 0.5), pid)
    del data["regressions"]
    first = data["runs"][0]
    first.update(status="running", finished=None, metrics={"ram_bytes": 41_232}, expectations=[])
    data["runs"] = [first]
    return data


def test_a_run_in_progress_keeps_the_last_completed_values(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "n1", _finished(1, 0.91))
    _write(runs, "n2", _in_progress(2, os.getpid()))
    s = _samples(exposition(runs))
    assert _value(s, "hil_accuracy_ratio", **KEY) == pytest.approx(0.91)
    assert _value(s, "hil_expectation_passed", metric="accuracy", **KEY) == 1
    assert _value(s, "hil_train_step_p95_seconds", **KEY) > 0
    assert _value(s, "hil_run_status", status="running", **KEY) == 1
    assert _value(s, "hil_run_status", status="passed", **KEY) == 0
    assert _value(s, "hil_run_in_progress", plan="nightly") == 1
    assert _value(s, "hil_plan_run_status", plan="nightly", status="running") == 1
    # the values' time is the completed run's; the attempt's start is the new one's
    assert _value(s, "hil_run_timestamp_seconds", **KEY) == pytest.approx(1714528820.0)
    assert _value(s, "hil_run_start_timestamp_seconds", **KEY) == pytest.approx(1714615201.0)
    assert _value(s, "hil_plan_run_finish_timestamp_seconds", plan="nightly") == pytest.approx(1714528990.5)
    # the regression verdicts of the last judged run stay too
    assert _value(s, "hil_regressions", **KEY) == 0


def test_a_run_whose_process_died_is_abandoned_not_running(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    runs = tmp_path / "runs"
    _write(runs, "n1", _finished(1, 0.91))
    _write(runs, "n2", _in_progress(2, dead.pid))
    s = _samples(exposition(runs))
    assert _value(s, "hil_run_status", status="abandoned", **KEY) == 1
    assert _value(s, "hil_run_status", status="running", **KEY) == 0
    assert _value(s, "hil_run_in_progress", plan="nightly") == 0
    assert _value(s, "hil_plan_run_status", plan="nightly", status="abandoned") == 1
    assert _value(s, "hil_runs", plan="nightly", status="abandoned") == 1
    assert _value(s, "hil_accuracy_ratio", **KEY) == pytest.approx(0.91)


def test_a_broken_run_keeps_the_last_good_values_and_flags_the_error(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "n1", _finished(1, 0.91))
    broken = _finished(2, 0.2)
    broken["status"] = "error"
    broken["runs"][0].update(status="error", error="LinkError: no reply to TRAIN within 2.0 s",
                             metrics={"ram_bytes": 1}, expectations=[])
    broken["runs"][1]["metrics"]["accuracy"] = 0.95  # the board's run completed: its value is new
    _write(runs, "n2", broken)
    s = _samples(exposition(runs))
    assert _value(s, "hil_accuracy_ratio", **KEY) == pytest.approx(0.91)
    assert _value(s, "hil_ram_bytes", **KEY) == 41_232
    assert _value(s, "hil_run_status", status="error", **KEY) == 1
    assert _value(s, "hil_run_timestamp_seconds", **KEY) == pytest.approx(1714528820.0)
    board = {**KEY, "board": BOARD}
    assert _value(s, "hil_accuracy_ratio", **board) == pytest.approx(0.95)
    assert _value(s, "hil_run_status", status="passed", **board) == 1
    assert _value(s, "hil_plan_run_status", plan="nightly", status="error") == 1
    # a stopped run (SIGTERM) whose strategy run was left running is "stopped" there too
    stopped = _in_progress(3, os.getpid())
    stopped["status"], stopped["finished"] = "stopped", "2024-05-03T02:01:00.000+00:00"
    _write(runs, "n3", stopped)
    s = _samples(exposition(runs))
    assert _value(s, "hil_run_status", status="stopped", **KEY) == 1
    assert _value(s, "hil_accuracy_ratio", **KEY) == pytest.approx(0.91)
    assert _value(s, "hil_run_in_progress", plan="nightly") == 0


def test_regressions_and_skipped_devices(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    night = _finished(5, 0.7)
    night["regressions"] = [{"strategy": "last_layer", "device": QEMU, "metric": "accuracy",
                             "value": 0.7, "median": 0.91, "mad": 0.004, "threshold": 0.89,
                             "direction": "lower", "runs": 5}]
    night["devices_selected"] = [QEMU, BOARD, "nrf5340dk-1"]
    night["skipped_devices"] = [{"device": "nrf5340dk-1",
                                 "reason": "image build/nrf5340/zephyr.elf\nnot built"}]
    _write(runs, "n5", night)
    s = _samples(exposition(runs))
    assert _value(s, "hil_regressions", **KEY) == 1
    assert _value(s, "hil_regression", metric="accuracy", direction="lower", **KEY) == 1
    assert _value(s, "hil_regressions", **{**KEY, "board": BOARD}) == 0
    assert _absent(s, "hil_regression", board=BOARD)
    assert _value(s, "hil_device_available", plan="nightly", board="nrf5340dk-1") == 0
    assert _value(s, "hil_device_available", plan="nightly", board=QEMU) == 1
    assert _value(s, "hil_device_available", plan="nightly", board=BOARD) == 1
    assert _value(s, "hil_device_skipped", plan="nightly", board="nrf5340dk-1",
                  reason="image build/nrf5340/zephyr.elf not built") == 1
    # the next night is in progress: the judged regressions and the availability stay
    _write(runs, "n6", _in_progress(6, os.getpid()))
    s = _samples(exposition(runs))
    assert _value(s, "hil_regressions", **KEY) == 1
    assert _value(s, "hil_device_available", plan="nightly", board=QEMU) == 1


def test_promtool_check_metrics_passes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "n1", _finished(1, 0.91))
    _write(runs, "n2", sample_run(plan="nightly", started="2024-05-02T02:00:00.000+00:00"))
    night = _finished(3, 0.7)
    night["regressions"] = [{"strategy": "last_layer", "device": QEMU, "metric": "accuracy",
                             "direction": "lower"}]
    night["skipped_devices"] = [{"device": "nrf5340dk-1", "reason": "probe not connected"}]
    _write(runs, "n3", night)
    _write(runs, "n4", _in_progress(4, os.getpid()))
    text = exposition(runs)
    check = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == ""  # no lint findings either
    families = list(text_string_to_metric_families(text))
    assert not [f.name for f in families for s in f.samples if "quantile" in s.labels]
    # counters, if any, end in _total; nothing here is a counter
    assert {f.type for f in families} == {"gauge"}
    # promtool does not lint units: each value family names the base unit it converts to
    for name, (source, factor, _) in GAUGES.items():
        if source.startswith("train_step_us") or source.endswith("seconds"):
            assert name.endswith("_seconds") and factor in (1e-6, 1.0), name
        elif source.endswith("bytes"):
            assert name.endswith("_bytes") and factor == 1.0, name
        elif "accuracy" in source or source.endswith("ratio"):
            assert name.endswith("_ratio") and factor == 1.0, name
        else:
            assert source == "labels_used" and name == "hil_labels_used", name


def test_odd_liveness_fields_do_not_break_a_scrape(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    odd = _in_progress(2, os.getpid())
    odd.update(host=None, pid="1234", boot_id=None)  # cannot be judged: keeps its status
    _write(runs, "n2", odd)
    s = _samples(exposition(runs))
    assert _value(s, "hil_plan_run_status", plan="nightly", status="running") == 1
