"""HELLO reports the last request the device executed before it (protocol 3), on the real
POSIX firmware over its pty, driven frame by frame (no link layer in between)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import serial

from hil_service.backends import LiveTarget
from hil_service.backends.native import start_native
from hil_service.firmware_build import build_firmware_posix
from hil_service.protocol import Cmd, Frame, FrameDecoder, Hello, encode_metrics


@pytest.fixture
def port() -> Iterator[serial.SerialBase]:
    target: LiveTarget = start_native(build_firmware_posix())
    try:
        with serial.serial_for_url(target.serial_url, baudrate=115200, timeout=0.05) as p:
            yield p
    finally:
        target.close()


def _ask(port: serial.SerialBase, cmd: int, seq: int, body: bytes = b"") -> Frame:
    port.write(Frame(cmd, seq, body).wire())
    dec, deadline = FrameDecoder(), time.monotonic() + 10
    while time.monotonic() < deadline:
        for frame in dec.feed(port.read(4096)):
            if frame.seq == seq:
                assert frame.cmd == cmd | 0x80, frame
                return frame
    raise AssertionError(f"no reply to seq {seq}")


def test_hello_reports_the_request_before_it(port):
    first = Hello.decode(_ask(port, Cmd.HELLO, 100).body)
    assert first.last_seq is None  # nothing ran since boot
    _ask(port, Cmd.METRICS, 101, encode_metrics(False))
    _ask(port, Cmd.METRICS, 102, encode_metrics(False))
    assert Hello.decode(_ask(port, Cmd.HELLO, 500).body).last_seq == 102
    # a HELLO is a request too: the next one reports it
    assert Hello.decode(_ask(port, Cmd.HELLO, 7).body).last_seq == 500


def test_a_resent_request_does_not_move_last_seq(port):
    _ask(port, Cmd.HELLO, 0)
    _ask(port, Cmd.METRICS, 1, encode_metrics(False))
    original = _ask(port, Cmd.METRICS, 2, encode_metrics(False))
    # answered from the cache, byte for byte (a re-run would count one more frame_ok)
    assert _ask(port, Cmd.METRICS, 2, encode_metrics(False)) == original
    assert Hello.decode(_ask(port, Cmd.HELLO, 3).body).last_seq == 2
