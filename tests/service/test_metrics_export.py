"""The Prometheus exporter: names, labels and values from run.json files; latest run wins;
broken files are skipped; and a real scrape over loopback HTTP."""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from hil_service.metrics_export import exposition, make_registry, serve
from tests.service.test_report import sample_run

QEMU, BOARD = "qemu-an386", "nrf52840dk-1"


def _write(runs_dir: Path, name: str, data: dict[str, Any] | str) -> Path:
    d = runs_dir / name
    d.mkdir(parents=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    (d / "run.json").write_text(text, encoding="utf-8")
    return d / "run.json"


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """family name -> [(labels, value)], with the sample-name suffix checks the parser allows."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:
    hits = [v for lab, v in samples.get(name, [])
            if all(lab.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, f"{name}{labels}: {hits}"
    return hits[0]


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    # an older run of the same plan: its figures must lose to the newer one's
    old = sample_run(started="2024-05-01T09:00:00.000+00:00",
                     finished="2024-05-01T09:03:00.000+00:00")
    old["status"] = "passed"
    for r in old["runs"]:
        r["metrics"]["accuracy"] = 0.5
        r["status"] = "passed"
        r["error"] = None
    old["devices"][QEMU]["hello"]["git_hash"] = "0ldc0de"
    _write(runs, "smoke-20240501T090000Z", old)
    _write(runs, "smoke-20240502T090000Z", sample_run())
    # another plan, still running
    other = sample_run(plan="drift", started="2024-05-02T10:00:00.000+00:00", finished=None)
    other["status"] = "running"
    other["runs"] = [other["runs"][0] | {"status": "running", "finished": None,
                                         "expectations": []}]
    _write(runs, "drift-20240502T100000Z", other)
    # killed while the file was being written by something other than the journal
    _write(runs, "smoke-broken", json.dumps(sample_run())[:700])
    (runs / "not-a-run").mkdir()
    return runs


def test_metric_names_labels_and_values(runs_dir: Path) -> None:
    text = exposition(runs_dir)
    s = _samples(text)
    key = {"plan": "smoke", "board": QEMU, "strategy": "last_layer"}
    assert _value(s, "hil_accuracy_ratio", **key) == pytest.approx(0.91)
    assert _value(s, "hil_accuracy_before_ratio", **key) == pytest.approx(0.82)
    assert _value(s, "hil_accuracy_gain_ratio", **key) == pytest.approx(0.09)
    assert _value(s, "hil_train_step_p50_seconds", **key) == pytest.approx(490e-6)
    p95 = _value(s, "hil_train_step_p95_seconds", **key)
    assert 470e-6 < p95 < 530e-6
    assert _value(s, "hil_train_step_max_seconds", **key) == pytest.approx(520e-6)
    assert _value(s, "hil_backward_macs_ratio", **key) == pytest.approx(0.35)
    assert _value(s, "hil_labels_used", **key) == 200
    assert _value(s, "hil_ram_bytes", **key) == 41_232
    assert _value(s, "hil_flash_bytes", **key) == 96_512
    assert _value(s, "hil_arena_peak_bytes", **key) == 17_904
    assert _value(s, "hil_stack_high_water_bytes", **key) == 2_312
    assert _value(s, "hil_stream_seconds", **key) == pytest.approx(6.42)
    # the run's labels and nothing else on a per-run family
    assert set(s["hil_accuracy_ratio"][0][0]) == {"plan", "board", "strategy"}

    assert _value(s, "hil_expectation_passed", metric="accuracy", **key) == 1
    assert _value(s, "hil_expectation_passed", metric="labels_used", **key) == 1
    assert _value(s, "hil_expectation_passed", plan="smoke", board=QEMU, strategy="tinyprop",
                  metric="accuracy") == 0

    # an enum: every status present, the current one 1
    states = {lab["status"]: v for lab, v in s["hil_run_status"]
              if lab["board"] == QEMU and lab["strategy"] == "tinyprop" and lab["plan"] == "smoke"}
    assert states == {"running": 0, "passed": 0, "failed": 1, "error": 0, "stopped": 0, "abandoned": 0}
    assert _value(s, "hil_run_timestamp_seconds", **key) == pytest.approx(1714640420.0)
    assert _value(s, "hil_run_start_timestamp_seconds", **key) == pytest.approx(1714640401.0)

    build = s["hil_build_info"]
    assert len(build) == 1 and build[0][1] == 1
    assert set(build[0][0]) == {"version", "python"} and build[0][0]["version"]
    # firmware identity from the newest file that saw the device, not the old one
    fw = {lab["board"]: lab for lab, v in s["hil_firmware_info"] if v == 1}
    assert fw[QEMU]["git_hash"] == "a1b2c3d" and fw[QEMU]["fw_version"] == "0.3.0"
    assert set(fw[BOARD]) == {"board", "git_hash", "fw_version"}

    assert _value(s, "hil_runs", plan="smoke", status="error") == 1
    assert _value(s, "hil_runs", plan="smoke", status="passed") == 1
    assert _value(s, "hil_runs", plan="drift", status="running") == 1
    assert _value(s, "hil_unreadable_run_files") == 1

    # no counters are claimed: nothing here is monotonic
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert set(types.values()) == {"gauge"}
    assert not any(name.endswith("_total") for name in s)


def test_latest_run_wins_and_a_broken_run_keeps_the_last_good_figures(runs_dir: Path) -> None:
    s = _samples(exposition(runs_dir))
    # the older run said 0.5 everywhere; the newer file wins per (plan, device, strategy)
    accs = {(lab["plan"], lab["board"], lab["strategy"]): v for lab, v in s["hil_accuracy_ratio"]}
    assert accs == {("smoke", QEMU, "last_layer"): pytest.approx(0.91),
                    ("smoke", QEMU, "tinyprop"): pytest.approx(0.79),
                    ("smoke", BOARD, "last_layer"): pytest.approx(0.93),
                    ("smoke", BOARD, "tinyprop"): pytest.approx(0.5)}
    # the newest board/tinyprop run broke: its status says so, and the figures stay
    # those of the last run that completed (the older one), with that run's time
    err = {"plan": "smoke", "board": BOARD, "strategy": "tinyprop"}
    assert _value(s, "hil_run_status", status="error", **err) == 1
    assert _value(s, "hil_ram_bytes", **err) == 40_000
    assert _value(s, "hil_run_timestamp_seconds", **err) == pytest.approx(1714554033.0)
    assert not [lab for lab, _ in s["hil_expectation_passed"]
                if lab["board"] == BOARD and lab["strategy"] == "tinyprop"]
    # a run not finished yet has no values and no finish time, but does have its status
    drift = {"plan": "drift", "board": QEMU, "strategy": "last_layer"}
    assert _value(s, "hil_run_status", status="running", **drift) == 1
    assert not [lab for lab, _ in s["hil_run_timestamp_seconds"] if lab["plan"] == "drift"]


def test_latest_wins_by_started_time_not_by_directory_name(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    newer = sample_run(started="2024-06-01T00:00:00.000+00:00")
    older = sample_run(started="2024-01-01T00:00:00.000+00:00")
    older["runs"][0]["metrics"]["accuracy"] = 0.11
    newer["runs"][0]["metrics"]["accuracy"] = 0.99
    _write(runs, "a-named-first", newer)
    _write(runs, "z-named-last", older)
    s = _samples(exposition(runs))
    assert _value(s, "hil_accuracy_ratio", plan="smoke", board=QEMU,
                  strategy="last_layer") == pytest.approx(0.99)


def test_broken_files_are_skipped_with_a_warning(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    runs = tmp_path / "runs"
    _write(runs, "ok", sample_run())
    _write(runs, "truncated", '{"schema": 1, "status": "runn')
    _write(runs, "list", "[1, 2]")
    _write(runs, "no-runs", json.dumps({"schema": 1, "plan": {"name": "x"}}))
    bad_types = copy.deepcopy(sample_run(plan="odd"))
    bad_types["runs"].append("not a run")
    bad_types["runs"][0]["metrics"] = {"accuracy": "high", "ram_bytes": True,
                                       "stream_seconds": None}
    bad_types["runs"][1]["expectations"] = [None, {"metric": 3}]
    bad_types["devices"][QEMU] = None
    _write(runs, "odd", bad_types)
    (runs / "binary").mkdir()
    (runs / "binary" / "run.json").write_bytes(b"\xff\xfe\x00garbage")
    with caplog.at_level(logging.WARNING, logger="hil_service.metrics_export"):
        s = _samples(exposition(runs))
    assert _value(s, "hil_unreadable_run_files") == 4
    for name in ("truncated", "list", "no-runs", "binary"):
        assert any(name in r.getMessage() for r in caplog.records), name
    assert _value(s, "hil_accuracy_ratio", plan="smoke", board=QEMU,
                  strategy="last_layer") == pytest.approx(0.91)
    # mistyped values are left out rather than exported wrong
    odd = {"plan": "odd", "board": QEMU, "strategy": "last_layer"}
    for name in ("hil_accuracy_ratio", "hil_ram_bytes", "hil_stream_seconds"):
        assert not [lab for lab, _ in s[name] if odd.items() <= lab.items()], name
    assert _value(s, "hil_run_status", plan="odd", board=QEMU, strategy="last_layer",
                  status="passed") == 1


def test_warning_once_per_file_version_and_cache_follows_changes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prometheus_client import generate_latest

    runs = tmp_path / "runs"
    bad = _write(runs, "r1", "{")
    registry = make_registry(runs)
    with caplog.at_level(logging.WARNING, logger="hil_service.metrics_export"):
        generate_latest(registry)
        generate_latest(registry)
    assert len([r for r in caplog.records if "r1" in r.getMessage()]) == 1
    # the run finishes writing: the next scrape sees it
    bad.write_text(json.dumps(sample_run()), encoding="utf-8")
    s = _samples(generate_latest(registry).decode())
    assert _value(s, "hil_unreadable_run_files") == 0
    assert _value(s, "hil_accuracy_ratio", plan="smoke", board=QEMU, strategy="last_layer") > 0.9
    # and a deleted run disappears
    bad.unlink()
    s = _samples(generate_latest(registry).decode())
    assert "hil_accuracy_ratio" not in s


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    for runs in (tmp_path / "absent", tmp_path):
        s = _samples(exposition(runs))
        assert _value(s, "hil_unreadable_run_files") == 0
        assert len(s["hil_build_info"]) == 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_scrape_over_loopback(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(runs_dir, port, "127.0.0.1"),
                              kwargs={"stop": stop}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/metrics"
    body = None
    try:
        deadline = time.monotonic() + 10
        while body is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    assert reply.status == 200
                    assert reply.headers["Content-Type"].startswith("text/plain")
                    body = reply.read().decode("utf-8")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # Prometheus asks for OpenMetrics when it can; that rendering must parse too
        req = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text"})
        with urllib.request.urlopen(req, timeout=5) as reply:
            assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
            families = list(openmetrics_families(reply.read().decode("utf-8")))
        assert {f.name for f in families} >= {"hil_accuracy_ratio", "hil_run_status"}
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    s = _samples(body)
    assert _value(s, "hil_accuracy_ratio", plan="smoke", board=BOARD,
                  strategy="last_layer") == pytest.approx(0.93)
    assert url in capsys.readouterr().out
