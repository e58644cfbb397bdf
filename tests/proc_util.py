"""Looking at processes through /proc, for the tests that check nothing outlives `hil`."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm, rest = stat.split("(", 1)[1].rsplit(")", 1)
    return comm, rest.split()


def children(pid: int, name: str = "") -> list[int]:
    """Pids of pid's live children whose command name starts with name."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(entry)
        if stat is not None and stat[0].startswith(name) and int(stat[1][1]) == pid:
            found.append(int(entry))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[1][0] != "Z"


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(running(p) for p in pids):
            return True
        time.sleep(0.05)
    return False
