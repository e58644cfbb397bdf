"""A SIGKILLed `hil` leaves no Flower process behind (hil_service.procs).

The SuperLink and SuperNodes are our children (PDEATHSIG); the SuperExec each
of them starts runs in a session of its own, which only the watchdog reaches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hil_service.procs import OWNER_ENV

from ..proc_util import children
from .conftest import fed_plan, native_lab

OWNER = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from hil_service.federation.processes import Federation
    from hil_service.procs import owner_token

    fed = Federation(Path(sys.argv[1]))
    fed.start()
    fed.add_node("d1", 0, "socket://127.0.0.1:1", 115200)
    print(owner_token(), flush=True)
    time.sleep(300)
""")


def _owned(token: str) -> dict[int, str]:
    """Live processes carrying token in HIL_OWNER, with their command lines."""
    mark = f"{OWNER_ENV}={token}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def test_flower_processes_die_with_a_sigkilled_owner(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path / "fed")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        token = owner.stdout.readline().strip()
        assert token, "the federation did not start"
        deadline = time.monotonic() + 30  # the SuperExecs come up a moment after their parents
        while time.monotonic() < deadline:
            procs = _owned(token)
            if sum("flower-superexec" in cmd for cmd in procs.values()) >= 2:
                break
            time.sleep(0.2)
        names = sorted(next(w for w in cmd.split() if "flower-" in w).rsplit("/", 1)[-1]
                       for cmd in procs.values() if "flower-" in cmd)
        assert names == ["flower-superexec", "flower-superexec", "flower-superlink",
                         "flower-supernode"], procs
        owner.send_signal(signal.SIGKILL)
        owner.wait(5)
        deadline = time.monotonic() + 15
        while _owned(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _owned(token) == {}
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_sigterm_mid_federation_stops_the_run_and_leaves_no_flower_process(tmp_path: Path) -> None:
    ids = ["native-a", "native-b"]
    lab = native_lab(tmp_path, ids)
    plan = fed_plan(tmp_path, ids, "rounds: 8, partition: 'dirichlet(0.5)', samples_per_device: 40, "
                    "min_clients: 2", 'final_accuracy: ">= 0.5"')
    out = tmp_path / "out"
    hil = subprocess.Popen(
        [sys.executable, "-m", "hil_service.cli", "run", str(plan), "--inventory", str(lab),
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HIL_LOCK_DIR": str(tmp_path / "locks")})
    try:
        assert hil.stderr is not None
        seen = []
        for line in hil.stderr:  # the first round done: the federation is in full swing
            seen.append(line)
            if "fed streamed" in line:
                break
        else:
            pytest.fail("".join(seen))
        token = next(t for t in (_token_of(p) for p in children(hil.pid)) if t)
        assert any("flower-superexec" in cmd for cmd in _owned(token).values())
        hil.send_signal(signal.SIGTERM)
        _, err = hil.communicate(timeout=120)
        assert hil.returncode == 2, err
        data = json.loads((out / "run.json").read_text())
        assert data["status"] == "stopped" and data["stopped"]["why"] == "stopped by SIGTERM"
        assert (out / "junit.xml").is_file()
        deadline = time.monotonic() + 10
        while _owned(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _owned(token) == {}
    finally:
        if hil.poll() is None:
            hil.kill()
            hil.wait()


def _token_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{OWNER_ENV}=".encode()
    return next((v[len(prefix):].decode() for v in environ if v.startswith(prefix)), None)
