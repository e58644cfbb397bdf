"""Corrected Renode UART models: which Renode versions get them, the script lines, the C# sources.

The Monitor is played by FakeMonitor (test_renode.py). The C# models are
compiled against a real Renode's assemblies, and booted in it, only where
`renode` is on PATH (the test says why it skips otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hil_service.backends import renode_models
from hil_service.backends.entry import DeviceEntry
from hil_service.backends.process import free_loopback_port
from hil_service.backends.renode import (
    RENODE_MACHINES,
    RenodeBackend,
    RenodeLauncher,
    RenodeMonitor,
    renode_path,
    resc_script,
    start_renode,
)
from hil_service.backends.renode_models import (
    UART_FIXES,
    WORKAROUNDS_NAME,
    Workarounds,
    plan_workarounds,
    renode_version,
    write_workarounds,
)

from .test_renode import FakeMonitor, _uart_process, fake_monitor  # noqa: F401 - fixture

STM32 = RENODE_MACHINES["stm32f4_disco"]
NRF = RENODE_MACHINES["nrf52840dk_nrf52840"]
MODEL_DIR = Path(renode_models.__file__).parent / renode_models.MODEL_DIR


@pytest.mark.parametrize(("banner", "version"), [
    ("\n\n\nRenode, version 1.15.3.22417 (4d3a1f8e-202409171300)\n", (1, 15, 3)),
    ("Renode, version 1.16.1.0 (abc)", (1, 16, 1)),
    ("Renode, version 1.14.0.0 (fake)", (1, 14, 0)),
    ("Renode, version 1.16.1 (no build number)", (1, 16, 1)),
    ("", None),
    ("(monitor) ", None),
])
def test_renode_version_from_the_banner(banner: str, version: tuple[int, int, int] | None) -> None:
    assert renode_version(banner) == version


@pytest.mark.parametrize(("version", "stm32", "nrf"), [
    ((1, 14, 0), True, True),
    ((1, 15, 3), True, True),
    ((1, 16, 1), True, True),
    ((1, 16, 2), False, True),  # the STM32 model was reworked after 1.16.1
    ((1, 17, 0), False, True),  # the nRF UARTE: unchanged upstream
    ((1, 13, 9), False, False),  # older than any version the backend supports
])
def test_fixes_per_renode_version(version: tuple[int, int, int], stm32: bool, nrf: bool) -> None:
    assert bool(plan_workarounds("stm32f4_disco", version).fixes) is stm32
    assert bool(plan_workarounds("nrf52840dk_nrf52840", version).fixes) is nrf


def test_unknown_version_gets_every_fix_and_says_so() -> None:
    for machine in UART_FIXES:
        plan = plan_workarounds(machine, None)
        assert plan.fixes == (UART_FIXES[machine],)
        (line,) = plan.lines()
        assert "unknown version" in line
    assert plan_workarounds("some_other_board", None).fixes == ()


def test_workaround_lines_name_version_uart_and_model() -> None:
    plan = plan_workarounds("nrf52840dk_nrf52840", (1, 15, 3))
    (line,) = plan.lines()
    assert line.startswith("Renode 1.15.3: sysbus.uart0: NRF52840_UART replaced by")
    assert "HIL_NRF52840_UARTE" in line
    assert plan.to_json() == {"renode_version": "1.15.3", "workarounds": [line]}
    assert Workarounds((1, 17, 0), ()).to_json() == {"renode_version": "1.17.0", "workarounds": []}


def test_written_script_swaps_the_uart_at_its_address_and_irq(tmp_path: Path) -> None:
    work = tmp_path / "work dir"  # a space, as a user's TMPDIR may have
    work.mkdir()
    script = write_workarounds(plan_workarounds("stm32f4_disco", (1, 15, 3)), work)
    assert script == work / WORKAROUNDS_NAME
    commands = [line for line in script.read_text().splitlines() if not line.startswith("#")]
    model = work / "HIL_STM32F4_USART.cs"
    assert commands == [
        f"include {renode_path(model)}",
        "machine UnregisterFromParent sysbus.usart2",
        'machine LoadPlatformDescriptionFromString '
        '"usart2: UART.HIL_STM32F4_USART @ sysbus <0x40004400, +0x100> { -> nvic@38 }"',
    ]
    assert model.read_bytes() == (MODEL_DIR / "HIL_STM32F4_USART.cs").read_bytes()

    nrf = write_workarounds(plan_workarounds("nrf52840dk_nrf52840", (1, 15, 3)), work)
    assert 'machine LoadPlatformDescriptionFromString ' \
           '"uart0: UART.HIL_NRF52840_UARTE @ sysbus 0x40002000 { -> nvic@2 }"' \
           in nrf.read_text().splitlines()


def test_nothing_to_fix_writes_a_script_without_commands(tmp_path: Path) -> None:
    script = write_workarounds(plan_workarounds("stm32f4_disco", (1, 17, 0)), tmp_path)
    assert all(line.startswith("#") for line in script.read_text().splitlines())
    assert list(tmp_path.glob("*.cs")) == []


def test_dut_script_includes_the_workarounds_before_wiring_the_uart() -> None:
    lines = resc_script(STM32, Path("/fw/zephyr.elf"), 40123,
                        workarounds_script=Path("/w/workarounds.resc")).splitlines()
    include = lines.index("include @/w/workarounds.resc")
    assert lines.index("machine LoadPlatformDescription "
                       "@platforms/boards/stm32f4_discovery-kit.repl") < include
    assert include < lines.index('emulation CreateServerSocketTerminal 40123 "term" false')
    assert include < lines.index("connector Connect sysbus.usart2 term")


@pytest.mark.parametrize("fix", list(UART_FIXES.values()), ids=list(UART_FIXES))
def test_model_source_declares_the_class_renode_is_told_to_load(fix: renode_models.UartFix) -> None:
    text = fix.source().read_text()
    # the repl type UART.<model> resolves in Renode's peripheral namespace
    assert re.search(r"^namespace Antmicro\.Renode\.Peripherals\.UART$", text, re.M)
    assert re.search(rf"^\s+public class {fix.model} : BasicDoubleWordPeripheral, IUART\b", text, re.M)
    assert f"public {fix.model}(IMachine machine" in text


def test_attach_applies_the_fix_for_the_banner_version(
    fake_monitor: Callable[..., FakeMonitor], tmp_path: Path  # noqa: F811
) -> None:
    fake = fake_monitor()  # its banner: "Renode, version 1.14.0.0 (fake)"
    uart_port = free_loopback_port()
    process = _uart_process(tmp_path, uart_port)
    fake.on_quit = lambda: os.kill(process.pid, signal.SIGTERM)
    monitor = RenodeMonitor.connect(fake.port, timeout=5)
    assert renode_version(monitor.banner) == (1, 14, 0)
    target = RenodeLauncher(STM32, start_timeout=10, command_timeout=5).attach(
        process, monitor, process.workdir / "dut.resc", uart_port, fake.port)
    try:
        script = (process.workdir / WORKAROUNDS_NAME).read_text()
        assert "machine UnregisterFromParent sysbus.usart2" in script
        assert (process.workdir / "HIL_STM32F4_USART.cs").is_file()
        notes = target.run_notes
        assert notes["renode_version"] == "1.14.0"
        assert isinstance(notes["workarounds"], list) and len(notes["workarounds"]) == 1
        assert "timer_hz" not in notes
    finally:
        target.close()


def _entry(board: str) -> DeviceEntry:
    return RenodeBackend.entry_model.model_validate(
        {"id": "r", "backend": "renode", "board": board, "source": "test"})


def test_latency_clock_marks_the_nrf52840_rtc() -> None:
    backend = RenodeBackend()
    nrf = backend.latency_clock(_entry("nrf52840dk/nrf52840"))
    assert nrf.source == "renode_virtual"
    assert "32768 Hz RTC" in nrf.note and "30.5 us" in nrf.note and "coarse" in nrf.note
    stm32 = backend.latency_clock(_entry("stm32f4_disco"))
    assert "RTC" not in stm32.note


# --- a real Renode, where there is one ---------------------------------------------------------

RENODE = shutil.which("renode")
needs_renode = pytest.mark.skipif(RENODE is None, reason="renode is not on PATH")


def _renode_assemblies() -> Path | None:
    """The folder with Renode's own assemblies (a source build's output/bin/Release or a package)."""
    assert RENODE is not None
    root = Path(os.path.realpath(RENODE)).parent
    for folder in (root / "output/bin/Release", root, root / "bin"):
        if (folder / "Renode.exe").is_file() or (folder / "Renode.dll").is_file():
            return folder
    return None


@needs_renode
@pytest.mark.parametrize("fix", list(UART_FIXES.values()), ids=list(UART_FIXES))
def test_model_compiles_against_this_renode(fix: renode_models.UartFix, tmp_path: Path) -> None:
    folder = _renode_assemblies()
    mcs = shutil.which("mcs")
    if folder is None or mcs is None:
        pytest.skip("needs mcs and a Renode with its assemblies beside the renode launcher")
    refs = [f"-r:{p}" for p in sorted(folder.glob("*.dll"))
            if p.name in ("Emulator.dll", "Renode-peripherals.dll", "Migrant.dll", "ELFSharp.dll")]
    assert len(refs) == 4, f"Renode's assemblies not all in {folder}: {refs}"
    result = subprocess.run(
        [mcs, "-target:library", "-nowarn:1591", f"-out:{tmp_path / 'model.dll'}", *refs,
         str(fix.source())], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout, result.stdout


@needs_renode
def test_real_renode_swaps_in_the_nrf52840_uarte() -> None:
    image = os.environ.get("HIL_RENODE_NRF_ELF")
    if not image:
        pytest.skip("HIL_RENODE_NRF_ELF is not set (a Zephyr ELF built for nrf52840dk/nrf52840)")
    t0 = time.monotonic()
    target = start_renode(Path(image), "nrf52840dk/nrf52840")
    try:
        assert target.workarounds.fixes == (UART_FIXES["nrf52840dk_nrf52840"],)
        # the peripheral tree names each peripheral's type: "uart0 (HIL_NRF52840_UARTE)"
        reply = target.execute("peripherals")
        assert "uart0 (HIL_NRF52840_UARTE)" in reply, reply
        assert target.executed_instructions() > 0
    finally:
        target.close()
    assert time.monotonic() - t0 < 120
