"""The QEMU backend with the mps2 port's echo firmware (Cortex-M4F, mps2-an386)."""

from __future__ import annotations

import gc
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hil_service.backends import BackendError, LiveTarget, open_serial, process
from hil_service.backends.qemu import (
    ICOUNT_SHIFT,
    LM3S6965_SYSCLK_HZ,
    QemuBackend,
    QemuEntry,
    instructions_from_ticks,
    start_qemu,
)

from .helpers import BURST, gone, payload


def _marker(target: LiveTarget) -> str:
    """The -serial option names the target's unique port."""
    return "tcp:127.0.0.1:" + target.serial_url.rsplit(":", 1)[1]



def test_echo_banner_burst_and_exit_code(mps2_echo_elf: Path) -> None:
    with start_qemu(mps2_echo_elf) as target:
        assert isinstance(target, LiveTarget)
        assert target.serial_url.startswith("socket://127.0.0.1:")
        port = open_serial(target.serial_url, timeout=5)
        sock = port._socket  # type: ignore[attr-defined]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        banner = port.readline()
        assert banner.startswith(b"odl echo board=mps2_an386 cycles_hz=25000000 "), banner

        data = payload(BURST)
        port.write(data)
        assert port.read(BURST) == data

        port.write(b"q")
        report = port.read_until(b"now=") + port.read_until(b"\r\n")
        assert b"loop_result=0x40aa5165 overruns=0" in report, report
        assert target.wait_exit(10) == 3
        assert target.exit_code() == 3 and not target.alive()
        port.close()
    assert gone(target.pid, _marker(target))  # type: ignore[attr-defined]


def test_close_leaves_no_process(mps2_echo_elf: Path) -> None:
    target = start_qemu(mps2_echo_elf)
    port = open_serial(target.serial_url, timeout=5)
    assert port.readline().startswith(b"odl echo")
    pid, marker = target.pid, _marker(target)  # type: ignore[attr-defined]
    target.close()
    target.close()  # idempotent
    port.close()
    assert not target.alive()
    assert gone(pid, marker)


def test_garbage_collection_stops_qemu(mps2_echo_elf: Path) -> None:
    target = start_qemu(mps2_echo_elf)
    pid, marker = target.pid, _marker(target)  # type: ignore[attr-defined]
    del target
    gc.collect()
    assert gone(pid, marker, timeout=5)


def test_killed_emulator_is_reported(mps2_echo_elf: Path) -> None:
    with start_qemu(mps2_echo_elf) as target:
        port = open_serial(target.serial_url, timeout=5)
        assert port.readline().startswith(b"odl echo")
        os.kill(target.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while target.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not target.alive()
        assert target.exit_code() == -signal.SIGKILL
        died = r"qemu-system-arm died with exit code -9 \(SIGKILL\); last lines of its log"
        with pytest.raises(BackendError, match=died):
            target.ensure_alive()
        port.close()


def test_missing_elf_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "echo.elf"
    with pytest.raises(BackendError, match=re.escape(str(missing))):
        start_qemu(missing)


def test_missing_qemu_binary(
    mps2_echo_elf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendError) as err:
        start_qemu(mps2_echo_elf)
    assert str(err.value) == "qemu-system-arm not found on PATH; install Debian's qemu-system-arm"


def test_port_taken_before_qemu_binds_is_retried(
    mps2_echo_elf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free-port pick races with other processes; QEMU losing it must not fail the start."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks = iter([taken])
    real_pick = process.free_loopback_port
    monkeypatch.setattr(process, "free_loopback_port", lambda: next(picks, None) or real_pick())
    try:
        with start_qemu(mps2_echo_elf) as target:
            assert not target.serial_url.endswith(f":{taken}")
            port = open_serial(target.serial_url, timeout=5)
            assert port.readline().startswith(b"odl echo")
            port.close()
    finally:
        squatter.close()


def test_instructions_from_ticks() -> None:
    # ports/mps2/README.md: a 2 000 000-instruction loop, ticks per shift
    assert instructions_from_ticks(3_200_000, 6) == 2_000_000
    assert instructions_from_ticks(50_000, 0) == 2_000_000
    assert instructions_from_ticks(12_800_000, 8) == 2_000_000
    # lm3s6965evb: QEMU's 12.5 MHz system clock, 80 ns a tick
    assert instructions_from_ticks(1_600_000, 6, 12_500_000) == 2_000_000


def test_lm3s6965evb_systick_runs_at_12_5_mhz_under_icount(tmp_path: Path) -> None:
    """Zephyr's qemu_cortex_m3 says 12 MHz; QEMU's lm3s6965evb SysTick ticks every 80 ns.

    A 2 000 000-instruction loop (tests/backends/lm3s6965/ticks.c), booted as an
    inventory `image:` through the qemu backend, counts its own SysTick ticks.
    """
    src = Path(__file__).parent / "lm3s6965"
    elf = tmp_path / "ticks.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-O1", "-nostdlib",
                    "-ffreestanding", "-Wall", "-Werror", "-T", str(src / "ticks.ld"),
                    str(src / "ticks.c"), "-o", str(elf)], check=True)
    entry = QemuEntry(id="m3", backend="qemu", board="qemu_cortex_m3", machine="lm3s6965evb",
                      image=str(elf))
    backend = QemuBackend()
    assert backend.firmware_image(entry) == elf
    with backend.start(entry, elf) as target:
        port = open_serial(target.serial_url, timeout=10)
        line = port.readline()
        port.close()
    ticks = int(line)
    # 2^6 ns per instruction, 80 ns per tick: 1 600 000 ticks (+-2 for the reads around the loop)
    assert abs(ticks - 1_600_000) <= 4, ticks
    assert abs(instructions_from_ticks(ticks, ICOUNT_SHIFT, LM3S6965_SYSCLK_HZ) - 2_000_000) <= 5
    clock = backend.latency_clock(entry)
    assert clock.instructions_per_cycle is not None
    assert abs(ticks * clock.instructions_per_cycle - 2_000_000) <= 5
