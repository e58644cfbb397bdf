"""The continual-learning codec (hil_service.continual_wire) sends and reads
exactly the shared vectors of protocol 4 (firmware_zephyr/protocol/test_vectors.txt)."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.continual_wire import (
    GrowReply,
    LoadReplayReply,
    ReplayHead,
    encode_configure_continual,
    encode_grow,
    replay_records,
)
from hil_service.protocol import PROTOCOL_VERSION, Configure, Quantization
from hil_service.reference.replay import ReplayMemory, replay_bytes

from .test_vectors import bodies


def body(name: str) -> bytes:
    (_, b, _), = bodies(name)
    return b


def test_protocol_version_is_5():
    assert PROTOCOL_VERSION == 5  # 4 brought continual learning, 5 FRAGMENT and pseudo labels


def test_configure_continual_is_the_plain_body_and_the_limits():
    plain = body("configure")
    assert encode_configure_continual(Configure.decode(plain), (64, 48, 12), 6500) == \
        body("configure_continual")
    assert body("configure_continual")[: len(plain)] == plain


def test_configure_continual_refuses_another_depth_on_the_host():
    with pytest.raises(ValueError, match="depth"):
        encode_configure_continual(Configure((64, 32, 10), 0, 0.05), (64, 32, 32, 10), 0)


def test_load_replay_chunk_is_the_vector():
    quant = Quantization(0.0625, -128)
    recs = bytes.fromhex("0280007f04ff0110")
    assert ReplayHead(12, 3, 2, quant).encode(5, recs) == body("load_replay")
    assert LoadReplayReply.decode(body("load_replay_reply")) == LoadReplayReply(7, False, 28)


def test_replay_records_pack_label_then_features_like_a_batch():
    x = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    recs = replay_records(x, np.array([3, 0]), None)
    assert recs.shape == (2, 9)
    assert recs[0].tobytes() == b"\x03" + x[0].astype("<f4").tobytes()
    quant = Quantization(0.0625, -128)
    q = replay_records(x, np.array([3, 0]), quant)
    assert q[1].tobytes() == b"\x00" + quant.quantize(x[1]).tobytes()
    assert recs.size == replay_bytes(2, 2, False) and q.size == replay_bytes(2, 2, True)
    with pytest.raises(ValueError, match="one byte"):
        replay_records(x, np.array([256, 0]), None)


def test_twin_memory_holds_what_the_device_decodes():
    quant = Quantization.for_range(0.0, 16.0)
    x = np.linspace(0, 16, 12, dtype=np.float32).reshape(3, 4)
    mem = ReplayMemory.build(x, np.array([0, 1, 2]), ratio=1, quant=quant)
    np.testing.assert_array_equal(mem.x, quant.dequantize(quant.quantize(x)))
    assert mem.nbytes == 3 * 5


def test_grow_is_the_vector():
    assert encode_grow((64, 48, 12), 9) == body("grow")
    assert GrowReply.decode(body("grow_reply")) == GrowReply(3708, 16000)
