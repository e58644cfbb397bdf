"""Which inventory devices a run uses: the plan's selector, the command line's overrides.

`auto` takes the first backend kind, in the registry's order (real boards,
then emulators, then the host build), that has an available device. A device
or kind chosen explicitly that is not available is an error naming why, not
a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hil_service.backends.registry import AUTO, Availability, auto_order, availability
from hil_service.errors import ConfigError
from hil_service.inventory import DeviceEntry, Inventory
from hil_service.plan import DeviceSelector, Plan

__all__ = ["SelectionError", "check_device_names", "describe", "select_devices"]


class SelectionError(ConfigError):
    """No device fits the plan's selector and the command line's overrides."""


def select_devices(inventory: Inventory, selector: DeviceSelector,
                   backend: str | None = None, dut: str | None = None,
                   check: Callable[[DeviceEntry], Availability] = availability) -> list[DeviceEntry]:
    """The devices a run uses.

    --dut names one device and wins over everything. Otherwise the plan's
    ids and tags narrow the inventory, --backend (or the plan's backend)
    picks the kind, and `auto` takes the first kind in the registry's
    `auto_order()` with an available device.
    """
    if dut is not None:
        entry = inventory.get(dut)
        state = check(entry)
        if not state.ok:
            raise SelectionError(f"device {dut} is not available: {state.reason}")
        return [entry]
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
    if selector.ids and kind == AUTO and all(states[d.id].ok for d in candidates):
        # devices named one by one are taken as named, of any kind (a federation mixes them)
        return candidates[: selector.limit] if selector.limit else candidates
    kinds = auto_order() if kind == AUTO else (kind,)
    for k in kinds:
        chosen = [d for d in candidates if d.backend == k and states[d.id].ok]
        if chosen:
            return chosen[: selector.limit] if selector.limit else chosen
    reasons = "; ".join(f"{d.id}: {states[d.id].reason}" for d in candidates
                        if d.backend in kinds)
    raise SelectionError(f"no available {kind} device matches {what}"
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


def describe(entries: Sequence[DeviceEntry]) -> str:
    return ", ".join(f"{e.id} ({e.backend})" for e in entries)
