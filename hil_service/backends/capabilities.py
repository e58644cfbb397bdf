"""What some backends or their targets can do beyond `LiveTarget`, as runtime-checkable Protocols.

Callers ask `isinstance(x, InstructionCounter)` instead of testing a kind
name, so a new backend gains a feature by having the method, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from hil_service.backends.entry import DeviceEntry

__all__ = ["ConsoleLog", "FlashResult", "Flasher", "InstructionCounter"]


@runtime_checkable
class FlashResult(Protocol):
    """What a flash did, for humans: `summary_lines()` (image, probe, bytes, verified, time)."""

    verified: bool

    def summary_lines(self) -> Sequence[str]: ...


@runtime_checkable
class Flasher(Protocol):
    """A backend that writes an image into a device's non-volatile memory (a board via its probe)."""

    def flash(self, entry: DeviceEntry, image: Path, *, verify: bool = True,
              progress: Callable[[str], None] | None = None) -> FlashResult: ...


@runtime_checkable
class InstructionCounter(Protocol):
    """A target that counts the guest's executed instructions (Renode's CPU)."""

    def executed_instructions(self) -> int: ...


@runtime_checkable
class ConsoleLog(Protocol):
    """A target with its own console output on this host (an emulator's or host build's log)."""

    @property
    def console_path(self) -> Path: ...

    def log_tail(self, lines: int = 20) -> str: ...
