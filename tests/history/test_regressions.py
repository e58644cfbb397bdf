"""Five nights, the fifth with an accuracy drop: flagged in run.json, junit.xml, the store and
`hil history`; with --fail-on-regression the run fails. Nights written with the journal API."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from hil_service.cli import main
from hil_service.history import HistoryStore, SeriesKey

from .conftest import PLAN, night

GOOD = [0.950, 0.944, 0.956, 0.950]


def _nights(root: Path, fifth: float, **kw: object) -> Path:
    for day, acc in enumerate(GOOD, start=1):
        run = night(root, day, acc)
        assert json.loads((run / "run.json").read_text())["regressions"] == []
    return night(root, 5, fifth, **kw)  # type: ignore[arg-type]


def test_an_accuracy_drop_in_the_fifth_night_is_a_regression_in_run_json(tmp_path: Path) -> None:
    data = json.loads((_nights(tmp_path, 0.80) / "run.json").read_text())
    assert data["status"] == "passed"  # without --fail-on-regression the verdict stands
    [r] = data["regressions"]
    assert r["strategy"] == "tinyprop" and r["device"] == "qemu-an385" and r["metric"] == "accuracy"
    assert r["value"] == 0.80 and r["median"] == pytest.approx(0.95) and r["runs"] == 4
    assert r["mad"] == pytest.approx(0.003) and r["direction"] == "lower"
    assert r["threshold"] == pytest.approx(0.95 - 0.95 * 0.02)  # the floor beats 3 * 1.4826 * MAD
    with HistoryStore(tmp_path) as store:
        points = store.series(metric="accuracy")[SeriesKey(PLAN, "tinyprop", "qemu-an385", "accuracy")]
        assert [p.regression for p in points] == [False] * 4 + [True]


def test_a_night_within_the_noise_is_not_flagged(tmp_path: Path) -> None:
    data = json.loads((_nights(tmp_path, 0.94) / "run.json").read_text())
    assert data["regressions"] == []


def test_a_slower_step_is_a_regression_too(tmp_path: Path) -> None:
    for day in range(1, 5):
        night(tmp_path, day, 0.95, p95=1500.0 + day)
    data = json.loads((night(tmp_path, 5, 0.95, p95=1800.0) / "run.json").read_text())
    assert [(r["metric"], r["direction"]) for r in data["regressions"]] == [("train_step_us_p95", "higher")]


def test_step_times_by_the_host_clock_are_not_judged(tmp_path: Path) -> None:
    # the native build times steps with the host's clock: a loaded CI host is no regression
    for day in range(1, 5):
        night(tmp_path, day, 0.95, p95=2.0 + day / 100, clock="host_clock")
    data = json.loads((night(tmp_path, 5, 0.80, p95=3.0, clock="host_clock") / "run.json").read_text())
    assert [r["metric"] for r in data["regressions"]] == ["accuracy"]


def test_broken_nights_are_no_baseline(tmp_path: Path) -> None:
    night(tmp_path, 1, 0.95)
    night(tmp_path, 2, 0.95)
    night(tmp_path, 3, 0.10, status="error")
    night(tmp_path, 4, 0.10, status="error")
    # two finished nights only: no verdict yet
    assert json.loads((night(tmp_path, 5, 0.5) / "run.json").read_text())["regressions"] == []


def test_junit_carries_the_regression_as_a_property(tmp_path: Path) -> None:
    suite = ET.parse(_nights(tmp_path, 0.80) / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    text = props[f"{PLAN}.qemu-an385.tinyprop.regression.accuracy"]
    assert text is not None and text.startswith("REGRESSION qemu-an385 tinyprop: accuracy 0.8 < 0.931")
    assert suite.get("failures") == "0"
    assert suite[0].tag == "properties"  # before the cases, as the schema wants


def test_fail_on_regression_fails_the_run_and_its_junit_case(tmp_path: Path) -> None:
    run = _nights(tmp_path, 0.80, fail_on_regression=True)
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    [case] = [c for c in suite.iter("testcase") if c.get("name") == "regressions"]
    failure = case.find("failure")
    assert failure is not None and "accuracy 0.8 < 0.931" in (failure.get("message") or "")
    assert suite.get("failures") == "1"


def test_fail_on_regression_keeps_a_passing_case_when_all_is_well(tmp_path: Path) -> None:
    run = _nights(tmp_path, 0.95, fail_on_regression=True)
    assert json.loads((run / "run.json").read_text())["status"] == "passed"
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    [case] = [c for c in suite.iter("testcase") if c.get("name") == "regressions"]
    assert case.find("failure") is None and suite.get("failures") == "0"


def test_hil_history_shows_the_series_and_flags_the_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _nights(tmp_path, 0.80)
    code = main(["history", "--runs-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1  # the newest run of a series shown is a regression
    rows = {line.split()[3]: line for line in out.splitlines()[1:] if line.startswith(PLAN)}
    assert set(rows) == {"accuracy", "accuracy_before", "train_step_us_p95"}  # samples_trained: no direction
    assert rows["accuracy"].split()[4:7] == ["5", "0.8", "0.95"] and rows["accuracy"].endswith("!  REGRESSION")
    assert "REGRESSION" not in rows["train_step_us_p95"]
    assert "1 series with a regression in their newest run" in out

    code = main(["history", "--runs-root", str(tmp_path), "--plan", PLAN, "--metric", "accuracy"])
    out = capsys.readouterr().out
    assert code == 1
    head, *table = out.splitlines()
    assert head.startswith(f"{PLAN} / tinyprop / qemu-an385 / accuracy (higher is better): ")
    assert head.endswith("!")
    assert table[0].split() == ["RUN", "STARTED", "(UTC)", "STATUS", "VALUE"] and len(table) == 7
    assert table[5].split()[-2:] == ["0.8", "REGRESSION"] and table[1].split()[-1] == "0.95"
    assert table[6] == "1 series with a regression in their newest run"

    code = main(["history", "--runs-root", str(tmp_path), "--metric", "train_step_us_p95"])
    out = capsys.readouterr().out
    assert code == 0 and "1,500" in out  # µs without scientific notation


def test_hil_history_reindex_and_an_empty_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--runs-root", str(tmp_path / "none")]) == 0
    assert "no history under" in capsys.readouterr().out
    _nights(tmp_path, 0.80)
    (tmp_path / "history.sqlite").unlink()
    for extra in ("history.sqlite-wal", "history.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    assert main(["history", "--runs-root", str(tmp_path), "--reindex", "--metric", "accuracy"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"indexed 5 runs into {tmp_path / 'history.sqlite'}")
    assert out.splitlines()[-2].endswith("0.8    REGRESSION")  # the flag comes back from run.json


def test_a_store_held_by_another_writer_never_blocks_or_changes_a_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3
    import time

    from hil_service import history

    night(tmp_path, 1, 0.95)
    holder = sqlite3.connect(tmp_path / "history.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    monkeypatch.setattr(history, "FINISH_TIMEOUT", 0.5)
    t0 = time.monotonic()
    run = night(tmp_path, 2, 0.95)
    assert time.monotonic() - t0 < 5
    data = json.loads((run / "run.json").read_text())
    # WAL: the run could still read its baseline and be judged; only its indexing waited and gave up
    assert data["status"] == "passed" and data["regressions"] == []
    assert "history.sqlite" in data["history_error"] and "locked" in data["history_error"]
    assert (run / "junit.xml").is_file()
    holder.execute("ROLLBACK")
    with HistoryStore(tmp_path) as store:  # --reindex catches up with what was missed
        assert store.reindex() == 2
