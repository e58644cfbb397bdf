"""TRAIN replies (protocol 2): outcomes, then per-sample step cycles."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil_service.protocol import (
    DEFAULT_MAX_BODY,
    TRAIN_HEAD_BYTES,
    TRAIN_SAMPLE_BYTES,
    FrameError,
    TrainReply,
)


def train_body(outcomes: list[int], cycles: list[int], loss: float = 1.25) -> bytes:
    head = struct.pack("<HHHHf", len(outcomes), outcomes.count(0), outcomes.count(1), outcomes.count(2), loss)
    return head + bytes(outcomes) + struct.pack(f"<{len(cycles)}I", *cycles)


def test_decodes_outcomes_and_step_cycles_in_sample_order():
    body = train_body([0, 2, 1, 0], [51_234, 9_001, 9_002, 2**32 - 1])
    assert len(body) == 12 + 5 * 4
    r = TrainReply.decode(body)
    assert (r.count, r.trained, r.skipped, r.not_selected, r.loss_sum) == (4, 2, 1, 1, 1.25)
    assert r.outcomes == (0, 2, 1, 0)
    assert r.step_cycles == (51_234, 9_001, 9_002, 2**32 - 1)


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**32 - 1)), min_size=1, max_size=300))
def test_round_trip(samples):
    outcomes, cycles = [s[0] for s in samples], [s[1] for s in samples]
    r = TrainReply.decode(train_body(outcomes, cycles))
    assert r.outcomes == tuple(outcomes) and r.step_cycles == tuple(cycles)


@pytest.mark.parametrize("cut", [1, 3, 4, 5])
def test_a_short_body_is_a_frame_error(cut):
    with pytest.raises(FrameError, match=r"expected 32"):
        TrainReply.decode(train_body([0, 0, 1, 2], [1, 2, 3, 4])[:-cut])


def test_a_long_body_is_a_frame_error():
    with pytest.raises(FrameError, match=r"23 bytes for 2 samples, expected 22"):
        TrainReply.decode(train_body([0, 0], [7, 8]) + b"\x00")


def test_a_protocol_1_reply_is_refused_not_misread():
    # version 1 ended after the outcomes: 12 + count bytes
    with pytest.raises(FrameError, match="for 3 samples"):
        TrainReply.decode(struct.pack("<HHHHf", 3, 3, 0, 0, 0.5) + bytes(3))


def test_a_body_shorter_than_the_head_is_a_frame_error():
    with pytest.raises(FrameError, match="shorter than its 12-byte head"):
        TrainReply.decode(b"\x01\x00\x01")
    assert issubclass(FrameError, ValueError)


def test_max_samples_fills_the_body_exactly_or_nearly():
    n = TrainReply.max_samples(DEFAULT_MAX_BODY)
    assert n == 1636
    assert TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * n <= DEFAULT_MAX_BODY
    assert TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * (n + 1) > DEFAULT_MAX_BODY
