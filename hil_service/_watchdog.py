"""The watchdog of one `hil` process (started by hil_service.procs; stdlib only, run with -I -S).

Usage: python -I -S _watchdog.py TOKEN, stdin the read end of a pipe only the
owner writes to. Lines `dir PATH` register work folders. At EOF (the owner
exited or was killed) every process whose environment holds HIL_OWNER=TOKEN
gets SIGTERM, SIGKILL after a grace period, and the folders are removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

GRACE_S = 2.0


def owned_pids(token: str) -> list[int]:
    """Live processes (not us) whose environment carries HIL_OWNER=token."""
    mark = f"HIL_OWNER={token}".encode()
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, a zombie, or not ours to read
            continue
        if mark in environ.split(b"\0"):
            found.append(int(entry))
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def sweep(token: str, grace: float = GRACE_S) -> None:
    """SIGTERM what carries the token, then SIGKILL what is left (and what it started meanwhile)."""
    _signal(owned_pids(token), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and owned_pids(token):
        time.sleep(0.05)
    for _ in range(5):
        left = owned_pids(token)
        if not left:
            return
        _signal(left, signal.SIGKILL)
        time.sleep(0.05)


def main() -> int:
    token = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF ends the watch
    folders: list[str] = []
    for raw in sys.stdin.buffer:
        command, _, arg = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
        if command == "dir" and arg:
            folders.append(arg)
    sweep(token)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
