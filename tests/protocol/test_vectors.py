"""The protocol's shared test vectors, read by the Python codec and by the C framing and bodies."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import numpy as np
import pytest

from hil_service import wire_gen as W
from hil_service.firmware_build import FIRMWARE_DIR, build_dir
from hil_service.protocol import (
    PROTOCOL_VERSION,
    Cmd,
    Configure,
    ConfigureReply,
    ErrorReply,
    Frame,
    FrameDecoder,
    FrameError,
    Hello,
    LoadWeightsReply,
    Metrics,
    Predictions,
    Quantization,
    ReadWeightsReply,
    TrainReply,
    cobs_decode,
    cobs_encode,
    encode_batch,
    encode_load_weights,
    encode_metrics,
    encode_read_weights,
    encode_reset,
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
    # 290 checks today: the body vectors alone add ~150, so a C test that skips them fails here
    assert failed == 0 and passed >= 250


def _vector_body(cmd: str, flags: str) -> bytes:
    return unhex(next(r[3] for r in vectors("frame") if r[0] == cmd and r[1] == flags))


def test_hello_vector_speaks_this_protocol_version():
    assert Hello.decode(_vector_body("81", "00")).protocol_version == PROTOCOL_VERSION


def test_train_reply_vector_decodes_with_its_step_cycles():
    reply = TrainReply.decode(_vector_body("85", "00"))
    assert (reply.count, reply.trained, reply.skipped, reply.not_selected) == (3, 1, 1, 1)
    assert reply.loss_sum == 2.5 and reply.outcomes == (0, 1, 2)
    assert reply.step_cycles == (120_000, 0x2B00, 0xFF00FF01)


# --- message bodies --------------------------------------------------------------

def bodies(name: str | None = None) -> list[tuple[str, bytes, dict[str, str]]]:
    out = []
    for row in vectors("body"):
        fields = dict(tok.split("=", 1) for tok in row[2:])
        if name is None or row[0] == name:
            out.append((row[0], unhex(row[1]), fields))
    return out


def test_every_message_of_the_table_has_a_body_vector():
    assert {name for name, _, _ in bodies()} == set(W.MESSAGES)


def _expected(text: str, current: Any) -> Any:
    if text.startswith("0x"):
        return bytes.fromhex(text[2:])
    if isinstance(current, tuple):
        return tuple(int(v) for v in text.split(","))
    if isinstance(current, float):
        return float(np.float32(text))
    if isinstance(current, str):
        return text
    return int(text)


def _lookup(decoded: dict[str, Any], path: str) -> Any:
    value: Any = decoded
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else value[part]
    return value


@pytest.mark.parametrize("name, body, fields", bodies(), ids=lambda v: v if isinstance(v, str) else "")
def test_body_vector_decodes_to_its_listed_fields(name, body, fields):
    msg = W.MESSAGES[name]
    decoded = msg.decode(body)
    for path, text in fields.items():
        got = _lookup(decoded, path)
        assert got == _expected(text, got), path
    assert msg.encode(**decoded) == body
    if msg.fixed:
        assert len(body) == msg.head_bytes
        with pytest.raises(FrameError):
            msg.decode(body + b"\x00")
    if body and msg.fields[-1].type != "blob":  # a blob takes any rest
        with pytest.raises(FrameError):
            msg.decode(body[:-1])


def test_hello_reply_vectors_carry_last_seq():
    (_, with_seq, _), (_, fresh, _) = bodies("hello_reply")
    hello = Hello.decode(with_seq)
    assert (hello.protocol_version, hello.board, hello.device_id) == (PROTOCOL_VERSION, "mps2_an386",
                                                                      b"\x01\x02")
    assert (hello.rx_capacity, hello.cycles_hz, hello.last_seq) == (16384, 25_000_000, 41)
    assert Hello.decode(fresh).last_seq is None
    assert hello.encode() == with_seq and Hello.decode(fresh).encode() == fresh


def test_a_hello_of_protocol_2_still_names_its_version():
    _, v5, _ = bodies("hello_reply")[0]
    old = Hello.decode(b"\x02" + v5[1:-5])  # without last_seq, last_seq_valid, frag_max
    assert old.protocol_version == 2 and old.board == "mps2_an386" and old.last_seq is None
    assert old.frag_max == 0  # a device before protocol 5 reassembles nothing
    newer = Hello.decode(b"\x06" + v5[1:] + b"\x01\x02\x03")  # whatever a later version appends
    assert newer.protocol_version == 6 and newer.device_id == b"\x01\x02"


def test_configure_vector_is_what_the_codec_sends():
    (_, body, _), = bodies("configure")
    conf = Configure((64, 32, 10), 2, 0.05, momentum=0.25, s_min=0.1, s_max=0.9, zeta=0.5,
                     gate_threshold=0.25, select_score=4, select_threshold=0.125, init_weights=True, seed=7,
                     pseudo_score=2, pseudo_threshold=0.75, l2sp_lambda=0.0625)
    assert conf.encode() == body
    assert Configure.decode(body).encode() == body


def test_request_vectors_are_what_the_codec_sends():
    (_, load, f), = bodies("load_weights")
    assert encode_load_weights(0, 9668, bytes.fromhex(f["chunk"][2:])) == load
    (_, read, _), = bodies("read_weights")
    assert encode_read_weights(8184, 8184) == read
    assert encode_metrics(True) == bodies("metrics")[0][1]
    assert encode_reset(False) == bodies("reset")[0][1]
    assert bodies("hello")[0][1] == b"" and bodies("reset_reply")[0][1] == b""


def test_batch_vectors_are_what_the_codec_sends():
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.25, -0.125]], np.float32)
    assert encode_batch(x, np.array([1, 0])) == bodies("batch")[0][1]
    quant = Quantization(0.0625, -128)
    q = np.array([[-128, 0, 127], [-1, 1, 16]])
    xq = quant.dequantize(q.astype(np.int8))
    assert encode_batch(xq, np.array([1, 2]), quant) == bodies("batch_quant")[0][1]


def test_reply_vectors_decode_with_the_codec():
    assert ConfigureReply.decode(bodies("configure_reply")[0][1]) == ConfigureReply(11520, 131072)
    assert LoadWeightsReply.decode(bodies("load_weights_reply")[0][1]) == LoadWeightsReply(8184, False)
    rw = ReadWeightsReply.decode(bodies("read_weights_reply")[0][1])
    assert (rw.total, rw.offset, rw.chunk) == (9668, 8184, bytes.fromhex("0000803f000000c0"))
    tr = TrainReply.decode(bodies("train_reply")[0][1])
    assert tr.outcomes == (0, 1, 2) and tr.step_cycles == (120_000, 0x2B00, 0xFF00FF01)
    inf = Predictions.decode(bodies("infer_reply")[0][1], labelled=False)
    assert inf.predicted.tolist() == [7, 0] and inf.score.tolist() == [0.5, 0.875] and inf.correct is None
    ev = Predictions.decode(bodies("evaluate_reply")[0][1], labelled=True)
    assert (ev.correct, ev.loss_sum, ev.p1.tolist()) == (1, 0.25, [0.75])
    with pytest.raises(FrameError):
        Predictions.decode(bodies("evaluate_reply")[0][1][:-1], labelled=True)


def test_metrics_vector_decodes_with_the_codec():
    m = Metrics.decode(bodies("metrics_reply")[0][1])
    assert (m.forward.count, m.forward.sum, m.backward.max, m.update.sum) == (100, 110_000, 3000, 16_000)
    assert (m.seen, m.selected, m.trained, m.skipped, m.n_layers, m.configured) == (100, 60, 40, 20, 2, True)
    assert (m.k_sum, m.k_min, m.k_max) == ((1280, 400), (8, 10), (32, 10))
    assert (m.arena_peak, m.frames_ok, m.frames_duplicate, m.cycles_hz) == (11600, 205, 3, 25_000_000)


def test_error_vector_names_the_refused_parameter():
    err = ErrorReply.decode(bodies("error")[0][1])
    assert (err.code, err.cmd, err.core_status, err.expected_seq) == (8, Cmd.CONFIGURE, -6, 12)
    assert err.parameter == "gate_threshold" == list(W.PARAMS)[err.detail - 1]
    assert err.describe() == "CONFIGURE: CORE ODL_ERR_PARAM (parameter gate_threshold)"
