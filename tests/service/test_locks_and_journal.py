"""Device locks across threads and processes; run.json as it is written; the base-model cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil_service import base_models
from hil_service.locks import DeviceBusy, DeviceLock
from hil_service.plan import load_plan
from hil_service.results import RunFileError, RunJournal, load_run

from .conftest import PASSING_RUN, small_plan

HOLDER = """
import sys, time
from hil_service.locks import DeviceLock
lock = DeviceLock(sys.argv[1]); lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_lock_excludes_within_a_process() -> None:
    with DeviceLock("qemu-an386"):
        with pytest.raises(DeviceBusy, match=rf"device qemu-an386 is in use by pid {os.getpid()}"):
            DeviceLock("qemu-an386").acquire()
        DeviceLock("native").acquire()  # other devices are free
    DeviceLock("qemu-an386").acquire()


def test_lock_excludes_across_processes_and_dies_with_its_holder() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "board/1"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = DeviceLock("board/1")
        t0 = time.monotonic()
        with pytest.raises(DeviceBusy, match=rf"in use by pid {holder.pid}"):
            lock.acquire(timeout=0.3)
        assert time.monotonic() - t0 >= 0.3
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock.acquire(timeout=2.0)  # the kernel dropped the dead holder's lock
    assert lock.held
    lock.release()


def test_journal_is_complete_json_after_every_step(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path, {"name": "p"})
    assert load_run(tmp_path)["status"] == "running"
    i = journal.start_run("dev", "s1")
    journal.update_run(i, metrics={"accuracy_before": 0.8})
    journal.update_run(i, metrics={"accuracy": 0.9}, timings={"stream": 1.0})
    on_disk = load_run(tmp_path)  # what a crash right now would leave
    assert on_disk["runs"][0]["metrics"] == {"accuracy_before": 0.8, "accuracy": 0.9}
    assert on_disk["runs"][0]["status"] == "running"
    assert not list(tmp_path.glob(".run.*"))  # no temporary files left behind
    journal.finish_run(i, "passed", expectations=[])
    assert journal.finish() == "passed"
    j = load_run(tmp_path)
    assert j["status"] == "passed" and j["finished"]
    assert (tmp_path / "junit.xml").is_file()


def test_journal_status_rules(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path, {"name": "p"})
    journal.finish_run(journal.start_run("a", "s"), "passed")
    journal.finish_run(journal.start_run("b", "s"), "failed")
    assert journal.finish() == "failed"
    journal.error("c", "probe not found")
    assert journal.finish() == "error"
    junit = (tmp_path / "junit.xml").read_text()
    assert 'classname="p.c" name="setup"' in junit and "probe not found" in junit


def test_load_run_errors(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"schema": 1, "runs": [')
    with pytest.raises(RunFileError, match="run.json is not valid JSON"):
        load_run(tmp_path)
    with pytest.raises(RunFileError, match="run.json does not exist: not a run directory"):
        load_run(tmp_path / "nowhere")


def test_base_model_cached_by_recipe(tmp_path: Path) -> None:
    plan = load_plan(small_plan(tmp_path, PASSING_RUN))
    data = base_models.prepare_data(plan)
    first = base_models.prepare(plan, data, tmp_path / "cache")
    again = base_models.prepare(plan, data, tmp_path / "cache")
    assert not first.cached and again.cached
    assert (first.key, first.sha256, first.blob) == (again.key, again.sha256, again.blob)
    assert first.arch.sizes == (64, 16, 10)
    other = load_plan(small_plan(tmp_path, PASSING_RUN, name="p2.yaml"))
    text = (tmp_path / "p2.yaml").read_text().replace("epochs: 5", "epochs: 6")
    (tmp_path / "p2.yaml").write_text(text)
    other = load_plan(tmp_path / "p2.yaml")
    changed = base_models.prepare(other, base_models.prepare_data(other), tmp_path / "cache")
    assert changed.key != first.key and changed.sha256 != first.sha256 and not changed.cached
    assert len(list((tmp_path / "cache").glob("*.blob"))) == 2
    assert json.dumps(first.host_accuracy)  # a plain float for run.json


def test_firmware_builds_wait_for_each_other(tmp_path, monkeypatch) -> None:
    """A build waits while another holds the build tree, so no run executes a program
    that another is still linking (ETXTBSY) or takes a half-written one as up to date."""
    import fcntl
    import threading

    from hil_service import firmware_build

    monkeypatch.setenv("HIL_BUILD_DIR", str(tmp_path / "build"))
    firmware_build.build_dir().mkdir(parents=True)
    built: list[object] = []
    with open(firmware_build.build_dir() / ".build.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: built.append(firmware_build.build_firmware_posix()))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not built  # waiting on the holder, nothing built yet
        assert not (firmware_build.build_dir() / "fw_posix").exists()
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(120)
    assert built and os.access(str(built[0]), os.X_OK)
