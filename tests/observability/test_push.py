"""`hil run --pushgateway`: the run's series pushed to a real Pushgateway, grouped by plan,
device and strategy; a broken run keeps the gateway's last good values and flags its status;
an unreachable gateway is an error naming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hil_service.metrics_push import PushError, push_groups, push_run
from tests.service.conftest import PASSING_RUN, small_plan
from tests.service.test_report import sample_run

from .conftest import Processes, free_port, hil_command, http_get, tool

QEMU, BOARD = "qemu-an386", "nrf52840dk-1"


def _run_dir(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "run.json").write_text(json.dumps(data), encoding="utf-8")
    return d


def _gateway(processes: Processes) -> str:
    port = free_port()
    processes.start("pushgateway", [tool("prometheus-pushgateway"),
                                    f"--web.listen-address=127.0.0.1:{port}"],
                    ready_url=f"http://127.0.0.1:{port}/-/ready")
    return f"http://127.0.0.1:{port}"


def _gateway_samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(http_get(f"{url}/metrics")):
        for s in family.samples:
            if s.name.startswith("hil_"):
                out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_groups_by_plan_device_and_strategy(tmp_path: Path) -> None:
    groups = push_groups(_run_dir(tmp_path, "r", sample_run()))
    names = {key: {f.name for f in families} for key, families in groups.items()}
    strategy = (("plan", "smoke"), ("board", QEMU), ("strategy", "last_layer"))
    assert {"hil_accuracy_ratio", "hil_run_status", "hil_expectation_passed"} <= names[strategy]
    assert names[(("plan", "smoke"), ("board", QEMU))] >= {"hil_firmware_info", "hil_device_available"}
    assert "hil_plan_run_status" in names[(("plan", "smoke"),)]
    # the broken board/tinyprop run pushes its status, and no values that would replace good ones
    broken = names[(("plan", "smoke"), ("board", BOARD), ("strategy", "tinyprop"))]
    assert "hil_run_status" in broken and "hil_accuracy_ratio" not in broken
    # every sample of a group carries that group's labels, so the gateway takes it
    for key, families in groups.items():
        for family in families:
            for sample in family.samples:
                labels = {"plan": "smoke", **sample.labels}
                assert all(labels[k] == v for k, v in key), (key, family.name, sample)
    # what the exporter describes (files on disk, itself) is not the run's to push
    pushed = set().union(*names.values())
    assert not pushed & {"hil_runs", "hil_unreadable_run_files", "hil_run_in_progress", "hil_build_info"}


def test_a_broken_run_keeps_the_gateways_last_good_values(tmp_path: Path, processes: Processes) -> None:
    url = _gateway(processes)
    good = sample_run()
    for run in good["runs"]:
        run.update(status="passed", error=None)
        run["metrics"].setdefault("accuracy", 0.88)
    good["status"], good["errors"] = "passed", []
    assert push_run(_run_dir(tmp_path, "good", good), url) == 7
    s = _gateway_samples(url)
    key = {"plan": "smoke", "board": BOARD, "strategy": "tinyprop", "job": "hil"}
    assert [v for lab, v in s["hil_accuracy_ratio"] if key.items() <= lab.items()] == [0.88]

    push_run(_run_dir(tmp_path, "broken", sample_run(started="2024-05-03T09:00:00.000+00:00")), url)
    s = _gateway_samples(url)
    assert [v for lab, v in s["hil_accuracy_ratio"] if key.items() <= lab.items()] == [0.88]
    status = {lab["status"]: v for lab, v in s["hil_run_status"] if key.items() <= lab.items()}
    assert status["error"] == 1 and status["passed"] == 0
    # the completed runs of the broken night replaced their values
    qemu = {"plan": "smoke", "board": QEMU, "strategy": "tinyprop"}
    assert [v for lab, v in s["hil_accuracy_ratio"] if qemu.items() <= lab.items()] == [0.79]


def test_an_unreachable_gateway_is_an_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PushError, match=f"pushgateway {url}: pushing .* failed"):
        push_run(_run_dir(tmp_path, "r", sample_run()), url)


def test_hil_run_fails_when_its_push_fails(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    plan = small_plan(tmp_path, PASSING_RUN, backend="native")
    run = subprocess.run(hil_command("run", str(plan), "--out", str(tmp_path / "out"),
                                     "--pushgateway", url),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert f"hil: error: pushgateway {url}: pushing" in run.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "passed"


LONG_RUNS = "".join(f"""\
  - name: run{i}
    strategy: full
    stream: {{samples: 400}}
    expect: {{accuracy: ">= 0.1"}}
""" for i in range(8))


def test_a_cancelled_run_is_pushed_as_stopped(tmp_path: Path, processes: Processes) -> None:
    url = _gateway(processes)
    plan = small_plan(tmp_path, LONG_RUNS, backend="native")
    out = tmp_path / "out"
    proc = processes.start("hil-run", hil_command("run", str(plan), "--out", str(out),
                                                  "--pushgateway", url))
    deadline = time.monotonic() + 120
    while True:  # SIGTERM (what a CI runner sends on cancel) once streaming has begun
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "hil-run.log").read_text()
        try:
            runs = json.loads((out / "run.json").read_text())["runs"]
        except (OSError, ValueError):
            runs = []
        if any(r["status"] == "running" for r in runs):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    s = _gateway_samples(url)
    status = {lab["status"]: v for lab, v in s["hil_plan_run_status"] if lab["plan"] == "small"}
    assert status["stopped"] == 1 and status["running"] == 0
