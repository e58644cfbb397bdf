"""The lab: every device under test (DUT), real or emulated, and how to reach it.

Read from `fixtures/lab.yaml` (our format) and from Zephyr Twister hardware
maps (`--hardware-map` YAML), so an existing Zephyr lab needs no rewrite.
Only facts live here; bringing a device to life is the backends' job.

Each entry is validated against the fields of the backend it names (the
backend's `entry_model`, hil_service.backends.registry). An entry that does
not validate does not stop the lab: it is kept as an `InvalidEntry` with its
`file:line: field: problem`, shown by `hil list` and named when selected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hil_service.backends.entry import DeviceEntry, InvalidEntry
from hil_service.backends.registry import UnknownBackend, backend_of_kind
from hil_service.yaml_source import SourceError, YamlDocument, load_yaml

__all__ = ["DEFAULT_INVENTORY", "DeviceEntry", "Inventory", "InvalidEntry", "InventoryError",
           "load_inventory"]

InventoryError = SourceError

DEFAULT_INVENTORY = Path(__file__).resolve().parent.parent / "fixtures" / "lab.yaml"

#: pyOCD target types of the Zephyr boards we have configurations for; Twister
#: maps do not carry one, so a platform missing here needs runner_params --target.
PYOCD_TARGETS = {
    "nrf52840dk/nrf52840": "nrf52840",
    "nrf52840dk_nrf52840": "nrf52840",
    "stm32f4_disco": "stm32f407vg",
    "frdm_k64f": "k64f",
    "nrf52dk/nrf52832": "nrf52832",
    "nucleo_f429zi": "stm32f429zi",
}

#: Twister runners this service flashes with. Boards are flashed with pyOCD's
#: Python API only; a map entry naming another runner (nrfjprog, jlink,
#: openocd, ...) says its owner flashes it another way, which we cannot honour.
TWISTER_RUNNERS = ("pyocd",)


class _LabFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[Any] = Field(default_factory=list)
    hardware_maps: list[str] = Field(default_factory=list)


class _TwisterEntry(BaseModel):
    """One entry of a Twister hardware map (zephyr/scripts/pylib/twister/.../hardwaremap.py)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    platform: str
    product: str | None = None
    runner: str | None = None
    runner_params: list[str] = Field(default_factory=list)
    serial: str | None = None
    baud: int = 115200
    probe_id: str | None = None
    fixtures: list[str] = Field(default_factory=list)
    connected: bool = True


_TARGET_PARAM = re.compile(r"^--(?:target|target-override)[= ](\S+)$")


def _from_twister(t: _TwisterEntry, source: str) -> dict[str, Any]:
    """Our board entry for a Twister map entry; ValueError (runner, target) if there is none."""
    if t.runner is not None and t.runner not in TWISTER_RUNNERS:
        raise ValueError(f"runner {t.runner!r} is not supported: boards are flashed with pyOCD "
                         f"here; set runner: pyocd if pyOCD drives this probe"
                         + (f" ({t.product})" if t.product else ""))
    target = PYOCD_TARGETS.get(t.platform)
    for param in t.runner_params:
        m = _TARGET_PARAM.match(param.strip())
        if m:
            target = m.group(1)
    if target is None:
        raise ValueError(f"no pyOCD target known for platform {t.platform!r}; add "
                         f"'--target=<type>' to its runner_params")
    return {
        "id": t.id, "backend": "board", "board": t.platform, "pyocd_target": target,
        "probe_uid": t.probe_id or t.id, "serial": t.serial, "baud": t.baud,
        "tags": tuple(t.fixtures) + ("twister",), "connected": t.connected,
        "product": t.product, "source": source,
    }


class Inventory:
    """The devices of one lab, in file order (which is also preference order)."""

    def __init__(self, devices: Sequence[DeviceEntry], path: Path) -> None:
        self.devices = tuple(devices)
        self.path = path

    def __iter__(self) -> Iterator[DeviceEntry]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def get(self, device_id: str) -> DeviceEntry:
        for d in self.devices:
            if d.id == device_id:
                return d
        known = ", ".join(d.id for d in self.devices) or "none"
        raise InventoryError(self.path, None, "",
                             f"no device {device_id!r} in the inventory (known: {known})")

    def invalid(self) -> list[InvalidEntry]:
        return [d for d in self.devices if isinstance(d, InvalidEntry)]


def _invalid(raw: Any, source: str, problem: str, fallback_id: str) -> InvalidEntry:
    fields = raw if isinstance(raw, dict) else {}
    device_id = fields.get("id")
    return InvalidEntry.model_construct(
        id=str(device_id) if isinstance(device_id, str | int) and str(device_id) else fallback_id,
        backend=str(fields.get("backend", "?")), board=str(fields.get("board", "?")),
        source=source, problem=problem)


