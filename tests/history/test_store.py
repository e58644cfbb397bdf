"""history.sqlite: schema and its migrations, indexing, reindexing, several writers at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hil_service.history import DB_NAME, MIGRATIONS, SCHEMA_VERSION, HistoryError, HistoryStore, SeriesKey

from .conftest import PLAN, night

KEY = SeriesKey(PLAN, "tinyprop", "qemu-an385", "accuracy")


def test_a_new_store_is_at_the_current_version_in_wal_mode(tmp_path: Path) -> None:
    with HistoryStore(tmp_path) as store:
        assert store.version() == SCHEMA_VERSION == len(MIGRATIONS) >= 2
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "points", "regressions"} <= tables


def test_a_version_1_store_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO runs (id, run_dir, plan, started, status) VALUES "
               "(1, 'old-run', 'nightly', '2026-10-01T02:00:00+00:00', 'passed')")
    db.execute("INSERT INTO points VALUES (1, 'nightly', 'tinyprop', 'qemu-an385', 'accuracy', "
               "'2026-10-01T02:00:00+00:00', 'passed', 0.93)")
    db.commit()
    db.close()
    with HistoryStore(tmp_path) as store:
        assert store.version() == SCHEMA_VERSION
        points = store.series(metric="accuracy")[KEY]
        assert [(p.run_dir, p.value, p.regression) for p in points] == [("old-run", 0.93, False)]
        # the table version 2 added works
        store.db.execute("INSERT INTO regressions VALUES (1, 'tinyprop', 'qemu-an385', 'accuracy', "
                         "0.5, 0.9, 0.01, 0.85, 'lower', 4)")
        assert store.series(metric="accuracy")[KEY][0].regression


def test_a_store_newer_than_this_hil_is_refused_by_name(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(HistoryError, match=rf"{DB_NAME}: schema version {SCHEMA_VERSION + 1} is newer"):
        HistoryStore(tmp_path)


def test_not_a_database_is_a_history_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=DB_NAME):
        HistoryStore(tmp_path)


def test_runs_are_indexed_as_they_finish_and_reindex_rebuilds_the_same(tmp_path: Path) -> None:
    for day, acc in enumerate([0.95, 0.94, 0.96], start=1):
        night(tmp_path, day, acc)
    night(tmp_path, 4, 0.20, status="error")  # a broken night: indexed, never a baseline
    with HistoryStore(tmp_path) as store:
        before = store.series()
        points = before[KEY]
        assert [p.value for p in points] == [0.95, 0.94, 0.96, 0.20]
        assert [p.status for p in points] == ["passed"] * 3 + ["error"]
        assert store.baseline(KEY, "2026-11-30") == [0.95, 0.94, 0.96]
        assert store.db.execute("SELECT status FROM runs ORDER BY started").fetchall()[-1] == ("error",)
        # the run directories are the truth: the store is rebuilt from them
        store.db.execute("DELETE FROM runs")
        assert store.series() == {}
        assert store.reindex() == 4
        assert store.series() == before


def test_reindex_skips_a_directory_without_a_run_json(tmp_path: Path) -> None:
    night(tmp_path, 1, 0.9)
    (tmp_path / "half-made").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    with HistoryStore(tmp_path) as store:
        assert store.reindex() == 1


def test_reindex_shows_a_dead_running_run_as_abandoned(tmp_path: Path) -> None:
    run_dir = night(tmp_path, 1, 0.9)
    data = json.loads((run_dir / "run.json").read_text())
    data.update(status="running", boot_id="another-boot")
    (run_dir / "run.json").write_text(json.dumps(data))
    with HistoryStore(tmp_path) as store:
        store.reindex()
        assert store.db.execute("SELECT status FROM runs").fetchall() == [("abandoned",)]


WRITER = r"""
import sys
from pathlib import Path
from hil_service.history import HistoryStore
root, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    # a connection per run, as separate `hil run` processes have
    with HistoryStore(root) as store:
        store.index_run(root / f"{who}-{i}", {
            "plan": {"name": "nightly"}, "status": "passed",
            "started": f"2026-11-01T02:{i:02d}:00.000+00:00",
            "runs": [{"device": who, "strategy": "s", "status": "passed",
                      "metrics": {"accuracy": 0.5 + i / 100, "train_step_us_p95": 1000 + i}}]})
print("ok")
"""


def test_several_processes_create_and_write_one_store_at_once(tmp_path: Path) -> None:
    writers, n = 5, 25
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"dut{w}", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(writers)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "ok", err
    with HistoryStore(tmp_path) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == writers * n
        assert store.db.execute("SELECT count(*) FROM points").fetchone()[0] == writers * n * 2
        series = store.series(metric="accuracy")
        assert len(series) == writers
        assert all([p.value for p in pts] == [0.5 + i / 100 for i in range(n)] for pts in series.values())
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
