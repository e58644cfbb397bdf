"""Helpers of the backend tests: payloads, and whether a child process is really gone."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

#: Bytes per echo burst: fits the echo firmware's RX ring and the pty's buffers.
BURST = 4000


def payload(n: int, seed: int = 1) -> bytes:
    """Random bytes without the echo firmware's command bytes q (quit) and r (reset)."""
    rng = random.Random(seed)
    return bytes(b for b in rng.randbytes(2 * n) if b not in b"qr")[:n]


def _cmdline(pid: int) -> str | None:
    """The command line of a live (non-zombie) process, None if there is none."""
    try:
        import psutil
    except ImportError:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            return None
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None
        return " ".join(proc.cmdline())
    except psutil.Error:
        return None


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cmd = _cmdline(int(entry))
            if cmd is not None and marker in cmd:
                found.append(int(entry))
    return found


def gone(pid: int, marker: str, timeout: float = 0.0) -> bool:
    """True when pid no longer runs a command containing marker and no other process does.

    The marker (a unique TCP port or temp path from the command line) guards
    against the pid having been reused by an unrelated process.
    """
    deadline = time.monotonic() + timeout
    while True:
        cmd = _cmdline(pid)
        if (cmd is None or marker not in cmd) and not processes_with(marker):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
