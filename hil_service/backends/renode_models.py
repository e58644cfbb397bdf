"""Corrected Renode peripheral models, and which Renode versions need them.

Some of Renode's UART models break under our traffic (docs/renode.md,
"Workarounds"). For those, this package ships its own model (C#, in
`renode_models/`), and the generated script swaps it in before the UART is
wired to its socket terminal:

    include @<workdir>/HIL_STM32F4_USART.cs
    machine UnregisterFromParent sysbus.usart2
    machine LoadPlatformDescriptionFromString "usart2: UART.HIL_STM32F4_USART @ sysbus <...> { -> nvic@38 }"

Which fixes apply depends on the Renode version, read from the banner the
Monitor prints on connect ("Renode, version 1.15.3.0 (...)"). A version we
cannot read gets every fix known for the machine, and says so.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["MODEL_DIR", "UART_FIXES", "UartFix", "WORKAROUNDS_NAME", "RenodeVersion", "Workarounds",
           "plan_workarounds", "renode_version", "write_workarounds"]

#: The file the generated dut.resc includes; written once the version is known.
WORKAROUNDS_NAME = "workarounds.resc"
MODEL_DIR = "renode_models"

_VERSION_RE = re.compile(r"\bversion (\d+)\.(\d+)\.(\d+)(?:\.(\d+))?")

RenodeVersion = tuple[int, int, int]


def renode_version(banner: str) -> RenodeVersion | None:
    """(major, minor, patch) from the Monitor's banner, None if it names none."""
    m = _VERSION_RE.search(banner)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _text(version: RenodeVersion) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class UartFix:
    """Replace a machine's stock UART by one of our models, at the same address and IRQ."""

    peripheral: str  # name in the platform, e.g. "usart2" (sysbus.usart2)
    model: str  # C# class in namespace Antmicro.Renode.Peripherals.UART, file <model>.cs
    registration: str  # the repl registration: "<0x40004400, +0x100>" or "0x40002000"
    irq: str  # the repl interrupt target, e.g. "nvic@38"
    stock: str  # the Renode model it replaces
    problem: str  # one line: what breaks with the stock model
    #: Renode versions that need it: from `since` up to and including `until`
    #: (None: no known fixed release).
    since: RenodeVersion = (1, 14, 0)
    until: RenodeVersion | None = None

    def needed(self, version: RenodeVersion | None) -> bool:
        if version is None:
            return True
        return version >= self.since and (self.until is None or version <= self.until)

    def source(self) -> Path:
        path = Path(str(resources.files(__package__ or "hil_service.backends")
                        .joinpath(MODEL_DIR, f"{self.model}.cs")))
        if not path.is_file():
            raise FileNotFoundError(f"Renode model {self.model}: {path} is missing from the package")
        return path

    def monitor_lines(self, model_file: Path) -> list[str]:
        """Compile the model, drop the stock UART, register ours in its place."""
        from .renode import renode_path  # renode imports this module

        description = (f"{self.peripheral}: UART.{self.model} @ sysbus {self.registration} "
                       f"{{ -> {self.irq} }}")
        return [
            f"include {renode_path(model_file)}",
            f"machine UnregisterFromParent sysbus.{self.peripheral}",
            f'machine LoadPlatformDescriptionFromString "{description}"',
        ]

    def describe(self) -> str:
        return (f"sysbus.{self.peripheral}: {self.stock} replaced by hil_service's {self.model} "
                f"({self.problem})")


#: Renode machine name (RenodeMachine.name) -> the UART fix it needs.
UART_FIXES: dict[str, UartFix] = {
    "stm32f4_disco": UartFix(
        peripheral="usart2",
        model="HIL_STM32F4_USART",
        registration="<0x40004400, +0x100>",
        irq="nvic@38",
        stock="STM32_UART",
        problem="one idle-line timer per received byte makes a burst cost O(n^2); "
                "an 8 KiB frame got no reply in 90 s",
        # reworked upstream after 1.16.1; the next release is not checked yet
        until=(1, 16, 1),
    ),
    "nrf52840dk_nrf52840": UartFix(
        peripheral="uart0",
        model="HIL_NRF52840_UARTE",
        registration="0x40002000",
        irq="nvic@2",
        stock="NRF52840_UART",
        problem="a byte arriving between ENDRX and STARTRX is DMA-written past the receive "
                "buffer, and so is every byte after it",
    ),
}


@dataclass(frozen=True)
class Workarounds:
    """What the backend does about a Renode version's broken models, for one machine."""

    version: RenodeVersion | None
    fixes: tuple[UartFix, ...]

    def lines(self) -> list[str]:
        """One line each, for events and run.json."""
        if not self.fixes:
            return []
        seen = f"Renode {_text(self.version)}" if self.version else \
            "Renode of unknown version (no version in its banner): every known fix"
        return [f"{seen}: {fix.describe()}" for fix in self.fixes]

    def to_json(self) -> dict[str, object]:
        return {"renode_version": _text(self.version) if self.version else None,
                "workarounds": self.lines()}


def plan_workarounds(machine: str, version: RenodeVersion | None) -> Workarounds:
    fix = UART_FIXES.get(machine)
    return Workarounds(version, (fix,) if fix is not None and fix.needed(version) else ())


def write_workarounds(plan: Workarounds, workdir: Path) -> Path:
    """workdir/workarounds.resc (comments only when nothing applies), with the models beside it."""
    lines = ["# generated by hil_service.backends.renode_models"]
    for fix in plan.fixes:
        model_file = workdir / f"{fix.model}.cs"
        shutil.copyfile(fix.source(), model_file)
        lines.append(f"# {fix.describe()}")
        lines += fix.monitor_lines(model_file)
    if not plan.fixes:
        lines.append("# no workaround needed")
    script = workdir / WORKAROUNDS_NAME
    script.write_text("\n".join(lines) + "\n")
    return script