def _validate(doc: YamlDocument, loc: tuple[str | int, ...], raw: dict[str, Any]) -> DeviceEntry:
    """raw as its backend's entry model; InvalidEntry naming file, line and field otherwise."""
    source = raw.get("source") or f"{doc.path}:{doc.line(loc)}"
    fallback = f"{doc.path.name}:{doc.line(loc)}"
    kind = raw.get("backend")
    if not isinstance(kind, str):
        return _invalid(raw, source, str(doc.error((*loc, "backend"), "required field is missing"
                                                   if kind is None else "must be a string")),
                        fallback)
    try:
        model = backend_of_kind(kind).entry_model
    except UnknownBackend as exc:
        return _invalid(raw, source, str(doc.error((*loc, "backend"), str(exc))), fallback)
    try:
        return model.model_validate({**raw, "source": source})
    except ValidationError as exc:
        return _invalid(raw, source, str(doc.validation_error(exc, prefix=loc)), fallback)


def _entry(doc: YamlDocument, loc: tuple[str | int, ...], raw: Any) -> DeviceEntry:
    if not isinstance(raw, dict):
        return _invalid(raw, f"{doc.path}:{doc.line(loc)}",
                        str(doc.error(loc, "a device is a mapping with id, backend and board")),
                        f"{doc.path.name}:{doc.line(loc)}")
    raw = dict(raw)
    if raw.get("image"):
        # images are named relative to the file that names them
        raw["image"] = str((doc.path.parent / str(raw["image"])).resolve())
    return _validate(doc, loc, raw)


def _twister_map(doc: YamlDocument) -> list[DeviceEntry]:
    if not isinstance(doc.data, list):
        raise doc.error((), "a Twister hardware map is a list of devices")
    out: list[DeviceEntry] = []
    for i, raw in enumerate(doc.data):
        source = f"{doc.path}:{doc.line((i,))}"
        fallback = f"{doc.path.name}:{doc.line((i,))}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), int):
            # YAML reads 000260117001 as a number (octal, even): the probe id is lost
            problem = doc.error((i, "id"), f"probe id {raw['id']} is a number in YAML; quote it "
                                           f"(id: \"...\") so leading zeros survive")
            out.append(_invalid(raw, source, str(problem), fallback))
            continue
        try:
            t = _TwisterEntry.model_validate(raw)
        except ValidationError as exc:
            out.append(_invalid(raw, source, str(doc.validation_error(exc, prefix=(i,))), fallback))
            continue
        try:
            fields = _from_twister(t, source)
        except ValueError as exc:
            field = "runner" if str(exc).startswith("runner") else "platform"
            out.append(_invalid({"id": t.id, "backend": "board", "board": t.platform}, source,
                                str(doc.error((i, field), str(exc))), fallback))
            continue
        out.append(_validate(doc, (i,), fields))
    return out


def _mark_duplicates(devices: list[DeviceEntry]) -> list[DeviceEntry]:
    """Every entry whose id another one also has becomes invalid: which one is meant is unknown."""
    sources: dict[str, list[str]] = {}
    for d in devices:
        sources.setdefault(d.id, []).append(d.source)
    out: list[DeviceEntry] = []
    for d in devices:
        where = sources[d.id]
        if len(where) > 1 and not isinstance(d, InvalidEntry):
            d = InvalidEntry.model_construct(
                id=d.id, backend=d.backend, board=d.board, source=d.source, tags=d.tags,
                problem=f"device id {d.id!r} appears {len(where)} times ({', '.join(where)})")
        out.append(d)
    return out


def load_inventory(path: Path | str = DEFAULT_INVENTORY) -> Inventory:
    """Our lab.yaml (with any hardware_maps it names) or a bare Twister hardware map."""
    doc = load_yaml(path)
    if isinstance(doc.data, list):
        return Inventory(_mark_duplicates(_twister_map(doc)), doc.path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "an inventory is a mapping with 'devices' (or a Twister hardware map)")
    try:
        lab = _LabFile.model_validate(doc.data)
    except ValidationError as exc:
        raise doc.validation_error(exc) from None
    devices = [_entry(doc, ("devices", i), raw) for i, raw in enumerate(lab.devices)]
    for i, rel in enumerate(lab.hardware_maps):
        map_path = doc.path.parent / rel
        if not map_path.is_file():
            raise doc.error(("hardware_maps", i), f"hardware map {map_path} not found")
        devices += _twister_map(load_yaml(map_path))
    return Inventory(_mark_duplicates(devices), doc.path)
