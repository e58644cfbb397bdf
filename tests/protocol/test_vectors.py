"""The protocol's shared test vectors, read by the Python codec and by the C framing."""

from __future__ import annotations

import re
import subprocess

import pytest

from hil_service.firmware_build import FIRMWARE_DIR, build_dir
from hil_service.protocol import (
    PROTOCOL_VERSION,
    Frame,
    FrameDecoder,
    FrameError,
    Hello,
    TrainReply,
    cobs_decode,
    cobs_encode,
    parse_frame,
)

VECTORS = FIRMWARE_DIR / "protocol" / "test_vectors.txt"


def vectors(kind: str) -> list[list[str]]:
    rows = [line.split() for line in VECTORS.read_text().splitlines() if line and not line.startswith("#")]
    return [r[1:] for r in rows if r[0] == kind]


def unhex(s: str) -> bytes:
    return b"" if s == "-" else bytes.fromhex(s)


def test_vector_file_covers_every_kind():
    assert len(vectors("cobs")) >= 10 and len(vectors("frame")) >= 10 and len(vectors("bad")) >= 4


@pytest.mark.parametrize("raw, wire", vectors("cobs"))
def test_cobs_vectors(raw, wire):
    assert cobs_encode(unhex(raw)) == unhex(wire)
    assert cobs_decode(unhex(wire)[:-1]) == unhex(raw)


@pytest.mark.parametrize("cmd, flags, seq, body, wire", vectors("frame"))
def test_frame_vectors(cmd, flags, seq, body, wire):
    frame = Frame(int(cmd, 16), int(seq), unhex(body), int(flags, 16))
    assert frame.wire() == unhex(wire)
    assert FrameDecoder().feed(unhex(wire)) == [frame]


@pytest.mark.parametrize("error, wire", vectors("bad"))
def test_bad_vectors_are_dropped(error, wire):
    dec = FrameDecoder()
    assert dec.feed(unhex(wire)) == []
    assert dec.dropped == 1
    with pytest.raises(FrameError, match="CRC" if error == "BAD_CRC" else "COBS|shorter"):
        parse_frame(cobs_decode(unhex(wire)[:-1]))


def test_c_framing_agrees_with_the_vectors():
    proc = subprocess.run(["make", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir()}", "host-proto-test"],
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    passed, failed = map(int, re.search(r"(\d+) passed, (\d+) failed", out).groups())
    assert failed == 0 and passed >= 80


def _vector_body(cmd: str, flags: str) -> bytes:
    return unhex(next(r[3] for r in vectors("frame") if r[0] == cmd and r[1] == flags))


def test_hello_vector_speaks_this_protocol_version():
    assert Hello.decode(_vector_body("81", "00")).protocol_version == PROTOCOL_VERSION


def test_train_reply_vector_decodes_with_its_step_cycles():
    reply = TrainReply.decode(_vector_body("85", "00"))
    assert (reply.count, reply.trained, reply.skipped, reply.not_selected) == (3, 1, 1, 1)
    assert reply.loss_sum == 2.5 and reply.outcomes == (0, 1, 2)
    assert reply.step_cycles == (120_000, 0x2B00, 0xFF00FF01)
