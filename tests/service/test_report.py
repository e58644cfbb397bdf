"""The HTML report: well-formed, complete, escaped, with SVG plots, for whole and broken runs."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from hil_service.report import render_report, write_report

SVG_NS = "{http://www.w3.org/2000/svg}"


def _run(device: str, strategy: str, kind: str, *, started: str, finished: str | None,
         status: str = "passed", accuracy: float = 0.91, before: float = 0.82,
         macs: float | None = 0.35, expectations: list[dict[str, Any]] | None = None,
         step_cycles: list[int] | None = None, hz: int = 25_000_000) -> dict[str, Any]:
    cycles = step_cycles if step_cycles is not None else [
        12_000 + (i * 37) % 900 if i % 5 else 4_100 for i in range(200)]
    trained = sorted(c for i, c in enumerate(cycles) if i % 5)
    p95 = trained[int((len(trained) - 1) * 0.95 + 0.999)] if trained else None
    return {
        "device": device, "strategy": strategy, "strategy_kind": kind, "status": status,
        "started": started, "finished": finished,
        "params": {"learning_rate": 0.05}, "stream": {"samples": 200, "epochs": 1},
        "active_learning": None,
        "metrics": {
            "ram_bytes": 41_232, "flash_bytes": 96_512, "accuracy_before": before,
            "loss_before": 0.61, "arena_bytes": 18_432, "samples_streamed": 200,
            "stream_seconds": 6.42, "samples_per_second": 31.2, "link_lost_replies": 0,
            "accuracy": accuracy, "loss": 0.33, "accuracy_gain": accuracy - before,
            "train_step_us_p50": 490.0, "train_step_us_p95": p95 / hz * 1e6 if p95 else None,
            "train_step_us_max": 520.0, "train_step_cycles_p95": p95,
            "train_step_instructions_p95": None, "backward_macs_ratio": macs,
            "samples_trained": 160, "samples_skipped": 40, "samples_not_selected": 0,
            "labels_used": 200, "arena_peak_bytes": 17_904, "stack_high_water_bytes": 2_312,
            "frames_bad": 0,
        },
        "expectations": expectations if expectations is not None else [
            {"metric": "accuracy", "expected": ">= 0.85", "actual": accuracy,
             "passed": accuracy >= 0.85, "reason": f"accuracy = {accuracy:.6g} meets >= 0.85"},
            {"metric": "labels_used", "expected": "<= 200", "actual": 200.0, "passed": True,
             "reason": "labels_used = 200 meets <= 200"},
        ],
        "timings": {"reset": 0.01, "configure": 0.02, "stream": 6.42},
        "error": None,
        "base_weights_sha256": "ab" * 32, "final_weights_sha256": "cd" * 32,
        "device_metrics": {"k_mean": [0.0, 1.0], "cycles_hz": hz},
        "step_cycles": cycles,
    }


def sample_run(plan: str = "smoke", started: str = "2024-05-02T09:00:00.000+00:00",
               finished: str | None = "2024-05-02T09:03:10.500+00:00") -> dict[str, Any]:
    """A realistic run.json: two devices, two strategies each, one of them a broken run."""
    qemu, board = "qemu-an386", "nrf52840dk-1"
    t = started[:17]  # "2024-05-02T09:00:" .. build times within the same minute
    runs = [
        _run(qemu, "last_layer", "last_layer", started=t + "01.000+00:00",
             finished=t + "20.000+00:00"),
        _run(qemu, "tinyprop", "tinyprop", started=t + "21.000+00:00",
             finished=t + "40.000+00:00", accuracy=0.79, before=0.82, macs=0.12, status="failed",
             expectations=[{"metric": "accuracy", "expected": ">= 0.85", "actual": 0.79,
                            "passed": False, "reason": "accuracy = 0.79 misses >= 0.85"}]),
        _run(board, "last_layer", "last_layer", started=t + "02.000+00:00",
             finished=t + "30.000+00:00", accuracy=0.93, hz=64_000_000),
        # broke early: no metrics beyond what the image told, no expectations
        {"device": board, "strategy": "tinyprop", "strategy_kind": "tinyprop",
         "status": "error", "started": t + "31.000+00:00", "finished": t + "33.000+00:00",
         "metrics": {"ram_bytes": 40_000, "flash_bytes": 90_000}, "expectations": [],
         "timings": {"reset": 0.01},
         "error": "LinkError: no reply to TRAIN within 2.0 s"},
    ]
    return {
        "schema": 1, "status": "error", "started": started, "finished": finished,
        "host": {"python": "3.11.7", "machine": "x86_64", "node": "bench-1"},
        "plan": {"name": plan, "path": "test_plans/smoke.yaml", "sha256": "5e" * 32,
                 "content": {"name": plan, "description": "Adapt to a dimmer sensor.",
                             "dataset": "digits"}},
        "devices_selected": [qemu, board],
        "base_model": {"key": "digits-64-32-10-s7", "sha256": "9f" * 32, "arch": [64, 32, 10],
                       "cached": True, "host_accuracy": 0.953, "epochs": 30},
        "devices": {
            qemu: {"entry": {"id": qemu, "backend": "qemu", "board": "mps2-an386",
                             "machine": "mps2-an386"},
                   "image": {"path": "/build/qemu/odl_app.elf", "sha256": "1a2b3c4d" * 8,
                             "build_id": "a1b2c3d", "fw_version": "0.3.0",
                             "machine": "ARM", "flash_bytes": 96_512, "ram_bytes": 41_232},
                   "hello": {"protocol_version": 3, "fw_version": "0.3.0", "git_hash": "a1b2c3d",
                             "board": "mps2-an386", "cycles_hz": 25_000_000},
                   "latency": {"source": "icount", "note": "QEMU -icount shift=3: virtual time",
                               "instructions_per_cycle": 1.0},
                   "serial_url": "socket://127.0.0.1:40123"},
            board: {"entry": {"id": board, "backend": "board", "board": "nrf52840dk/nrf52840"},
                    "image": {"path": "/build/nrf/zephyr.elf", "sha256": "77ee" * 16,
                              "build_id": "a1b2c3d", "fw_version": "0.3.0", "machine": "ARM",
                              "flash_bytes": 120_004, "ram_bytes": 52_100},
                    "hello": {"fw_version": "0.3.0", "git_hash": "a1b2c3d",
                              "board": "nrf52840dk", "cycles_hz": 64_000_000},
                    "latency": {"source": "dwt", "note": "DWT cycle counter at 64 MHz",
                                "instructions_per_cycle": None}},
        },
        "runs": runs,
        "errors": [{"where": board, "message": "target reset <unexpectedly> & recovered",
                    "time": t + "32.000+00:00"}],
    }


class _Checker(HTMLParser):
    """Fails on a close tag that does not match the open one: a cheap well-formedness check."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(doc: str) -> _Checker:
    checker = _Checker()
    checker.feed(doc)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    return checker


