"""The report's new parts: training curves, step time across devices, regressions, history
sparklines, page-width charts, µs without scientific notation, effective status."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

from hil_service.report import render_report, write_report
from hil_service.train_curve import train_curve
from tests.service.test_report import SVG_NS, _parse, _svgs, sample_run

from .conftest import night


def _curve(n: int, first_acc: float) -> dict[str, list[float]]:
    class S:
        # 16-sample replies, accuracy rising from first_acc, loss falling
        batches = tuple((16, min(16, int(16 * first_acc) + i // 2), 16 * (2.0 - i / n)) for i in range(n))

    curve = train_curve([S()])
    assert curve is not None
    return curve


def test_training_curves_per_strategy_with_a_line_per_device() -> None:
    data = sample_run()
    data["runs"][0]["train_curve"] = _curve(12, 0.5)  # qemu last_layer
    data["runs"][2]["train_curve"] = _curve(12, 0.6)  # board last_layer
    doc = render_report(data)
    _parse(doc)
    assert doc.count('class="pair plot-train-curve"') == 1  # tinyprop recorded none
    svgs = {s.get("aria-label"): s for s in _svgs(doc)}
    loss, acc = svgs["Training loss of last_layer"], svgs["Running accuracy of last_layer"]
    for svg in (loss, acc):
        lines = [p for p in svg.iter(f"{SVG_NS}polyline")]
        assert [p.get("data-series") for p in lines] == ["qemu-an386", "nrf52840dk-1"]
        assert all(len(p.get("points", "").split()) == 12 for p in lines)
    # accuracy on a 0..1 axis: the running accuracy of the board ends higher (smaller y)
    ends = [float(p.get("points", "").split()[-1].split(",")[1]) for p in acc.iter(f"{SVG_NS}polyline")]
    assert ends[1] < ends[0]


def test_train_curve_is_compact_and_cumulative() -> None:
    class S:
        batches = tuple((16, 8, 16.0) for _ in range(1000)) + ((5, 5, 0.5),)

    curve = train_curve([S()], max_points=100)
    assert curve is not None
    assert len(curve["samples"]) <= 100 and curve["samples"][-1] == 16_005
    assert curve["loss"][0] == 1.0 and curve["accuracy_window"][0] == 0.5
    assert curve["accuracy"][-1] == round((8000 + 5) / 16_005, 5)
    # points of 11 replies (176 >= 16005 / 100 samples); the last holds the 10 left and the short one
    assert len(curve["samples"]) == 91 and curve["samples"][0] == 176
    assert curve["accuracy_window"][-1] == round((10 * 8 + 5) / (10 * 16 + 5), 5)
    assert train_curve([]) is None


def test_step_time_compared_across_devices_for_one_strategy() -> None:
    data = sample_run()
    data["runs"][2]["metrics"].update(train_step_us_p50=250.0, train_step_us_p95=310.0,
                                      train_step_us_max=400.0)
    doc = render_report(data)
    [svg] = [s for s in _svgs(doc) if s.get("aria-label") == "Trained step time per device, last_layer"]
    groups = [g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "group"]
    assert [g.get("data-device") for g in groups] == ["qemu-an386", "nrf52840dk-1"]
    bars = [[r for r in g.iter(f"{SVG_NS}rect")] for g in groups]
    assert [len(b) for b in bars] == [3, 3]
    # the board's p95 (310 µs) is shorter than the emulator's
    assert float(bars[1][1].get("height", 0)) < float(bars[0][1].get("height", 0))
    assert "310.0 µs" in "".join(bars[1][1].itertext())
    # tinyprop: one device measured it, nothing to compare
    assert "Trained step time per device, tinyprop" not in doc


def test_large_microseconds_are_never_in_scientific_notation() -> None:
    data = sample_run()
    for run in data["runs"][:3]:
        run["metrics"].update(train_step_us_p50=98_765.4, train_step_us_p95=123_456.7,
                              train_step_us_max=250_001.0)
        run["step_cycles"] = [3_000_000 + 1000 * i for i in range(50)]
    doc = render_report(data)
    assert "123,457" in doc
    assert not re.search(r"\d[eE][+-]\d\d", " ".join(_parse(doc).text))
    for svg in _svgs(doc):
        for t in svg.iter(f"{SVG_NS}text"):
            assert not re.search(r"\d[eE][+-]\d", t.text or ""), t.text


def test_charts_fit_the_page_width() -> None:
    doc = render_report(sample_run())
    assert "svg { max-width: 100%; height: auto; }" in doc
    for svg in _svgs(doc):
        assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"  # scales, keeps shape


def test_abandoned_and_stopped_runs_show_as_such() -> None:
    data = sample_run()
    data.update(status="running", pid=1, boot_id="a-boot-long-gone")
    data["host"]["node"] = __import__("platform").node()
    assert 'class="badge abandoned">abandoned<' in render_report(data)
    data["status"] = "stopped"
    assert 'class="badge stopped">stopped<' in render_report(data)


def test_report_shows_the_regression_and_a_sparkline_per_series(tmp_path: Path) -> None:
    for day, acc in enumerate([0.95, 0.944, 0.956, 0.95], start=1):
        night(tmp_path, day, acc, p95=1500.0 + day)
    run = night(tmp_path, 5, 0.80, p95=1503.0)
    later = night(tmp_path, 6, 0.95)  # a later run is not in the fifth night's report
    data = json.loads((run / "run.json").read_text())
    doc = write_report(data, run / "report.html").read_text(encoding="utf-8")
    _parse(doc)
    [item] = re.findall(r'<ul class="expect regressions">(.*?)</ul>', doc)
    assert 'data-metric="accuracy"' in item and "REGRESSION qemu-an385 tinyprop: accuracy 0.8 &lt; 0.931" in item
    rows = dict(re.findall(r'<tr data-series="tinyprop/qemu-an385/([a-z_0-9]+)">(.*?)</tr>', doc))
    assert set(rows) == {"accuracy", "train_step_us_p95"}
    assert "badge regression" in rows["accuracy"] and "badge regression" not in rows["train_step_us_p95"]
    spark = ET.fromstring(re.search(r"<svg\b.*?</svg>", rows["accuracy"], flags=re.S).group(0))  # type: ignore[union-attr]
    assert len(spark.find(f"{SVG_NS}polyline").get("points", "").split()) == 5  # type: ignore[union-attr]
    circles = [c.get("class") for c in spark.iter(f"{SVG_NS}circle")]
    assert circles == ["regressed"]  # this run, flagged
    assert '<td class="num">0.95</td>' in rows["accuracy"]  # median of the earlier runs
    # the sixth night's report: five earlier points, the old regression still marked red
    doc6 = write_report(json.loads((later / "run.json").read_text()), later / "report.html").read_text()
    row6 = re.search(r'<tr data-series="tinyprop/qemu-an385/accuracy">(.*?)</tr>', doc6)
    assert row6 is not None and row6.group(1).count('class="regressed"') == 1
    assert 'class="now"' in row6.group(1) and "Regressions</h2>" not in doc6


def test_report_without_a_history_store_has_no_history_section(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    doc = write_report(sample_run(), run / "report.html").read_text(encoding="utf-8")
    assert "<h2>History</h2>" not in doc and "<h2>Regressions</h2>" not in doc
