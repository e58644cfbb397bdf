"""The build id as ELF symbols: the host reads odl_fw_git_hash and
odl_fw_version out of the image it flashes (pyelftools) and checks that the
device answering HELLO runs that image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix

IMAGES = {
    "mps2_an385": lambda: build_firmware_mps2("an385"),
    "mps2_an386": lambda: build_firmware_mps2("an386"),
    "mps2_an500": lambda: build_firmware_mps2("an500"),
    "posix": lambda: build_firmware_posix(),
    "posix_san": lambda: build_firmware_posix(sanitize=True),
}


def elf_string(path: Path, name: str) -> str:
    """The NUL-terminated string a global data symbol names, read from the file."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        symbols = elf.get_section_by_name(".symtab").get_symbol_by_name(name)
        assert symbols, f"{name} is not in the symbol table of {path}"
        (sym,) = symbols
        assert sym["st_info"]["bind"] == "STB_GLOBAL" and sym["st_info"]["type"] == "STT_OBJECT"
        addr, size = sym["st_value"], sym["st_size"]
        for sec in elf.iter_sections():
            start = sec["sh_addr"]
            loaded = sec["sh_flags"] & SH_FLAGS.SHF_ALLOC and sec["sh_type"] != "SHT_NOBITS"
            if loaded and start <= addr < start + sec["sh_size"]:
                raw = sec.data()[addr - start : addr - start + size]
                assert raw.endswith(b"\x00") and b"\x00" not in raw[:-1]
                return raw[:-1].decode()
    raise AssertionError(f"{name} at 0x{addr:x} lies in no loaded section of {path}")


def git_describe() -> str:
    return subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_image_names_its_build_in_the_symbol_table(image):
    path = IMAGES[image]()
    assert elf_string(path, "odl_fw_git_hash") == git_describe()
    assert elf_string(path, "odl_fw_version") == "0.1.0"


def test_the_device_runs_the_image_whose_symbols_were_read(dut):
    path = build_firmware_posix() if dut.name == "native" else build_firmware_mps2("an386")
    info = dut.device.info
    assert info.git_hash == elf_string(path, "odl_fw_git_hash")
    assert info.fw_version == elf_string(path, "odl_fw_version")
