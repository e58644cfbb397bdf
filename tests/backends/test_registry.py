"""The backend registry: kinds, `auto`'s order, entry models, capabilities as Protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.backends.board import BoardBackend, BoardEntry, BoardTarget, FlashReport
from hil_service.backends.capabilities import ConsoleLog, Flasher, FlashResult, InstructionCounter
from hil_service.backends.entry import DeviceEntry
from hil_service.backends.native import NativeBackend, NativeEntry, start_native
from hil_service.backends.process import ProcessTarget
from hil_service.backends.qemu import QemuBackend
from hil_service.backends.registry import (
    AUTO,
    Backend,
    UnknownBackend,
    auto_order,
    backend_for,
    backend_of_kind,
    registered,
)
from hil_service.backends.renode import RenodeBackend, RenodeTarget
from hil_service.plan import BackendKind, DeviceSelector, backend_kinds


def test_builtin_kinds_and_auto_order() -> None:
    backends = registered()
    assert {k: type(b) for k, b in backends.items() if k in ("board", "renode", "qemu", "native")} \
        == {"board": BoardBackend, "renode": RenodeBackend, "qemu": QemuBackend,
            "native": NativeBackend}
    # real hardware first, then the emulator closest to it, the host build last
    assert auto_order()[:4] == ("board", "renode", "qemu", "native")
    assert backend_kinds()[0] == AUTO and backend_kinds()[1:] == auto_order()
    for kind, backend in backends.items():
        assert isinstance(backend, Backend) and backend.kind == kind
        assert issubclass(backend.entry_model, DeviceEntry)


def test_plan_backend_comes_from_the_registry() -> None:
    assert DeviceSelector.model_validate({"backend": "renode"}).backend == "renode"
    assert DeviceSelector().backend == BackendKind.AUTO == "auto"
    with pytest.raises(ValueError, match="unknown backend 'qem'; known: auto, board, renode"):
        DeviceSelector.model_validate({"backend": "qem"})
    assert DeviceSelector(backend=BackendKind("qemu")).model_dump(mode="json")["backend"] == "qemu"


def test_each_kind_validates_its_own_fields() -> None:
    entry = {"id": "x", "backend": "board", "board": "frdm_k64f"}
    with pytest.raises(ValueError, match="probe_uid"):
        BoardEntry.model_validate(entry)
    with pytest.raises(ValueError, match="machine"):  # a board has no machine
        BoardEntry.model_validate({**entry, "probe_uid": "1", "pyocd_target": "k64f",
                                   "machine": "mps2-an386"})
    with pytest.raises(ValueError, match="probe_uid"):  # the host build has no probe
        NativeEntry.model_validate({"id": "h", "backend": "native", "board": "n", "probe_uid": "1"})
    board = BoardEntry.model_validate({**entry, "probe_uid": "cmsisdap:0240ABC", "pyocd_target": "k64f"})
    assert backend_for(board).lock_key(board) == "probe-0240abc"  # the probe, without its type
    with pytest.raises(UnknownBackend, match="no backend 'labgrid' is registered"):
        backend_of_kind("labgrid", "x")


def test_capabilities_are_protocols(tmp_path: Path) -> None:
    assert isinstance(BoardBackend(), Flasher)
    assert not isinstance(QemuBackend(), Flasher) and not isinstance(NativeBackend(), Flasher)
    report = FlashReport(probe_uid="1", target_type="k64f", image=tmp_path / "fw.elf", sha256="0",
                         bytes_programmed=4, verified=True, seconds=0.1)
    assert isinstance(report, FlashResult)
    # Renode's target counts instructions; a board's and a process's do not
    assert hasattr(RenodeTarget, "executed_instructions") and hasattr(RenodeTarget, "console_path")
    assert not hasattr(BoardTarget, "executed_instructions")
    assert not hasattr(BoardTarget, "console_path")  # a board's output is its UART
    program = NativeBackend().firmware_image(NativeEntry(id="h", backend="native", board="n"))
    with start_native(program) as target:
        assert isinstance(target, ProcessTarget)
        assert isinstance(target, ConsoleLog) and not isinstance(target, InstructionCounter)
        assert target.console_path.is_file()
