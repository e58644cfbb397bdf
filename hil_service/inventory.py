"""The lab: every device under test (DUT), real or emulated, and how to reach it.

Read from `fixtures/lab.yaml` (our format) and from Zephyr Twister hardware
maps (`--hardware-map` YAML), so an existing Zephyr lab needs no rewrite.
Only facts live here; bringing a device to life is the backends' job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hil_service.yaml_source import SourceError, YamlDocument, load_yaml

__all__ = ["DEFAULT_INVENTORY", "DeviceEntry", "Inventory", "InventoryError", "load_inventory"]

InventoryError = SourceError

DEFAULT_INVENTORY = Path(__file__).resolve().parent.parent / "fixtures" / "lab.yaml"

#: QEMU machines the bare-metal mps2 port builds for (firmware_zephyr/mk/mps2.mk).
QEMU_MACHINES = ("mps2-an385", "mps2-an386", "mps2-an500")

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

Backend = Literal["board", "qemu", "renode", "native"]


class DeviceEntry(BaseModel):
    """One DUT. `image` is a firmware ELF; emulated mps2 and native ones are built here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")]
    backend: Backend
    board: str
    pyocd_target: str | None = None
    probe_uid: str | None = None
    serial: str | None = None
    baud: Annotated[int, Field(gt=0)] = 115200
    ram_bytes: Annotated[int, Field(gt=0)] | None = None
    flash_bytes: Annotated[int, Field(gt=0)] | None = None
    tags: tuple[str, ...] = ()
    machine: str | None = None
    image: str | None = None
    connected: bool = True
    product: str | None = None
    source: str = ""  # file:line the entry came from, for messages

    @model_validator(mode="after")
    def _complete(self) -> DeviceEntry:
        if self.backend == "board":
            missing = [f for f in ("pyocd_target", "probe_uid") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a board needs {' and '.join(missing)}")
        if self.backend == "qemu" and self.machine not in QEMU_MACHINES:
            raise ValueError(f"qemu machine {self.machine!r} is not one of {', '.join(QEMU_MACHINES)}")
        if self.backend == "renode":
            from hil_service.backends.renode import RENODE_MACHINES

            key = self.machine or self.board
            if key not in RENODE_MACHINES:
                raise ValueError(f"no Renode machine {key!r}; known: {', '.join(RENODE_MACHINES)}")
        return self

    def image_path(self) -> Path | None:
        return Path(self.image) if self.image else None


class _LabFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[dict[str, Any]] = Field(default_factory=list)
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


def _entry(doc: YamlDocument, loc: tuple[str | int, ...], raw: Any) -> DeviceEntry:
    if not isinstance(raw, dict):
        raise doc.error(loc, "a device is a mapping with id, backend and board")
    raw = dict(raw)
    if raw.get("image"):
        # images are named relative to the file that names them
        raw["image"] = str((doc.path.parent / str(raw["image"])).resolve())
    raw.setdefault("source", f"{doc.path}:{doc.line(loc)}")
    try:
        return DeviceEntry.model_validate(raw)
    except ValidationError as exc:
        raise doc.validation_error(exc, prefix=loc) from None


def _twister_map(doc: YamlDocument) -> list[DeviceEntry]:
    if not isinstance(doc.data, list):
        raise doc.error((), "a Twister hardware map is a list of devices")
    out = []
    for i, raw in enumerate(doc.data):
        if isinstance(raw, dict) and isinstance(raw.get("id"), int):
            # YAML reads 000260117001 as a number (octal, even): the probe id is lost
            raise doc.error((i, "id"), f"probe id {raw['id']} is a number in YAML; quote it "
                                       f"(id: \"...\") so leading zeros survive")
        try:
            t = _TwisterEntry.model_validate(raw)
            fields = _from_twister(t, f"{doc.path}:{doc.line((i,))}")
        except ValidationError as exc:
            raise doc.validation_error(exc, prefix=(i,)) from None
        except ValueError as exc:
            raise doc.error((i, "platform"), str(exc)) from None
        try:
            out.append(DeviceEntry.model_validate(fields))
        except ValidationError as exc:
            raise doc.validation_error(exc, prefix=(i,)) from None
    return out


def load_inventory(path: Path | str = DEFAULT_INVENTORY) -> Inventory:
    """Our lab.yaml (with any hardware_maps it names) or a bare Twister hardware map."""
    doc = load_yaml(path)
    if isinstance(doc.data, list):
        return Inventory(_twister_map(doc), doc.path)
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
    seen: dict[str, str] = {}
    for d in devices:
        if d.id in seen:
            raise SourceError(doc.path, None, "devices",
                              f"device id {d.id!r} appears twice ({seen[d.id]} and {d.source})")
        seen[d.id] = d.source
    return Inventory(devices, doc.path)
