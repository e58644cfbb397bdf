"""A stand-in for pyOCD at its API boundary: ConnectHelper and FileProgrammer.

`FakeBoard.install(monkeypatch)` replaces exactly those two classes in the
real pyOCD modules (pyocd.core.helpers, pyocd.flash.file_programmer), so
everything else board.py uses from pyOCD (its exceptions) is the real
package. Every call the code under test makes is bound against the real
pyOCD 0.46 signature first (inspect.signature), so a misspelt keyword
fails here as it would on a real probe, and is recorded in `calls`.

The fake target is a flat memory (erased flash, 0xff) that the fake
FileProgrammer fills the way pyOCD's `_program_elf` does: each PT_LOAD
segment with file contents at its p_paddr.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from pyocd.core import exceptions
from pyocd.core import helpers as real_helpers
from pyocd.core.target import Target
from pyocd.flash import file_programmer as real_file_programmer

_REAL_CONNECT_HELPER = real_helpers.ConnectHelper
_REAL_FILE_PROGRAMMER = real_file_programmer.FileProgrammer


def _bind(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """TypeError unless (args, kwargs) fit the real pyOCD function's signature."""
    inspect.signature(func).bind(*args, **kwargs)


@dataclass
class FakeProbe:
    unique_id: str
    description: str = "ARM DAPLink CMSIS-DAP"


@dataclass
class FakeBoard:
    """The world behind the probes: which are connected, one target's memory, and knobs."""

    probes: list[FakeProbe]
    target_types: tuple[str, ...] = ("nrf52840", "stm32f407vg")
    memory_size: int = 1 << 20
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    #: An exception FileProgrammer.program() raises instead of programming.
    program_error: BaseException | None = None
    #: An exception opening the session raises (besides an unknown target type).
    open_error: BaseException | None = None
    #: Flip the byte at this address after programming (a flash that did not take).
    corrupt_at: int | None = None

    def __post_init__(self) -> None:
        self.memory = bytearray(b"\xff" * self.memory_size)
        self.target = FakeTarget(self)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(real_helpers, "ConnectHelper", FakeConnectHelper(self))
        monkeypatch.setattr(real_file_programmer, "FileProgrammer", FakeFileProgrammer)

    def names(self) -> list[str]:
        """The recorded calls' names, in order."""
        return [c[0] for c in self.calls]


class FakeTarget:
    """session.target: reads from the board's memory, records resets."""

    def __init__(self, board: FakeBoard) -> None:
        self.board = board

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        _bind(Target.read_memory_block8, self, addr, size)
        self.board.calls.append(("read_memory_block8", addr, size))
        if addr < 0 or addr + size > len(self.board.memory):
            raise exceptions.TransferFaultError(fault_address=addr, length=size)
        return list(self.board.memory[addr : addr + size])

    def reset(self, *args: Any, **kwargs: Any) -> None:
        _bind(Target.reset, self, *args, **kwargs)
        self.board.calls.append(("reset", args, kwargs))

    def reset_and_halt(self, *args: Any, **kwargs: Any) -> None:
        _bind(Target.reset_and_halt, self, *args, **kwargs)
        self.board.calls.append(("reset_and_halt", args, kwargs))


class FakeSession:
    """What session_with_chosen_probe returns; opened and closed by `with`."""

    def __init__(self, board: FakeBoard, probe: FakeProbe, options: dict[str, Any]) -> None:
        self.board = board
        self.probe = probe
        self.options = options
        self.is_open = False

    @property
    def target(self) -> FakeTarget | None:
        return self.board.target if self.is_open else None  # as pyOCD: no board before open

    def __enter__(self) -> FakeSession:
        self.board.calls.append(("open",))
        if self.board.open_error is not None:
            raise self.board.open_error
        target_type = self.options.get("target_override")
        if target_type not in self.board.target_types:
            # pyocd/board/board.py raises this for an unknown target type
            raise exceptions.TargetSupportError(f"Target type '{target_type}' not recognized.")
        self.is_open = True
        return self

    def __exit__(self, *exc: object) -> bool:
        self.board.calls.append(("close",))
        self.is_open = False
        return False


