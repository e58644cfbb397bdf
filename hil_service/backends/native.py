"""Run the firmware's POSIX host build as a DUT on a pseudo-terminal.

The program (firmware_zephyr/ports/posix) creates the pty itself and
writes the slave path (/dev/pts/N) to the file given with --pty-link,
atomically; we wait for that file rather than parse its stdout, so the
child's output can go straight to the log. pyserial opens the path like a
board's serial port. The fastest backend, and the one that runs the
firmware under AddressSanitizer (build with POSIX_SAN=1).

The firmware waits for the host before it sends anything: its first
write blocks until pyserial has opened the port and flushed its input
(or the host has sent a byte, or 100 ms passed after an open), so a boot
banner is not lost. If the host closes the port the firmware keeps
running and waits for the next opener (pass "--exit-on-hangup" in
extra_args to have it exit instead).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import BackendError, LiveTarget, require_file
from .entry import DeviceEntry
from .process import ProcessTarget
from .registry import Availability, Backend, LatencyClock

LINK_NAME = "pty"


class NativeEntry(DeviceEntry):
    """The host build: no fields of its own (`image:` may name a prebuilt program)."""


class NativeBackend(Backend):
    """The firmware as a Linux process on a pty: fastest, and the one run under sanitizers."""

    kind = "native"
    auto_rank = 40
    entry_model = NativeEntry

    def availability(self, entry: DeviceEntry) -> Availability:
        if entry.image is not None:
            return self.image_availability(entry)
        if shutil.which("cc") is None:
            return Availability(False, "no host C compiler (cc) to build the image")
        return Availability(True, "host build on a pty")

    def firmware_image(self, entry: DeviceEntry) -> Path:
        if entry.image is not None:
            return super().firmware_image(entry)
        from hil_service.firmware_build import build_firmware_posix

        return build_firmware_posix()

    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        return start_native(image)

    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        return LatencyClock("host_clock", "host build: the host's monotonic clock", None)


def start_native(
    exe: Path, extra_args: Sequence[str] = (), *, start_timeout: float = 10.0
) -> LiveTarget:
    """Start the POSIX firmware `exe`; returns a target whose serial_url is its /dev/pts/N."""
    exe = require_file(exe, "firmware program")
    if not os.access(exe, os.X_OK):
        raise BackendError(f"firmware program {exe} is not executable")
    workdir = Path(tempfile.mkdtemp(prefix="hil-native-"))
    link = workdir / LINK_NAME
    target = ProcessTarget(exe.name, [str(exe), "--pty-link", str(link), *extra_args], workdir)
    try:
        target.serial_url = _wait_link(target, link, start_timeout)
    except BaseException:
        target.close()
        raise
    return target


def _wait_link(target: ProcessTarget, link: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if link.exists():  # written to a temp name and renamed: never partial
            path = link.read_text().strip()
            if path:
                return path
        if not target.alive():
            raise BackendError(target.death_message("before creating its pty"))
        time.sleep(0.005)
    raise BackendError(
        f"{target.name} wrote no pty path to {link} within {timeout:g} s"
        f"; last lines of its log:\n{target.log_tail()}"
    )
