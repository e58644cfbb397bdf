"""FRAGMENT (protocol 5) in the C server: the real POSIX firmware over its pty,
driven frame by frame (no link layer in between), so every duplicate, gap and
stray piece is exactly the one the test sends."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial

from hil_service import wire_gen as W
from hil_service.backends import LiveTarget
from hil_service.backends.native import start_native
from hil_service.firmware_build import build_firmware_posix
from hil_service.protocol import (
    REPLY,
    Cmd,
    Configure,
    ErrorCode,
    ErrorReply,
    Frame,
    FrameDecoder,
    Hello,
    Metrics,
    encode_batch,
    encode_metrics,
)

ARCH = (64, 8, 3)
PIECE = 30


@pytest.fixture(scope="module")
def elf():
    return build_firmware_posix()


class Dut:
    def __init__(self, elf) -> None:
        self.target: LiveTarget = start_native(elf)
        self.port = serial.serial_for_url(self.target.serial_url, baudrate=115200, timeout=0.05)
        self.dec = FrameDecoder()

    def close(self) -> None:
        self.port.close()
        self.target.close()

    def ask(self, cmd: int, seq: int, body: bytes = b"") -> Frame:
        self.port.write(Frame(cmd, seq, body).wire())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for frame in self.dec.feed(self.port.read(4096)):
                if frame.seq == seq:
                    return frame
        raise AssertionError(f"no reply to seq {seq}")

    def piece(self, seq: int, body: bytes, offset: int, end: int, *, first: int,
              cmd: int = Cmd.TRAIN, total: int | None = None) -> Frame:
        return self.ask(Cmd.FRAGMENT, seq, W.FRAGMENT.encode(
            cmd=cmd, reserved=0, first_seq=first, total=len(body) if total is None else total,
            offset=offset, piece=body[offset:end]))

    def setup(self) -> None:
        assert self.ask(Cmd.HELLO, 0).cmd == Cmd.HELLO | REPLY
        conf = Configure(ARCH, 0, 0.05, init_weights=True, seed=3).encode()
        assert self.ask(Cmd.CONFIGURE, 1, conf).cmd == Cmd.CONFIGURE | REPLY
        self.ask(Cmd.METRICS, 2, encode_metrics(True))

    def seen(self, seq: int) -> int:
        return Metrics.decode(self.ask(Cmd.METRICS, seq, encode_metrics(False)).body).seen

    def weights(self, seq: int) -> bytes:
        return self.ask(Cmd.READ_WEIGHTS, seq, struct.pack("<IH", 0, 4000)).body[8:]


@pytest.fixture
def dut(elf) -> Iterator[Dut]:
    d = Dut(elf)
    try:
        d.setup()
        yield d
    finally:
        d.close()


def sample_body() -> bytes:
    x = np.random.default_rng(4).normal(size=(1, ARCH[0])).astype(np.float32)
    return encode_batch(x, np.array([2]))


def refused(frame: Frame) -> ErrorReply:
    assert frame.cmd == Cmd.ERROR, frame
    err = ErrorReply.decode(frame.body)
    assert err.code == ErrorCode.BAD_FRAGMENT and err.cmd == Cmd.FRAGMENT, err
    return err


def send_all(d: Dut, body: bytes, seq: int) -> tuple[list[Frame], int]:
    """Every piece in order from seq; the replies and the next seq."""
    replies, first = [], seq
    for off in range(0, len(body), PIECE):
        replies.append(d.piece(seq, body, off, min(len(body), off + PIECE), first=first))
        seq += 1
    return replies, seq


def test_pieces_run_the_command_once_and_answer_with_its_own_reply(elf, dut):
    body = sample_body()
    assert len(body) == 265
    replies, seq = send_all(dut, body, 3)
    for r, off in zip(replies[:-1], range(PIECE, len(body), PIECE), strict=True):
        assert r.cmd == Cmd.FRAGMENT | REPLY
        assert W.FRAGMENT_REPLY.decode(r.body) == {"received": off, "total": 265}
    last = replies[-1]
    assert last.cmd == Cmd.TRAIN | REPLY and last.seq == seq - 1
    assert struct.unpack_from("<H", last.body)[0] == 1  # one sample trained
    # the last piece sent again: the cached reply, byte for byte, nothing runs twice
    again = dut.piece(seq - 1, body, len(body) - len(body) % PIECE, len(body), first=3)
    assert again == last
    assert dut.seen(seq) == 1
    # the same sample whole, on a second device: the same weights
    other = Dut(elf)
    try:
        other.setup()
        assert other.ask(Cmd.TRAIN, 3, body).cmd == Cmd.TRAIN | REPLY
        assert other.weights(4) == dut.weights(seq + 1)
    finally:
        other.close()


def test_a_repeated_or_out_of_order_piece_is_refused_and_changes_nothing(dut):
    body = sample_body()
    assert dut.piece(3, body, 0, 30, first=3).cmd == Cmd.FRAGMENT | REPLY
    assert dut.piece(4, body, 30, 60, first=3).cmd == Cmd.FRAGMENT | REPLY
    # a piece already appended, under a new seq: not appended twice
    assert refused(dut.piece(5, body, 30, 60, first=3)).detail == 60
    # a gap, another reassembly's first seq, another command, another total
    assert refused(dut.piece(6, body, 90, 120, first=3)).detail == 60
    assert refused(dut.piece(7, body, 60, 90, first=4)).detail == 60
    assert refused(dut.piece(8, body, 60, 90, first=3, cmd=Cmd.EVALUATE)).detail == 60
    assert refused(dut.piece(9, body, 60, 90, first=3, total=266)).detail == 60
    # a piece running past the total
    assert refused(dut.ask(Cmd.FRAGMENT, 10, W.FRAGMENT.encode(
        cmd=Cmd.TRAIN, reserved=0, first_seq=3, total=265, offset=60, piece=bytes(206)))).detail == 60
    # none of that touched the reassembly: the rest completes it, and the sample trains once
    seq = 11
    for off in range(60, len(body), PIECE):
        reply = dut.piece(seq, body, off, min(len(body), off + PIECE), first=3)
        seq += 1
    assert reply.cmd == Cmd.TRAIN | REPLY
    assert dut.seen(seq) == 1


def test_another_command_discards_an_unfinished_reassembly(dut):
    body = sample_body()
    dut.piece(3, body, 0, 30, first=3)
    dut.piece(4, body, 30, 60, first=3)
    assert dut.seen(5) == 0
    assert refused(dut.piece(6, body, 60, 90, first=3)).detail == 0  # nothing held any more
    # a new reassembly from offset 0 is fine
    replies, seq = send_all(dut, body, 7)
    assert replies[-1].cmd == Cmd.TRAIN | REPLY and dut.seen(seq) == 1


def test_hello_reports_the_last_piece_and_ends_the_reassembly(dut):
    body = sample_body()
    dut.piece(3, body, 0, 30, first=3)
    dut.piece(4, body, 30, 60, first=3)
    hello = Hello.decode(dut.ask(Cmd.HELLO, 100).body)
    assert hello.last_seq == 4 and hello.frag_max == 16 + 1 + 4 * hello.max_inputs
    assert refused(dut.piece(101, body, 60, 90, first=3)).detail == 0
    assert dut.seen(102) == 0


def test_a_piece_too_big_or_of_a_command_that_cannot_go_in_pieces_is_refused(dut):
    frag_max = Hello.decode(dut.ask(Cmd.HELLO, 3).body).frag_max
    big = bytes(frag_max + 1)
    assert refused(dut.piece(4, big, 0, 30, first=4)).detail == 0
    body = sample_body()
    assert refused(dut.piece(5, body, 0, 30, first=5, cmd=Cmd.HELLO)).detail == 0
    assert refused(dut.piece(6, body, 0, 30, first=6, cmd=Cmd.FRAGMENT)).detail == 0
    assert refused(dut.piece(7, body, 0, 30, first=2)).detail == 0  # first_seq must be its own
    # an inner command's own refusal comes back as that command's error, once
    bad = encode_batch(np.zeros((1, 5), np.float32), np.array([0]))  # 5 features, model has 64
    replies, seq = send_all(dut, bad, 8)
    err = ErrorReply.decode(replies[-1].body)
    assert replies[-1].cmd == Cmd.ERROR and err.cmd == Cmd.TRAIN and err.code == ErrorCode.BAD_BATCH
    assert dut.seen(seq) == 0
