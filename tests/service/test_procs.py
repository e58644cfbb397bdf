"""Children die with their owner (hil_service.procs), and run.json tells a dead writer."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hil_service import procs
from hil_service.cancel import Cancelled, cancel_on_signals
from hil_service.results import boot_id, effective_status, process_start

from ..proc_util import gone_within, running


def test_a_child_outlives_the_thread_that_asked_for_it() -> None:
    """PDEATHSIG fires on the death of the forking thread: spawn() forks on a long-lived one."""
    box: list[subprocess.Popen[bytes]] = []
    worker = threading.Thread(target=lambda: box.append(procs.spawn(["sleep", "30"])))
    worker.start()
    worker.join()
    (child,) = box
    try:
        time.sleep(0.5)
        assert child.poll() is None, "the child died with the thread that spawned it"
        environ = Path(f"/proc/{child.pid}/environ").read_bytes().split(b"\0")
        assert f"{procs.OWNER_ENV}={procs.owner_token()}".encode() in environ
    finally:
        child.kill()
        child.wait()


OWNER = textwrap.dedent("""\
    import subprocess, sys, tempfile, threading, time
    from pathlib import Path
    from hil_service import procs

    def start():
        work = Path(tempfile.mkdtemp(prefix="hil-test-"))
        child = procs.spawn(["sleep", "300"], start_new_session=True, cleanup=work)
        # a grandchild in a session of its own, as Flower's SuperExec starts its apps
        shell = procs.spawn(["bash", "-c", "setsid sh -c 'echo $$; exec sleep 301' & wait"],
                            start_new_session=True, stdout=subprocess.PIPE)
        print(child.pid, shell.pid, shell.stdout.readline().decode().strip(), work, flush=True)

    t = threading.Thread(target=start)
    t.start()
    t.join()
    time.sleep(300)
""")


def test_sigkill_of_the_owner_ends_children_grandchildren_and_work_folders() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        child, shell, grandchild, work = owner.stdout.readline().split()
        pids = [int(child), int(shell), int(grandchild)]
        assert all(running(p) for p in pids) and Path(work).is_dir()
        assert int(Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[3]) \
            == int(grandchild)  # its own session: no process group kill reaches it
        owner.send_signal(signal.SIGKILL)
        owner.wait(5)
        assert gone_within(pids, 10.0), [p for p in pids if running(p)]
        deadline = time.monotonic() + 5
        while Path(work).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(work).exists()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


LEAVER = textwrap.dedent("""
    import os, shutil
    from hil_service import procs
    # a child only the watchdog can end: no PDEATHSIG, a session of its own (and no
    # Popen object, which would warn of its own at shutdown, never having been waited for)
    child = os.posix_spawn(shutil.which("sleep"), ["sleep", "300"], procs.owned_env(), setsid=True)
    print(child, procs._state.watchdog.pid, flush=True)
""")


def test_a_normal_exit_ends_what_is_left_and_reaps_the_watchdog() -> None:
    """At exit the watchdog's sweep runs before the owner is gone (not some time after),
    and the watchdog is reaped, so no "subprocess is still running" warning at shutdown."""
    done = subprocess.run([sys.executable, "-X", "dev", "-c", LEAVER], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    child, dog = (int(p) for p in done.stdout.split())
    assert not running(child) and not running(dog)  # already, when the owner's exit returns
    assert "still running" not in done.stderr, done.stderr


def _record(**fields: object) -> dict[str, object]:
    return {"status": "running", "host": {"node": platform.node()}, "pid": os.getpid(),
            "pid_start": process_start(os.getpid()), "boot_id": boot_id(), **fields}


def test_effective_status_tells_a_run_left_running_by_a_dead_process() -> None:
    assert effective_status(_record()) == "running"  # we are alive
    assert effective_status(_record(status="passed", pid=1 << 22)) == "passed"
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert effective_status(_record(pid=dead.pid, pid_start=None)) == "abandoned"
    assert effective_status(_record(boot_id="another-boot")) == "abandoned"
    # our pid, but started at another time: the pid was reused
    assert effective_status(_record(pid_start=1)) == "abandoned"
    # another host's record, or an old one without pid: cannot tell
    assert effective_status(_record(boot_id="x", host={"node": "elsewhere"})) == "running"
    assert effective_status({"status": "running"}) == "running"


def test_watchdog_sweeps_nothing_of_other_owners() -> None:
    """A process with another owner's token (or none) is not ours to end."""
    other = subprocess.Popen(["sleep", "30"], env={**os.environ, procs.OWNER_ENV: "someone-else"})
    try:
        sweep = subprocess.run(
            [sys.executable, "-I", "-S", str(Path(procs.__file__).with_name("_watchdog.py")),
             "token-of-nobody"], input=b"", timeout=20)
        assert sweep.returncode == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_cancel_on_signals_raises_once_and_leaves_ignored_signals_ignored(
        capsys: pytest.CaptureFixture[str]) -> None:
    before_term = signal.getsignal(signal.SIGTERM)
    before_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with pytest.raises(Cancelled) as info, cancel_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)  # stays ignored: no Cancelled
            time.sleep(0.1)
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
                pytest.fail("SIGTERM did not interrupt")
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second one while stopping: ignored
                time.sleep(0.1)
        assert info.value.signum == signal.SIGTERM and str(info.value) == "stopped by SIGTERM"
        assert isinstance(info.value, KeyboardInterrupt)  # takes Ctrl-C's teardown path
        assert "SIGTERM ignored: already stopping" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGTERM) == before_term
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before_hup)
