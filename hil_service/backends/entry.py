"""What every inventory entry has, whatever its backend; each backend extends it with its own fields.

A backend's entry model (`Backend.entry_model`) subclasses `DeviceEntry`
and adds what only it needs (`machine` for QEMU, `probe_uid` and
`pyocd_target` for a board), so the inventory validates each entry against
the fields of the backend it names, and a new backend brings its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeviceEntry", "InvalidEntry"]


class DeviceEntry(BaseModel):
    """One device under test (DUT). `image` is a firmware ELF; some backends build their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")]
    backend: str
    board: str
    serial: str | None = None
    baud: Annotated[int, Field(gt=0)] = 115200
    ram_bytes: Annotated[int, Field(gt=0)] | None = None
    flash_bytes: Annotated[int, Field(gt=0)] | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    connected: bool = True
    product: str | None = None
    source: str = ""  # file:line the entry came from, for messages

    def image_path(self) -> Path | None:
        return Path(self.image) if self.image else None


class InvalidEntry(DeviceEntry):
    """An entry the inventory could not accept: kept (so `hil list` shows it), never usable.

    One wrong entry must not hide every other device of the lab; selecting
    this one names `problem`.
    """

    problem: str = ""
