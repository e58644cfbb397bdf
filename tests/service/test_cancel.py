"""`hil run` cancelled as CI cancels it: SIGTERM / SIGHUP (clean stop) and SIGKILL (nothing survives).

Real processes: `hil run` is a subprocess streaming to real firmware in a real
QEMU; the test signals it mid-stream and then looks at /proc, the run
directory and `hil report`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_service.results import effective_status

from ..proc_util import children, gone_within
from .conftest import small_plan

# long enough that a signal sent at the first progress line lands mid-stream
LONG_RUN = """\
  - name: slow
    strategy: last_layer
    stream: {samples: 400, batch_size: 4}
    expect: {accuracy: ">= 0.5", samples_trained: "== 400"}
"""


class _Hil:
    """`hil run` on qemu-an386 as a subprocess, stopped at its first progress line."""

    def __init__(self, tmp_path: Path) -> None:
        plan = small_plan(tmp_path, LONG_RUN)
        self.out = tmp_path / "r"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hil_service.cli", "run", str(plan), "--dut", "qemu-an386",
             "--out", str(self.out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # a lock directory of its own: another test using qemu-an386 must not make it busy
            env={**os.environ, "HIL_LOCK_DIR": str(tmp_path / "locks")})
        self.err: list[str] = []

    def wait_streaming(self) -> tuple[int, Path]:
        """Block until the stream is under way; the QEMU pid and its work folder."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            if "slow streamed" in line:
                break
        else:
            pytest.fail(f"hil run ended before streaming: {''.join(self.err)}")
        (qemu,) = children(self.proc.pid, "qemu-system")
        return qemu, Path(os.readlink(f"/proc/{qemu}/cwd"))

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.err) + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def hil(tmp_path: Path) -> Iterator[_Hil]:
    h = _Hil(tmp_path)
    try:
        yield h
    finally:
        h.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_mid_stream_stops_the_run_cleanly(hil: _Hil, sig: signal.Signals) -> None:
    qemu, workdir = hil.wait_streaming()
    hil.proc.send_signal(sig)
    code, err = hil.finish()
    assert code == 2, err
    assert f"hil: error: stopped by {sig.name}" in err
    assert gone_within([qemu], 1.0), "QEMU outlived hil"
    assert not workdir.exists(), "QEMU's work folder was left behind"
    data = json.loads((hil.out / "run.json").read_text())
    assert data["status"] == "stopped" and effective_status(data) == "stopped"
    assert data["stopped"]["why"] == f"stopped by {sig.name}"
    assert data["finished"] is not None
    (run,) = data["runs"]
    assert run["status"] == "error" and run["finished"] is not None
    # junit.xml is written, with the expectation names a finished run has
    cases = ET.parse(hil.out / "junit.xml").getroot().findall(".//testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("small.qemu-an386.slow", "accuracy"), ("small.qemu-an386.slow", "samples_trained")]
    assert all(c.find("error") is not None and float(c.get("time", "0")) > 0 for c in cases)
    # the emulator's log and the link's counters are kept in the run directory
    console = (hil.out / "logs" / "qemu-an386.console.log").read_text()
    assert console.startswith("=== qemu-system-arm pid ")
    (stats,) = [json.loads(ln) for ln in
                (hil.out / "logs" / "qemu-an386.link.jsonl").read_text().splitlines()]
    assert stats["frames_sent"] > 0 and "errors" in stats
    # run.json is readable like the other outputs, not 0600
    assert (hil.out / "run.json").stat().st_mode & 0o777 == (hil.out / "junit.xml").stat().st_mode & 0o777


def test_sigkill_mid_stream_kills_the_emulator_and_report_says_abandoned(
        hil: _Hil, capsys: pytest.CaptureFixture[str]) -> None:
    from hil_service.cli import main

    qemu, workdir = hil.wait_streaming()
    hil.proc.send_signal(signal.SIGKILL)
    hil.proc.wait(10)
    assert gone_within([qemu], 5.0), "QEMU outlived a SIGKILLed hil"
    deadline = time.monotonic() + 10  # the watchdog removes the work folder after its sweep
    while workdir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workdir.exists(), "the watchdog left QEMU's work folder"
    data = json.loads((hil.out / "run.json").read_text())
    assert data["status"] == "running" and data["pid"] == hil.proc.pid
    assert effective_status(data) == "abandoned"
    code = main(["report", str(hil.out)])
    out = capsys.readouterr().out
    assert code == 2
    assert out.splitlines()[-1].startswith("small: abandoned, 1 runs")
