"""Boot a bare-metal Cortex-M image in QEMU's mps2 machines, UART on a TCP port.

Why these QEMU options (see firmware_zephyr/ports/mps2/README.md):

- `-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on`: QEMU listens
  and starts the guest only when the host connects, so nothing the firmware
  prints at boot is lost. Because the first connection *is* the serial
  client, readiness is never probed by connecting: we wait until
  /proc/net/tcp shows a listening socket on PORT that QEMU itself owns.
- `-icount shift=N`: virtual time advances 2^N ns per instruction, so the
  firmware's SysTick counts are instruction counts, identical across runs
  (`instructions_from_ticks`).
- `-semihosting-config enable=on,target=native`: `odl_port_exit(code)`
  ends QEMU with that exit code.
- `-display none -monitor none`, no `-nographic`: -nographic would put the
  monitor and a serial port on stdio, which has no terminal here.

The TCP port is picked by binding 127.0.0.1:0 and closing; if another
process takes it before QEMU binds, QEMU exits with "Address already in
use" and we retry with a fresh port.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import BackendError, LiveTarget, require_binary, require_file
from .process import ProcessTarget

QEMU_BINARY = "qemu-system-arm"
#: mps2 SysTick (SYSCLK) in Hz, the same on an385/an386/an500.
MPS2_SYSCLK_HZ = 25_000_000
_BIND_FAILURES = ("Address already in use", "Failed to bind socket")


def instructions_from_ticks(ticks: int, shift: int) -> float:
    """Guest instructions behind `ticks` 25 MHz SysTick ticks under `-icount shift`.

    One instruction takes 2^shift ns of virtual time and one tick 40 ns, so
    instructions = ticks * 40 / 2^shift (measured on all three mps2 boards
    with a 2 000 000-instruction loop; ports/mps2/README.md).
    """
    return ticks * (1e9 / MPS2_SYSCLK_HZ) / 2**shift


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_inodes(port: int) -> set[int]:
    """Socket inodes listening on 127.0.0.1:port or 0.0.0.0:port (IPv4)."""
    inodes: set[int] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if int(hexport, 16) == port and fields[3] == "0A" and addr in ("0100007F", "00000000"):
                inodes.add(int(fields[9]))
    return inodes


def _owns_socket(pid: int, inodes: set[int]) -> bool:
    """True if process pid holds one of these socket inodes."""
    wanted = {f"socket:[{i}]" for i in inodes}
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                if fd.readlink().as_posix() in wanted:
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


class _PortTaken(Exception):
    """QEMU could not bind the port we picked (lost the race); retry."""


@dataclass(frozen=True)
class QemuLauncher:
    """How to start QEMU for one mps2 board; `start(elf)` boots one image."""

    machine: str = "mps2-an386"
    icount_shift: int = 6
    #: False gives `-icount shift=N,sleep=off`: exact counts, but QEMU then
    #: burns a host core while the guest idles (ports/mps2/README.md).
    icount_sleep: bool = True
    extra_args: tuple[str, ...] = ()
    binary: str = QEMU_BINARY
    start_timeout: float = 10.0
    bind_attempts: int = 3

    def command(self, qemu: str, elf: Path, port: int) -> list[str]:
        icount = f"shift={self.icount_shift}" + ("" if self.icount_sleep else ",sleep=off")
        return [
            qemu,
            "-M", self.machine,
            "-display", "none",
            "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-icount", icount,
            "-semihosting-config", "enable=on,target=native",
            "-kernel", str(elf),
            *self.extra_args,
        ]  # fmt: skip

    def start(self, elf: Path) -> ProcessTarget:
        elf = require_file(elf)
        qemu = require_binary(self.binary, "install Debian's qemu-system-arm")
        for _ in range(self.bind_attempts):
            port = free_loopback_port()
            workdir = Path(tempfile.mkdtemp(prefix="hil-qemu-"))
            target = ProcessTarget(self.binary, self.command(qemu, elf, port), workdir)
            try:
                self._wait_listening(target, port)
            except _PortTaken:
                target.close()
                continue
            except BaseException:
                target.close()
                raise
            target.serial_url = f"socket://127.0.0.1:{port}"
            return target
        raise BackendError(
            f"{self.binary} could not bind a loopback TCP port in {self.bind_attempts} attempts"
        )

    def _wait_listening(self, target: ProcessTarget, port: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            inodes = _listening_inodes(port)
            if inodes and _owns_socket(target.pid, inodes):
                return
            if not target.alive():
                if any(m in target.log_tail() for m in _BIND_FAILURES):
                    raise _PortTaken
                raise BackendError(target.death_message(f"before listening on 127.0.0.1:{port}"))
            time.sleep(0.005)
        raise BackendError(
            f"{self.binary} did not listen on 127.0.0.1:{port} within {self.start_timeout:g} s"
            f"; last lines of its log:\n{target.log_tail()}"
        )


def start_qemu(
    elf: Path,
    machine: str = "mps2-an386",
    icount_shift: int = 6,
    extra_args: Sequence[str] = (),
    *,
    icount_sleep: bool = True,
) -> LiveTarget:
    """Boot `elf` on `machine`; returns a target whose serial_url is socket://127.0.0.1:PORT.

    The guest starts when the serial URL is opened (wait=on). Close the
    target (or use it as a context manager) to stop QEMU.
    """
    launcher = QemuLauncher(
        machine=machine,
        icount_shift=icount_shift,
        icount_sleep=icount_sleep,
        extra_args=tuple(extra_args),
    )
    return launcher.start(elf)
