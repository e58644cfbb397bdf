"""The report of a federated run: accuracy per round against both baselines, bytes per round.

The run is synthetic but shaped exactly as FederatedWorkflow journals it (the annotate and
record calls of hil_service/workflows/federated.py, the round events of federation/app.py),
so no Flower is needed.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.etree import ElementTree as ET

from hil_service.report import render_report
from tests.service.test_report import SVG_NS, _parse, _svgs

IDS = ["native-a", "qemu-an386"]
ACCURACY = [0.6356, 0.8956, 0.9244, 0.9511]  # base model, then after rounds 1..3
CENTRAL = 0.9467
LOCAL_ONLY = {"native-a": 0.8774, "qemu-an386": 0.9457}
WHY = "[qemu-an386] train round 2: EVALUATE (seq 4): serial port read failed"


def _device_round(pid: int, serial_down: float, serial_up: float) -> dict[str, float]:
    return {"num-examples": 120.0, "partition-id": float(pid), "global-accuracy-local": 0.87,
            "train-loss": 0.24, "samples-trained": 120.0, "step-us-p50": 3.0,
            "serial-bytes-down": serial_down, "serial-bytes-up": serial_up,
            "flower-bytes-up": 4840.0, "seconds": 0.15}


def _round(n: int, devices: list[str], serial: dict[str, tuple[float, float]]) -> dict[str, Any]:
    missed = {d: WHY for d in IDS if d not in devices}
    return {"t": 1795789119.0 + n, "kind": "round", "round": n, "accuracy": ACCURACY[n],
            "devices": {d: _device_round(IDS.index(d), *serial[d]) for d in devices},
            "missed": missed, "flower_bytes_down": 5352 * len(IDS), "flower_bytes_up": 5352 * len(devices),
            "replies": [], "seconds": 9.6}


SERIAL = {"native-a": (94_137.0, 10_222.0), "qemu-an386": (60_000.0, 9_000.0)}


def federated_run() -> dict[str, Any]:
    rounds = [_round(1, IDS, SERIAL), _round(2, ["native-a"], SERIAL), _round(3, IDS, SERIAL)]
    run = {
        "device": "+".join(IDS), "strategy": "kill", "status": "passed",
        "started": "2026-11-27T14:00:00+00:00", "finished": "2026-11-27T14:01:00+00:00",
        "strategy_kind": "full", "workflow": "federated", "devices": IDS,
        "metrics": {"centralised_accuracy": CENTRAL, "final_accuracy": ACCURACY[-1],
                    "rounds_to_target": None, "bytes_per_round": 19624.0,
                    "serial_bytes_per_round": 173729.0, "rounds_completed": 3, "missed_rounds": 1,
                    "round_seconds": 9.5, "centralised_gap": CENTRAL - ACCURACY[-1]},
        "expectations": [],
        "federation": {"partition": "iid", "devices": IDS, "train_samples": {d: 60 for d in IDS}},
        "device_results": {d: {"metrics": {"local_only_accuracy": LOCAL_ONLY[d],
                                           "local_accuracy_before": 0.63, "local_accuracy_after": 0.95,
                                           "gain_over_local_only": 0.95 - LOCAL_ONLY[d],
                                           "round_step_us_p50": 3.4, "device_missed_rounds": 0.0}}
                           for d in IDS},
        "baselines": {"epochs": 6, "orders": [0, 1, 2], "centralised": [0.94, 0.96, 0.94],
                      "local_only": {d: [LOCAL_ONLY[d]] * 3 for d in IDS}},
        "federation_run": {"superlink": "127.0.0.1:4000", "flower_run_id": "1",
                           "aggregation": "fedavg", "compression": "none"},
        "federation_rounds": rounds,
        "federation_restarts": [{"device": "qemu-an386", "after_round": 1, "why": "exit code -9",
                                 "serial_url": "socket://127.0.0.1:5"}],
        "federation_final": {"kind": "final", "devices": {}, "missed": {}},
        "accuracy_per_round": ACCURACY,
        "client_journals": {d: [] for d in IDS},
        "missed": [{"device": "qemu-an386", "round": 2, "why": WHY}],
    }
    return {"schema": 1, "status": "passed", "plan": {"name": "fed"}, "devices_selected": IDS,
            "devices": {}, "runs": [run]}


def _plot(doc: str, start: str) -> ET.Element:
    (svg,) = [s for s in _svgs(doc) if (s.get("aria-label") or "").startswith(start)]
    return svg


def _y_of(svg: ET.Element) -> dict[float, float]:
    """Value -> y for every point and baseline that carries its value."""
    out = {float(c.get("data-value", "nan")): float(c.get("cy", "nan"))
           for c in svg.iter(f"{SVG_NS}circle")}
    out |= {float(ln.get("data-value", "nan")): float(ln.get("y1", "nan"))
            for ln in svg.iter(f"{SVG_NS}line") if ln.get("data-value")}
    return out


def test_accuracy_per_round_against_both_baselines() -> None:
    doc = render_report(federated_run())
    _parse(doc)
    svg = _plot(doc, "Global accuracy per round of native-a+qemu-an386 / kill")
    points = [c for c in svg.iter(f"{SVG_NS}circle")]
    assert [int(c.get("data-round", "-1")) for c in points] == [0, 1, 2, 3]
    assert [float(c.get("data-value", "nan")) for c in points] == ACCURACY
    # round 2 is marked as missed by the device that was killed, in its tooltip too
    assert [("missed" in (c.get("class") or "")) for c in points] == [False, False, True, False]
    assert "missed: qemu-an386" in "".join(points[2].itertext())
    (line,) = [p for p in svg.iter(f"{SVG_NS}polyline")]
    assert len((line.get("points") or "").split()) == 4

    baselines = {(ln.get("class"), ln.get("data-device")): float(ln.get("data-value", "nan"))
                 for ln in svg.iter(f"{SVG_NS}line") if ln.get("data-value")}
    assert baselines == {("baseline centralised", None): CENTRAL,
                         ("baseline local-only dev0", "native-a"): LOCAL_ONLY["native-a"],
                         ("baseline local-only dev1", "qemu-an386"): LOCAL_ONLY["qemu-an386"]}
    # one y scale for all: higher accuracy is drawn higher (smaller y)
    ys = _y_of(svg)
    ordered = sorted(ys, reverse=True)
    assert [ys[v] for v in ordered] == sorted(ys[v] for v in ordered)
    assert ys[LOCAL_ONLY["native-a"]] > ys[ACCURACY[2]] > ys[CENTRAL] > ys[ACCURACY[3]]

    legend = [t.text or "" for t in svg.iter(f"{SVG_NS}text") if t.get("class") == "legend"]
    assert legend == ["federated (global model, global test split) 0.951 after round 3",
                      "centralised (twin, all partitions, global test split) 0.947",
                      "local-only native-a (twin, its partition, its test split) 0.877",
                      "local-only qemu-an386 (twin, its partition, its test split) 0.946"]


def test_bytes_per_round_over_flower_and_serial() -> None:
    doc = render_report(federated_run())
    svg = _plot(doc, "Bytes per round of native-a+qemu-an386 / kill")
    groups = [g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "group"]
    assert [(g.get("data-device"), g.get("data-strategy")) for g in groups] == [
        ("round 1", "2 devices"), ("round 2", "1 device"), ("round 3", "2 devices")]
    both = sum(SERIAL["native-a"]) + sum(SERIAL["qemu-an386"])
    alone = sum(SERIAL["native-a"])
    want = {"round 1": (4 * 5352, both), "round 2": (3 * 5352, alone), "round 3": (4 * 5352, both)}
    heights: dict[tuple[str, str], float] = {}
    for g in groups:
        bars = [r for r in g.iter(f"{SVG_NS}rect") if "bar" in (r.get("class") or "").split()]
        tips = {r.get("class", "").split()[1]: "".join(r.itertext()) for r in bars}
        flower, serial = want[g.get("data-device", "")]
        assert tips == {"flower": f"{g.get('data-device')} / {g.get('data-strategy')}: "
                                  f"Flower (down + up) {flower:,.0f}",
                        "serial": f"{g.get('data-device')} / {g.get('data-strategy')}: "
                                  f"serial links {serial:,.0f}"}
        for r in bars:
            heights[(g.get("data-device", ""), r.get("class", "").split()[1])] = float(r.get("height", 0))
    # round 2 moved fewer bytes (one device), and serial traffic dwarfs Flower's
    assert heights[("round 2", "serial")] < heights[("round 1", "serial")] == heights[("round 3", "serial")]
    assert heights[("round 2", "flower")] < heights[("round 1", "flower")]
    assert heights[("round 1", "flower")] < heights[("round 1", "serial")]
    legend = {t.text for t in svg.iter(f"{SVG_NS}text")}
    assert {"Flower (down + up)", "serial links", "bytes"} <= legend


def test_a_run_without_rounds_or_baselines_still_renders() -> None:
    data = federated_run()
    (run,) = data["runs"]
    bare = copy.deepcopy(data)
    bare["runs"][0] = {k: v for k, v in run.items() if k not in ("federation_rounds",)}
    assert "Federated learning" not in render_report(bare)  # a member host's run: nothing to plot

    partial = copy.deepcopy(data)
    r = partial["runs"][0]
    r["metrics"].pop("centralised_accuracy")
    r["device_results"] = {}
    r["accuracy_per_round"] = [None, *ACCURACY[1:]]
    r["federation_rounds"][1].pop("flower_bytes_up")
    doc = render_report(partial)
    _parse(doc)
    svg = _plot(doc, "Global accuracy per round")
    assert [int(c.get("data-round", "-1")) for c in svg.iter(f"{SVG_NS}circle")] == [1, 2, 3]
    assert not [ln for ln in svg.iter(f"{SVG_NS}line") if ln.get("data-value")]
    # half a measurement is not shown as the whole: round 2's Flower bar is n/a
    bars = _plot(doc, "Bytes per round")
    (round2,) = [g for g in bars.iter(f"{SVG_NS}g") if g.get("data-device") == "round 2"]
    assert "n/a" in "".join(round2.itertext())
    assert not [r for r in round2.iter(f"{SVG_NS}rect") if "flower" in (r.get("class") or "")]
