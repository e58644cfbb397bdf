"""Property-based round trips of the Python codec."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hil_service.protocol import (
    Configure,
    Frame,
    FrameDecoder,
    Quantization,
    cobs_decode,
    cobs_encode,
    encode_batch,
)

frames = st.builds(Frame, cmd=st.integers(0, 255), seq=st.integers(0, 0xFFFF),
                   body=st.binary(max_size=2000), flags=st.integers(0, 255))


@given(st.binary(max_size=3000))
def test_cobs_round_trip_has_no_zero_inside(data):
    enc = cobs_encode(data)
    assert enc.endswith(b"\x00") and b"\x00" not in enc[:-1]
    assert len(enc) <= len(data) + len(data) // 254 + 2
    assert cobs_decode(enc[:-1]) == data


@given(st.lists(frames, min_size=1, max_size=5), st.integers(1, 64))
def test_frames_survive_any_chunking(batch, chunk):
    wire = b"".join(f.wire() for f in batch)
    dec = FrameDecoder()
    out = []
    for i in range(0, len(wire), chunk):
        out += dec.feed(wire[i : i + chunk])
    assert out == batch


@settings(max_examples=200)
@given(garbage=st.binary(max_size=300), frame=frames)
def test_decoder_resynchronises_after_garbage(garbage, frame):
    # garbage then a delimiter: whatever the garbage was, the next frame is read
    out = FrameDecoder().feed(garbage + b"\x00" + frame.wire())
    assert out[-1] == frame


@given(frame=frames, pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_a_flipped_bit_never_yields_a_wrong_frame(frame, pos, bit):
    wire = bytearray(frame.wire())
    pos %= len(wire)
    wire[pos] ^= 1 << bit
    # a flip may split the frame or spoil it, but CRC-32 lets nothing altered through
    assert all(f == frame for f in FrameDecoder().feed(bytes(wire)))


@given(st.integers(1, 20), st.integers(1, 40), st.booleans())
def test_int8_quantisation_is_what_the_device_computes(count, features, labelled):
    rng = np.random.default_rng(count * 100 + features)
    x = rng.uniform(0, 1, size=(count, features)).astype(np.float32)
    q = Quantization.for_range(0.0, 1.0)
    deq = q.dequantize(q.quantize(x))
    assert np.abs(deq - x).max() <= q.scale / 2 + 1e-6
    body = encode_batch(x, rng.integers(0, 10, count) if labelled else None, q)
    assert len(body) == 16 + count * (features + int(labelled))


@given(st.lists(st.integers(1, 256), min_size=2, max_size=5), st.integers(0, 2), st.floats(1e-4, 1.0))
def test_configure_body_is_fixed_size(sizes, strategy, lr):
    assert len(Configure(tuple(sizes), strategy, lr).encode()) == 60  # protocol 5
