"""From inventory entries to running devices: availability, selection, images, start.

This is the one place that knows which backend serves which inventory
entry; the runner above it sees only `LiveTarget`s and serial URLs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hil_service.backends import BackendError, LiveTarget
from hil_service.inventory import DeviceEntry, Inventory
from hil_service.plan import BackendKind, DeviceSelector, Plan

__all__ = ["Availability", "LatencyClock", "SelectionError", "availability", "firmware_image",
           "latency_clock", "select_devices", "start_target"]

#: `auto` prefers real hardware, then the emulator closest to it.
AUTO_ORDER = ("board", "renode", "qemu", "native")
QEMU_ICOUNT_SHIFT = 6


class SelectionError(ValueError):
    """No device fits the plan's selector and the command line's overrides."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str


@lru_cache(maxsize=1)
def connected_probes() -> frozenset[str]:
    """Unique ids of the debug probes pyOCD sees now (empty without USB access)."""
    try:
        from pyocd.core.helpers import ConnectHelper

        probes = ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception:  # noqa: BLE001 - no libusb or no permission means no probes
        return frozenset()
    return frozenset(p.unique_id for p in probes)


def _probe_connected(uid: str) -> bool:
    # the same matching as flashing: an optional "type:" prefix, any case
    want = uid.split(":", 1)[-1].lower()
    return any(p.lower() == want for p in connected_probes())


def availability(entry: DeviceEntry) -> Availability:
    if entry.backend == "board":
        if not entry.connected:
            return Availability(False, "marked not connected")
        if not _probe_connected(entry.probe_uid or ""):
            return Availability(False, f"probe {entry.probe_uid} not connected")
        return _image_available(entry)
    if entry.backend == "renode":
        if shutil.which("renode") is None:
            return Availability(False, "renode not on PATH")
        return _image_available(entry)
    if entry.backend == "qemu":
        if shutil.which("qemu-system-arm") is None:
            return Availability(False, "qemu-system-arm not on PATH")
        if entry.image is not None:
            return _image_available(entry)
        if shutil.which("arm-none-eabi-gcc") is None:
            return Availability(False, "arm-none-eabi-gcc not on PATH to build the image")
        return Availability(True, f"QEMU {entry.machine}")
    if entry.image is None and shutil.which("cc") is None:
        return Availability(False, "no host C compiler (cc) to build the image")
    return Availability(True, "host build on a pty")


def _image_available(entry: DeviceEntry) -> Availability:
    path = entry.image_path()
    if path is None:
        return Availability(False, "no firmware image in the inventory (image:)")
    if not path.is_file():
        return Availability(False, f"image {path} not built")
    return Availability(True, "ready")


def select_devices(inventory: Inventory, selector: DeviceSelector,
                   backend: BackendKind | None = None, dut: str | None = None,
                   check: Callable[[DeviceEntry], Availability] = availability) -> list[DeviceEntry]:
    """The devices a run uses.

    --dut names one device and wins over everything. Otherwise the plan's
    ids and tags narrow the inventory, --backend (or the plan's backend)
    picks the kind, and `auto` takes the first kind in AUTO_ORDER with an
    available device. An explicitly chosen device or kind that is not
    available is an error, not a silent fallback.
    """
    if dut is not None:
        entry = inventory.get(dut)
        state = check(entry)
        if not state.ok:
            raise SelectionError(f"device {dut} is not available: {state.reason}")
        return [entry]
    kind = backend or selector.backend
    candidates = [d for d in inventory
                  if (not selector.ids or d.id in selector.ids)
                  and all(t in d.tags for t in selector.tags)]
    unknown = [i for i in selector.ids if i not in {d.id for d in inventory}]
    if unknown:
        raise SelectionError(f"plan names device(s) {', '.join(unknown)} not in inventory "
                             f"{inventory.path}")
    what = _describe(selector)
    if not candidates:
        raise SelectionError(f"no device in {inventory.path} matches {what}")
    states = {d.id: check(d) for d in candidates}
    kinds = AUTO_ORDER if kind == BackendKind.AUTO else (kind.value,)
    for k in kinds:
        chosen = [d for d in candidates if d.backend == k and states[d.id].ok]
        if chosen:
            return chosen[: selector.limit] if selector.limit else chosen
    reasons = "; ".join(f"{d.id}: {states[d.id].reason}" for d in candidates
                        if d.backend in kinds)
    raise SelectionError(f"no available {kind.value} device matches {what}"
                         + (f" ({reasons})" if reasons else ""))


