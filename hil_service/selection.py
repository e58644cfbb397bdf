"""Which inventory devices a run uses: the plan's selector, the command line's overrides.

`auto` takes the first backend kind, in the registry's order (real boards,
then emulators, then the host build), that has an available device. A device
chosen with --dut, or a kind with no available device, is an error naming
why, not a silent fallback. A selected device that is unavailable while
others are is not dropped silently either: it is `Skipped` with its reason,
and the run records it (run.json, junit.xml, the summary line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hil_service.backends.registry import AUTO, Availability, auto_order, availability
from hil_service.errors import ConfigError
from hil_service.inventory import DeviceEntry, Inventory
from hil_service.plan import DeviceSelector, Plan

__all__ = ["Selection", "SelectionError", "Skipped", "check_device_names", "describe",
           "select_devices", "select_pool"]


class SelectionError(ConfigError):
    """No device fits the plan's selector and the command line's overrides."""


@dataclass(frozen=True)
class Skipped:
    """A device the selection meant to use but cannot, and why."""

    device: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"device": self.device, "reason": self.reason}


@dataclass(frozen=True)
class Selection:
    """The devices a run uses, the spares a busy one may be swapped for, and what is missing.

    `spares` are further available matches beyond the selector's `limit`: a
    device pool. `skipped` are selected devices that are unavailable (image
    not built, board unplugged, invalid entry): with a `limit`, only as many
    as the available ones fall short of it.
    """

    devices: list[DeviceEntry]
    spares: list[DeviceEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def select_devices(inventory: Inventory, selector: DeviceSelector,
                   backend: str | None = None, dut: str | None = None,
                   check: Callable[[DeviceEntry], Availability] = availability) -> list[DeviceEntry]:
    """The devices a run uses (`select_pool(...).devices`)."""
    return select_pool(inventory, selector, backend, dut, check).devices


def select_pool(inventory: Inventory, selector: DeviceSelector,
                backend: str | None = None, dut: str | None = None,
                check: Callable[[DeviceEntry], Availability] = availability) -> Selection:
    """The devices a run uses, its spares and the selected devices it cannot use.

    --dut names one device and wins over everything. Otherwise the plan's
    ids and tags narrow the inventory, --backend (or the plan's backend)
    picks the kind, and `auto` takes the first kind in the registry's
    `auto_order()` with an available device; devices named by id under
    `auto` are taken as named, of any kind. Nothing available is an error.
    """
    if dut is not None:
        entry = inventory.get(dut)
        state = check(entry)
        if not state.ok:
            raise SelectionError(f"device {dut} is not available: {state.reason}")
        return Selection([entry])
    kind = str(backend or selector.backend)
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
    if selector.ids and kind == AUTO and any(states[d.id].ok for d in candidates):
        # devices named one by one are taken as named, of any kind (a federation mixes them)
        return _pool(candidates, states, selector.limit)
    kinds = auto_order() if kind == AUTO else (kind,)
    for k in kinds:
        of_kind = [d for d in candidates if d.backend == k]
        if any(states[d.id].ok for d in of_kind):
            return _pool(of_kind, states, selector.limit)
    reasons = "; ".join(f"{d.id}: {states[d.id].reason}" for d in candidates
                        if d.backend in kinds)
    raise SelectionError(f"no available {kind} device matches {what}"
                         + (f" ({reasons})" if reasons else ""))


def _pool(matches: list[DeviceEntry], states: dict[str, Availability],
          limit: int | None) -> Selection:
    up = [d for d in matches if states[d.id].ok]
    down = [Skipped(d.id, states[d.id].reason) for d in matches if not states[d.id].ok]
    if limit is None:
        return Selection(up, [], down)
    return Selection(up[:limit], up[limit:], down[:max(0, limit - len(up))])


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


def describe(entries: Sequence[DeviceEntry]) -> str:
    return ", ".join(f"{e.id} ({e.backend})" for e in entries)