def _svgs(doc: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", doc, flags=re.S)]


def test_report_is_well_formed_and_complete(tmp_path: Path) -> None:
    data = sample_run()
    path = write_report(data, tmp_path / "report.html")
    assert path == tmp_path / "report.html"
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>")
    checker = _parse(doc)
    text = " ".join(checker.text)
    for device in ("qemu-an386", "nrf52840dk-1"):
        assert device in text
    for strategy in ("last_layer", "tinyprop"):
        assert strategy in text
    # device facts
    for fact in ("mps2-an386", "nrf52840dk/nrf52840", "a1b2c3d", "0.3.0", "1a2b3c4d1a2b",
                 "96,512", "120,004", "QEMU -icount shift=3", "DWT cycle counter"):
        assert fact in text, fact
    # results: accuracy before → after, gain, the broken run's reason, the journal error
    assert "0.820 → 0.910" in text
    assert "+0.090" in text
    assert "LinkError: no reply to TRAIN within 2.0 s" in text
    assert "digits-64-32-10-s7" in text and "64-32-10" in text
    # no external anything
    assert not re.search(r"<(script|link)\b", doc)
    assert "http://" not in doc.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in doc


def test_expectations_are_marked_pass_and_fail() -> None:
    checker = _parse(render_report(sample_run()))
    marks = [a.get("class") for tag, a in checker.tags if tag == "li" and a.get("class")]
    # 2 + 1 + 2 expectations; the broken run has none
    assert marks.count("pass") == 4
    assert marks.count("fail") == 1
    rows = [a.get("class") for tag, a in checker.tags if tag == "tr" and a.get("class")]
    # grouped by strategy, then device
    assert rows == ["passed", "passed", "failed", "error"]


def test_strings_are_escaped() -> None:
    data = sample_run(plan="<script>alert('x')</script>")
    data["runs"][0]["strategy"] = 'a"b<i>'
    doc = render_report(data)
    assert "<script>" not in doc
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in doc
    assert "<i>" not in doc
    assert "target reset &lt;unexpectedly&gt; &amp; recovered" in doc
    _parse(doc)
    _svgs(doc)  # the escaped strategy in the SVG still parses as XML


def test_svg_plots() -> None:
    data = sample_run()
    doc = render_report(data)
    svgs = _svgs(doc)
    # grouped by strategy (plan order), then device (selection order)
    pairs = sorted(((r["device"], r["strategy"]) for r in data["runs"]),
                   key=lambda p: (p[1] != "last_layer", p[0] != "qemu-an386"))

    accuracy = next(s for s in svgs if "Accuracy" in (s.get("aria-label") or ""))
    groups = [g for g in accuracy.iter(f"{SVG_NS}g") if g.get("class") == "group"]
    assert [(g.get("data-device"), g.get("data-strategy")) for g in groups] == pairs
    bars = [r for r in accuracy.iter(f"{SVG_NS}rect") if "bar" in (r.get("class") or "").split()]
    after = [r for r in bars if "after" in r.get("class", "").split()]
    before = [r for r in bars if "before" in r.get("class", "").split()]
    # one "after" bar per pair that measured accuracy; the broken run shows n/a instead
    assert len(after) == len(before) == 3
    assert sum("n/a" in "".join(g.itertext()) for g in groups) == 1
    # taller bar for the higher accuracy: 0.93 on the board beats 0.79 (tinyprop on QEMU)
    heights = [float(r.get("height")) for r in after]
    assert heights[1] > heights[0] > heights[2]

    macs = next(s for s in svgs if "MACs" in (s.get("aria-label") or ""))
    assert len([r for r in macs.iter(f"{SVG_NS}rect")
                if "bar" in (r.get("class") or "").split()]) == 3

    # a step-time histogram per run with step_cycles, in µs, with the p95 marked
    steps = [s for s in svgs if (s.get("aria-label") or "").startswith("Step time")]
    assert len(steps) == 3
    for svg in steps:
        p95 = [t for t in svg.iter(f"{SVG_NS}text") if t.get("class") == "p95"]
        assert len(p95) == 1 and "µs" in p95[0].text and "p95" in p95[0].text
        assert sum(1 for r in svg.iter(f"{SVG_NS}rect") if r.get("class") == "hist") > 1


def test_step_time_in_cycles_when_the_clock_is_unknown() -> None:
    data = sample_run()
    for info in data["devices"].values():
        info["hello"].pop("cycles_hz")
    for run in data["runs"]:
        run.get("device_metrics", {}).pop("cycles_hz", None)
    doc = render_report(data)
    steps = [s for s in _svgs(doc) if (s.get("aria-label") or "").startswith("Step time")]
    labels = [t.text for s in steps for t in s.iter(f"{SVG_NS}text") if t.get("class") == "p95"]
    assert labels and all("cycles" in t for t in labels)


@pytest.mark.parametrize("data", [
    {},
    {"schema": 1, "status": "running", "started": "2024-05-02T09:00:00+00:00", "finished": None,
     "host": {}, "plan": {"name": "early"}, "base_model": None, "devices": {}, "runs": [],
     "errors": []},
    {"plan": {"name": "odd"}, "runs": [{"device": "d", "strategy": "s", "status": "error",
                                        "metrics": None, "expectations": None,
                                        "step_cycles": [7]}],
     "devices": {"d": {"hello": None}}},
])
def test_partial_runs_render(data: dict[str, Any], tmp_path: Path) -> None:
    doc = write_report(copy.deepcopy(data), tmp_path / "r.html").read_text(encoding="utf-8")
    _parse(doc)
    _svgs(doc)


def test_report_of_a_json_round_trip_with_nan() -> None:
    """run.json is written with allow_nan, so NaN can come back from disk."""
    data = json.loads(json.dumps(sample_run(), allow_nan=True).replace("0.33", "NaN"))
    doc = render_report(data)
    _parse(doc)


def test_escape_shows_a_dash_for_what_is_missing_and_escapes_markup() -> None:
    """Every report section escapes through one function: no cell reads "None"."""
    from hil_service.report_access import DASH, escape

    assert escape(None) == DASH and escape("") == DASH
    assert escape(0) == "0" and escape(0.5) == "0.5"
    assert escape('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
