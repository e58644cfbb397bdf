"""Firmware images for the backend tests, built once per session.

No skips when qemu-system-arm or the ARM toolchain is missing: CI installs
them (scripts/setup.sh), so their absence must fail loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.firmware_build import build_mps2, build_posix


@pytest.fixture(scope="session")
def mps2_echo_elf() -> Path:
    return build_mps2("an386", "echo")


@pytest.fixture(scope="session")
def posix_echo() -> Path:
    return build_posix("echo")


@pytest.fixture(scope="session")
def posix_echo_san() -> Path:
    return build_posix("echo", sanitize=True)