class FakeConnectHelper:
    """Patched in for pyocd.core.helpers.ConnectHelper (whose methods are static)."""

    def __init__(self, board: FakeBoard) -> None:
        self.board = board

    def _matching(self, unique_id: str | None) -> list[FakeProbe]:
        """pyOCD's rule (probe/aggregator.py): a full match, else case-insensitive substring."""
        probes = sorted(self.board.probes, key=lambda p: p.description + p.unique_id)
        if unique_id is None:
            return probes
        unique_id = unique_id.split(":", 1)[-1]
        exact = [p for p in probes if p.unique_id == unique_id]
        return exact or [p for p in probes if unique_id.lower() in p.unique_id.lower()]

    def get_all_connected_probes(self, *args: Any, **kwargs: Any) -> list[FakeProbe]:
        _bind(_REAL_CONNECT_HELPER.get_all_connected_probes, *args, **kwargs)
        self.board.calls.append(("get_all_connected_probes", args, kwargs))
        bound = inspect.signature(_REAL_CONNECT_HELPER.get_all_connected_probes).bind(
            *args, **kwargs
        )
        bound.apply_defaults()
        found = self._matching(bound.arguments["unique_id"])
        if not found and bound.arguments["blocking"]:
            raise AssertionError("get_all_connected_probes(blocking=True) would wait forever")
        return found

    def session_with_chosen_probe(self, *args: Any, **kwargs: Any) -> FakeSession | None:
        _bind(_REAL_CONNECT_HELPER.session_with_chosen_probe, *args, **kwargs)
        self.board.calls.append(("session_with_chosen_probe", args, kwargs))
        bound = inspect.signature(_REAL_CONNECT_HELPER.session_with_chosen_probe).bind(
            *args, **kwargs
        )
        bound.apply_defaults()
        a = bound.arguments
        found = self._matching(a["unique_id"])
        if not found and a["blocking"]:
            raise AssertionError("session_with_chosen_probe(blocking=True) would wait forever")
        if not found or (len(found) > 1 and not a["return_first"]):
            return None  # pyOCD prints why and returns None
        options = {**(a["options"] or {}), **a["kwargs"]}
        return FakeSession(self.board, found[0], options)


class FakeFileProgrammer:
    """Patched in for pyocd.flash.file_programmer.FileProgrammer."""

    def __init__(self, session: FakeSession, *args: Any, **kwargs: Any) -> None:
        _bind(_REAL_FILE_PROGRAMMER.__init__, self, session, *args, **kwargs)
        bound = inspect.signature(_REAL_FILE_PROGRAMMER.__init__).bind(
            self, session, *args, **kwargs
        )
        bound.apply_defaults()
        self.session = session
        self.progress: Callable[[float], None] | None = bound.arguments["progress"]
        session.board.calls.append(("FileProgrammer", args, kwargs))

    def program(self, *args: Any, **kwargs: Any) -> None:
        _bind(_REAL_FILE_PROGRAMMER.program, self, *args, **kwargs)
        board = self.session.board
        board.calls.append(("program", args, kwargs))
        assert self.session.is_open, "program() on a session that is not open"
        if board.program_error is not None:
            raise board.program_error
        bound = inspect.signature(_REAL_FILE_PROGRAMMER.program).bind(self, *args, **kwargs)
        path = bound.arguments["file_or_path"]
        with open(path, "rb") as f:
            segments = [
                (seg["p_paddr"], seg.data())
                for seg in ELFFile(f).iter_segments()
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] != 0
            ]
        total = sum(len(d) for _, d in segments)
        done = 0
        if self.progress is not None:
            self.progress(0.0)
        for addr, data in segments:
            if addr + len(data) > len(board.memory):
                raise exceptions.FlashProgramFailure("no flash there", address=addr)
            board.memory[addr : addr + len(data)] = data
            done += len(data)
            if self.progress is not None:
                self.progress(done / total)
        if board.corrupt_at is not None:
            board.memory[board.corrupt_at] ^= 0x5A
