"""Fuzzing the host build (AddressSanitizer + UBSan) through its pty: random
bytes, truncated and corrupted frames. The firmware must never crash and must
answer a well-formed HELLO afterwards (it resynchronised)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil_service.backends.native import start_native
from hil_service.device import Device
from hil_service.firmware_build import build_firmware_posix
from hil_service.protocol import Cmd, Frame, encode_batch
from hil_service.reference import Arch, Strategy, TrainParams


@pytest.fixture(scope="module")
def sanitized_device():
    target = start_native(build_firmware_posix(sanitize=True))
    dev = Device.open(target.serial_url, timeout=5)
    try:
        dev.hello()
        dev.configure(Arch((8, 6, 3)), TrainParams(Strategy.TINYPROP, learning_rate=0.1), seed=1)
        yield target, dev
    finally:
        dev.close()
        target.close()
        log = target.log_tail(200)
        assert "Sanitizer" not in log and "runtime error" not in log, log


def valid_frames(seq: int) -> list[bytes]:
    x = np.linspace(0, 1, 16, dtype=np.float32).reshape(2, 8)
    bodies = [(Cmd.TRAIN, encode_batch(x, np.array([0, 2]))), (Cmd.INFER, encode_batch(x, None, score_kind=4)),
              (Cmd.METRICS, b"\x00"), (Cmd.READ_WEIGHTS, b"\x00\x00\x00\x00\x40\x00")]
    return [Frame(cmd, seq + i, body).wire() for i, (cmd, body) in enumerate(bodies)]


mutations = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.integers(0, 3), st.integers(1, 200)).map(lambda t: ("truncate",) + t),
    st.tuples(st.integers(0, 3), st.integers(0, 300), st.integers(1, 255)).map(lambda t: ("corrupt",) + t),
    st.tuples(st.integers(0, 3), st.integers(0, 300), st.binary(min_size=1, max_size=40)).map(lambda t: ("insert",) + t),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutations, min_size=1, max_size=6), st.integers(0, 0xFFFF))
def test_garbage_never_crashes_and_the_device_resynchronises(sanitized_device, mutations, seq):
    target, dev = sanitized_device
    frames = valid_frames(seq)
    for m in mutations:
        if isinstance(m, bytes):
            data = m
        else:
            kind, i, *args = m
            wire = bytearray(frames[i])
            if kind == "truncate":
                data = bytes(wire[: max(1, len(wire) - args[0])])
            elif kind == "corrupt":
                wire[args[0] % len(wire)] ^= args[1]
                data = bytes(wire)
            else:
                pos = args[0] % len(wire)
                data = bytes(wire[:pos] + args[1] + wire[pos:])
        dev.link.port.write(data)
    # end whatever frame the garbage left open, then open a fresh session
    dev.link.port.write(b"\x00")
    time.sleep(0.01)
    dev.link.port.reset_input_buffer()
    info = dev.hello()
    assert info.board == "native_posix"
    assert target.alive()
    assert dev.metrics().configured in (True, False)
