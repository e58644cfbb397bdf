"""Real firmware on real transports: the mps2 image in QEMU over a TCP socket,
and the POSIX host build over a pty. Nothing here is faked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hil_service import datasets
from hil_service.backends import LiveTarget
from hil_service.backends.native import start_native
from hil_service.backends.qemu import start_qemu
from hil_service.core_eval import pretrain_base
from hil_service.device import Device
from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix
from hil_service.reference import Mlp

QEMU_MACHINES = {"an385": "mps2-an385", "an386": "mps2-an386", "an500": "mps2-an500"}
ICOUNT_SHIFT = 6


@dataclass
class Dut:
    name: str
    target: LiveTarget
    device: Device


def start_dut(kind: str, *, timeout: float = 10.0) -> Dut:
    if kind == "native":
        target = start_native(build_firmware_posix())
    else:
        board = kind.removeprefix("qemu-")
        target = start_qemu(build_firmware_mps2(board), QEMU_MACHINES[board], ICOUNT_SHIFT)
    try:
        device = Device.open(target.serial_url, timeout=timeout)
    except BaseException:
        target.close()
        raise
    return Dut(kind, target, device)


@contextlib.contextmanager
def greeted_dut(kind: str) -> Iterator[Dut]:
    """A started DUT that answered HELLO, closed on exit."""
    d = start_dut(kind)
    try:
        d.device.hello()
        yield d
    finally:
        d.device.close()
        d.target.close()


@pytest.fixture(params=["qemu-an386", "native"])
def dut(request) -> Iterator[Dut]:
    with greeted_dut(request.param) as d:
        yield d


@pytest.fixture(scope="session")
def scenario():
    """Digits: half pretrains the base on the host, a quarter streams to the device."""
    return datasets.scenario(datasets.load("digits"), base=0.5, stream=0.25, test=0.25, seed=1)


@pytest.fixture(scope="session")
def base_model(scenario) -> Mlp:
    return pretrain_base(scenario.x_base, scenario.y_base, epochs=10)
