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
use" and we retry with a fresh port (`process.start_on_free_ports`).

Machines (`QEMU_MACHINES`): the three mps2 boards, for which the service
builds its bare-metal firmware itself, and `lm3s6965evb` (Zephyr's
`qemu_cortex_m3`), which runs a Zephyr image named in the inventory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator, model_validator

from . import BackendError, LiveTarget, require_binary, require_file
from .entry import DeviceEntry
from .process import (
    PortTaken,
    ProcessTarget,
    free_loopback_port,
    listening_inodes,
    owns_socket,
    start_on_free_ports,
)
from .registry import Availability, Backend, LatencyClock

__all__ = ["ICOUNT_SHIFT", "MPS2_SYSCLK_HZ", "QEMU_MACHINES", "QemuBackend", "QemuEntry",
           "QemuLauncher", "QemuMachine", "free_loopback_port", "instructions_from_ticks",
           "start_qemu"]

QEMU_BINARY = "qemu-system-arm"
#: The service's fixed `-icount shift`: one guest instruction = 64 ns of virtual time.
ICOUNT_SHIFT = 6
#: mps2 SysTick (SYSCLK) in Hz, the same on an385/an386/an500.
MPS2_SYSCLK_HZ = 25_000_000
#: lm3s6965evb's system clock as QEMU 7.2 models it: 200 MHz PLL divided by
#: SYSDIV+1 = 16 at the reset value of RCC, an 80 ns period, which SysTick
#: (CLKSOURCE=1) counts. Measured: a 2 000 000-instruction loop takes 25 000
#: ticks at shift 0, 1 600 002 at shift 6 (tests/backends/lm3s6965/ticks.c).
#: Zephyr's qemu_cortex_m3 believes 12 MHz (CONFIG_SYS_CLOCK_HW_CYCLES_PER_SEC)
#: and reports that as cycles_hz, so its microseconds are 4 % long; cycle
#: counts convert to instructions with this clock, not the reported one.
LM3S6965_SYSCLK_HZ = 12_500_000
_BIND_FAILURES = ("Address already in use", "Failed to bind socket")


@dataclass(frozen=True)
class QemuMachine:
    """One QEMU machine: its SysTick clock, and the mps2 board we build for it (if any)."""

    name: str
    sysclk_hz: int
    build_board: str | None  # firmware_zephyr/mk/mps2.mk BOARD, None: image: required
    zephyr_board: str
    clock_note: str = ""  # where the firmware's own idea of its clock differs


QEMU_MACHINES: dict[str, QemuMachine] = {
    m.name: m for m in (
        QemuMachine("mps2-an385", MPS2_SYSCLK_HZ, "an385", "mps2/an385"),
        QemuMachine("mps2-an386", MPS2_SYSCLK_HZ, "an386", "mps2/an386"),
        QemuMachine("mps2-an500", MPS2_SYSCLK_HZ, "an500", "mps2/an500"),
        QemuMachine("lm3s6965evb", LM3S6965_SYSCLK_HZ, None, "qemu_cortex_m3",
                    "; Zephyr reports 12 MHz, so its microseconds are 4 % long"),
    )
}


def instructions_from_ticks(ticks: int, shift: int, sysclk_hz: int = MPS2_SYSCLK_HZ) -> float:
    """Guest instructions behind `ticks` SysTick ticks at sysclk_hz under `-icount shift`.

    One instruction takes 2^shift ns of virtual time and one tick 1e9/sysclk_hz ns,
    so instructions = ticks * (1e9 / sysclk_hz) / 2^shift: on mps2 (25 MHz, 40 ns)
    ticks * 40 / 2^shift, measured on all three boards with a 2 000 000-instruction
    loop (ports/mps2/README.md); on lm3s6965evb (12.5 MHz, 80 ns) ticks * 80 / 2^shift.
    """
    return ticks * (1e9 / sysclk_hz) / (1 << shift)


_listening_inodes = listening_inodes  # kept for callers of the old private names
_owns_socket = owns_socket


class QemuEntry(DeviceEntry):
    """A QEMU machine; mps2 ones run the firmware built here unless `image:` names another."""

    machine: str

    @field_validator("machine")
    @classmethod
    def _known(cls, machine: str) -> str:
        if machine not in QEMU_MACHINES:
            raise ValueError(f"qemu machine {machine!r} is not one of {', '.join(QEMU_MACHINES)}")
        return machine

    @model_validator(mode="after")
    def _image_if_not_built(self) -> QemuEntry:
        if QEMU_MACHINES[self.machine].build_board is None and not self.image:
            raise ValueError(f"qemu machine {self.machine} needs image: (a Zephyr "
                             f"{QEMU_MACHINES[self.machine].zephyr_board} build; the service "
                             f"builds firmware only for the mps2 machines)")
        return self


class QemuBackend(Backend):
    """QEMU's Cortex-M machines: real Cortex-M code, instruction counts under -icount."""

    kind = "qemu"
    auto_rank = 30
    entry_model = QemuEntry

    def availability(self, entry: DeviceEntry) -> Availability:
        e = self.own(entry, QemuEntry)
        if shutil.which(QEMU_BINARY) is None:
            return Availability(False, f"{QEMU_BINARY} not on PATH")
        if e.image is not None:
            return self.image_availability(e)
        if shutil.which("arm-none-eabi-gcc") is None:
            return Availability(False, "arm-none-eabi-gcc not on PATH to build the image")
        return Availability(True, f"QEMU {e.machine}")

    def firmware_image(self, entry: DeviceEntry) -> Path:
        e = self.own(entry, QemuEntry)
        board = QEMU_MACHINES[e.machine].build_board
        if e.image is not None or board is None:
            return super().firmware_image(e)
        from hil_service.firmware_build import build_firmware_mps2

        return build_firmware_mps2(board)

    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        return start_qemu(image, self.own(entry, QemuEntry).machine, ICOUNT_SHIFT)

    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        machine = QEMU_MACHINES[self.own(entry, QemuEntry).machine]
        tick_ns = 1e9 / machine.sysclk_hz
        return LatencyClock(
            "icount", f"QEMU {machine.name} -icount shift={ICOUNT_SHIFT}: virtual time, one guest "
            f"instruction = {2 ** ICOUNT_SHIFT} ns, one SysTick cycle = {tick_ns:g} ns "
            f"({machine.sysclk_hz / 1e6:g} MHz){machine.clock_note}; not wall time",
            instructions_from_ticks(1, ICOUNT_SHIFT, machine.sysclk_hz))


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

        def attempt(ports: tuple[int, ...]) -> ProcessTarget:
            (port,) = ports
            workdir = Path(tempfile.mkdtemp(prefix="hil-qemu-"))
            target = ProcessTarget(self.binary, self.command(qemu, elf, port), workdir)
            try:
                self._wait_listening(target, port)
            except BaseException:
                target.close()
                raise
            target.serial_url = f"socket://127.0.0.1:{port}"
            return target

        return start_on_free_ports(self.binary, 1, attempt, self.bind_attempts)

    def _wait_listening(self, target: ProcessTarget, port: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            inodes = listening_inodes(port)
            if inodes and owns_socket(target.pid, inodes):
                return
            if not target.alive():
                if any(m in target.log_tail() for m in _BIND_FAILURES):
                    raise PortTaken
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