def check_device_names(plan: Plan, inventory: Inventory) -> None:
    """expect_on thresholds for a device the inventory does not know would never apply."""
    known = {d.id for d in inventory}
    for run in plan.strategies:
        for device_id in run.expect_on:
            if device_id not in known:
                raise SelectionError(f"strategy run {run.name}: expect_on names device "
                                     f"{device_id!r}, which is not in inventory {inventory.path}")


def _describe(selector: DeviceSelector) -> str:
    parts = []
    if selector.ids:
        parts.append(f"ids {', '.join(selector.ids)}")
    if selector.tags:
        parts.append(f"tags {', '.join(selector.tags)}")
    return " and ".join(parts) or "the plan"


def firmware_image(entry: DeviceEntry) -> Path:
    """The ELF to run: the inventory's image, or for mps2 and native the one built here."""
    path = entry.image_path()
    if path is not None:
        if not path.is_file():
            raise BackendError(f"device {entry.id}: firmware image {path} does not exist "
                               f"(build it with west, docs/zephyr.md)")
        return path
    from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix

    if entry.backend == "qemu":
        assert entry.machine is not None
        return build_firmware_mps2(entry.machine.removeprefix("mps2-"))
    if entry.backend == "native":
        return build_firmware_posix()
    raise BackendError(f"device {entry.id}: the inventory gives no firmware image (image:)")


def start_target(entry: DeviceEntry, image: Path,
                 progress: Callable[[str], None] | None = None) -> LiveTarget:
    """Bring the device up with image: flash a board, boot an emulator, start the host build."""
    if entry.backend == "qemu":
        from hil_service.backends.qemu import start_qemu

        assert entry.machine is not None
        return start_qemu(image, entry.machine, QEMU_ICOUNT_SHIFT)
    if entry.backend == "native":
        from hil_service.backends.native import start_native

        return start_native(image)
    if entry.backend == "renode":
        from hil_service.backends.renode import start_renode

        return start_renode(image, entry.machine or entry.board)
    from hil_service.backends.board import BoardSpec, start_board

    assert entry.probe_uid is not None and entry.pyocd_target is not None
    spec = BoardSpec(probe_uid=entry.probe_uid, target_type=entry.pyocd_target,
                     serial_port=entry.serial, baud=entry.baud, name=entry.id)
    if progress is not None:
        progress(f"flashing {image.name} with pyOCD")
    return start_board(spec, image)


@dataclass(frozen=True)
class LatencyClock:
    """How to read the device's cycle counts: what they are and what one is worth."""

    source: str  # "cycle_counter", "icount" or "host_clock"
    note: str
    instructions_per_cycle: float | None  # only under QEMU -icount

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "note": self.note,
                "instructions_per_cycle": self.instructions_per_cycle}


def latency_clock(entry: DeviceEntry) -> LatencyClock:
    if entry.backend == "qemu":
        from hil_service.backends.qemu import instructions_from_ticks

        return LatencyClock(
            "icount", f"QEMU -icount shift={QEMU_ICOUNT_SHIFT}: virtual time, one guest "
            f"instruction = {2 ** QEMU_ICOUNT_SHIFT} ns; not wall time",
            instructions_from_ticks(1, QEMU_ICOUNT_SHIFT))
    if entry.backend == "renode":
        return LatencyClock("renode_virtual", "Renode virtual time from its instruction "
                            "count at the CPU's PerformanceInMips", None)
    if entry.backend == "native":
        return LatencyClock("host_clock", "host build: the host's monotonic clock", None)
    return LatencyClock("cycle_counter", "the MCU's own cycle counter", None)


def describe(entries: Sequence[DeviceEntry]) -> str:
    return ", ".join(f"{e.id} ({e.backend})" for e in entries)
