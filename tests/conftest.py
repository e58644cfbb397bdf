from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.datasets import load
from hil_service.firmware_build import host_core_library
from hil_service.locks import lock_dir
from hil_service.native_core import NativeCore


@pytest.fixture(scope="session")
def core() -> NativeCore:
    """The real C core, built for this host."""
    return NativeCore(host_core_library())


@pytest.fixture(scope="session")
def digits():
    return load("digits")


@pytest.fixture(autouse=True)
def private_locks(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own lock directory, so tests never wait on each other's devices
    (nor on a lab's real runs on the same machine)."""
    path = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv("HIL_LOCK_DIR", str(path))
    assert lock_dir() == path
    return path
