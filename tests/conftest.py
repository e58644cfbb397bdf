from __future__ import annotations

import pytest

from hil_service.datasets import load
from hil_service.firmware_build import host_core_library
from hil_service.native_core import NativeCore


@pytest.fixture(scope="session")
def core() -> NativeCore:
    """The real C core, built for this host."""
    return NativeCore(host_core_library())


@pytest.fixture(scope="session")
def digits():
    return load("digits")
