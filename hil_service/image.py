"""What a firmware ELF says about itself: build id, content hash, static memory.

The build id is the `odl_fw_git_hash` string the firmware also reports in
HELLO (firmware_zephyr/app/odl_app.c), so the runner can tell that the
device answering is running the image it was given.

Static memory follows what `size -A` and Zephyr's RAM/ROM report count:
every allocated section with contents is in flash (code, read-only data and
the initial values of .data), every allocated writable section is in RAM
(.data, .bss, noinit, stacks, the arena).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from hil_service.errors import TargetError

__all__ = ["FirmwareImage", "ImageError", "inspect_image"]

BUILD_ID_SYMBOL = "odl_fw_git_hash"
VERSION_SYMBOL = "odl_fw_version"
#: the static arena the firmware lays models out in (firmware_zephyr/app/odl_app.c)
ARENA_SYMBOL, ARENA_FILE = "arena", "odl_app.c"


class ImageError(TargetError, ValueError):
    """A firmware image that is missing or not an ELF we can read."""


@dataclass(frozen=True)
class FirmwareImage:
    path: Path
    sha256: str
    build_id: str | None  # git describe of the build, None if the symbol is absent
    fw_version: str | None
    machine: str  # ELF e_machine, e.g. EM_ARM
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int | None = None  # size of ARENA_SYMBOL; None if the image has no such symbol

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "sha256": self.sha256, "build_id": self.build_id,
                "fw_version": self.fw_version, "machine": self.machine,
                "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes,
                "arena_bytes": self.arena_bytes}


def _symbol_string(elf: ELFFile, name: str) -> str | None:
    """The NUL-terminated string a data symbol points at, read from its section."""
    for section in elf.iter_sections():
        if not isinstance(section, SymbolTableSection):
            continue
        for sym in section.get_symbol_by_name(name) or ():
            shndx = sym["st_shndx"]
            if not isinstance(shndx, int):
                continue
            host = elf.get_section(shndx)
            offset = sym["st_value"] - host["sh_addr"]
            data = host.data()[offset : offset + max(sym["st_size"], 1)]
            return data.split(b"\0", 1)[0].decode("utf-8", "replace")
    return None


def _local_object_size(elf: ELFFile, name: str, source: str) -> int | None:
    """Size of a data object defined in source file `source` (static symbols are
    local: the FILE symbol before them names their file)."""
    for section in elf.iter_sections():
        if not isinstance(section, SymbolTableSection):
            continue
        current = None
        for sym in section.iter_symbols():
            kind = sym["st_info"]["type"]
            if kind == "STT_FILE":
                current = sym.name
            elif kind == "STT_OBJECT" and sym.name == name and current == source:
                return int(sym["st_size"])
    return None


def inspect_image(path: Path | str) -> FirmwareImage:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"firmware image {path} does not exist") from None
    except OSError as exc:
        raise ImageError(f"firmware image {path} cannot be read: {exc}") from None
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            flash = ram = 0
            for s in elf.iter_sections():
                flags = s["sh_flags"]
                if not flags & SH_FLAGS.SHF_ALLOC:
                    continue
                if s["sh_type"] != "SHT_NOBITS":
                    flash += s["sh_size"]
                if flags & SH_FLAGS.SHF_WRITE:
                    ram += s["sh_size"]
            return FirmwareImage(path.resolve(), hashlib.sha256(raw).hexdigest(),
                                 _symbol_string(elf, BUILD_ID_SYMBOL),
                                 _symbol_string(elf, VERSION_SYMBOL),
                                 elf["e_machine"], flash, ram,
                                 _local_object_size(elf, ARENA_SYMBOL, ARENA_FILE))
    except ELFError as exc:
        raise ImageError(f"firmware image {path} is not an ELF file: {exc}") from None
