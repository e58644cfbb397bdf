"""The link against the firmware's sequencing in Python (tests/link/sim.py):
exactly once under every byte fault, true window accounting, frames that
shrink and grow, a bounded give-up and a resume after it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hil_service.device import Device
from hil_service.link import Link, LinkError, wire_bytes
from hil_service.protocol import Cmd
from hil_service.testing.faultproxy import FaultKind, FaultSpec

from .sim import SimDevice, raw_frame, samples


def open_sim(sim: SimDevice, **link: float) -> Device:
    dev = Device(Link(sim, timeout=2.0, **link))  # type: ignore[arg-type]
    dev.hello()
    return dev


def test_a_clean_line_needs_no_recovery():
    sim = SimDevice()
    dev = open_sim(sim)
    x, y = samples(200)
    summary = dev.train(x, y, batch_size=16)
    assert sim.trained == list(range(200)) and summary.trained == 200
    assert dev.link.stats.syncs == 0 and dev.link.stats.resent == 0 and sim.frames_bad == 0


def test_a_ring_as_large_as_max_body_never_overflows():
    # issue 10 cause 2: the stm32f4 Zephyr build reports max_body 8192 and an
    # 8192-byte ring; a full-body frame (8234 wire bytes) overflowed it
    sim = SimDevice(rx_capacity=8192, max_body=8192)
    dev = open_sim(sim)
    assert dev.max_body == 8192 and wire_bytes(dev.link.max_body) <= 8192
    blob = bytes(np.random.default_rng(1).integers(0, 256, 40_000, dtype=np.uint8))
    dev.load_weights(blob)
    assert bytes(sim.blob) == blob and dev.read_weights() == blob
    assert sim.overruns == 0 and sim.max_ring <= 8192 and sim.frames_bad == 0
    x, y = samples(300)
    dev.train(x, y, batch_size=64)
    assert sim.trained == list(range(300)) and sim.overruns == 0


@pytest.mark.parametrize("kind", [FaultKind.BITFLIP, FaultKind.DROP, FaultKind.DUPLICATE,
                                  FaultKind.GARBAGE])
def test_every_byte_fault_at_1e2_both_ways_loses_nothing_and_repeats_nothing(kind):
    spec = FaultSpec(kind, 1e-2)
    sim = SimDevice(up=spec, down=spec, seed=7)
    dev = open_sim(sim)
    blob = bytes(range(256)) * 12
    dev.load_weights(blob)
    x, y = samples(80)
    summary = dev.train(x, y, batch_size=16)
    assert bytes(sim.blob) == blob and dev.read_weights() == blob
    assert sim.trained == list(range(80))  # each sample once, in order
    assert summary.trained + sum(1 for _ in range(summary.lost_replies)) >= 1
    assert sim.up.tally.total > 0 and sim.down.tally.total > 0
    st = dev.link.stats
    assert st.syncs > 0 and st.shrinks > 0
    if kind in (FaultKind.BITFLIP, FaultKind.DROP):
        assert sim.overruns == 0  # the window held whatever the line did


class CorruptOnce:
    """A clean port that spoils one byte of the n-th write."""

    def __init__(self, sim: SimDevice, nth: int) -> None:
        self.sim, self.nth, self.writes = sim, nth, 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes == self.nth:
            data = data[:5] + bytes([data[5] ^ 0x10]) + data[6:]
        return self.sim.write(data)

    def read(self, size: int = 1) -> bytes:
        return self.sim.read(size)

    @property
    def in_waiting(self) -> int:
        return self.sim.in_waiting

    def close(self) -> None:
        pass


def test_echoes_of_superseded_frames_do_not_use_up_the_budget():
    # one damaged frame with several behind it in the window: the device
    # answers BAD_CRC, then SEQ_GAP for each one behind. One resend round,
    # not one failure per echo: with retries=0 the old link gave up here.
    sim = SimDevice()
    port = CorruptOnce(sim, nth=3)  # HELLO, then the first TRAIN frames
    dev = Device(Link(port, timeout=2.0, retries=1))  # type: ignore[arg-type]
    dev.hello()
    x, y = samples(128)
    dev.train(x, y, batch_size=16)
    assert sim.trained == list(range(128))
    st = dev.link.stats
    # the echoes came (SEQ_GAP for each frame behind) but made no further rounds
    assert st.errors.get("bad_crc") == 1 and st.errors.get("seq_gap", 0) > 0
    assert st.resent == st.errors["seq_gap"] + 1  # the spoilt frame and those behind it, once
    assert sim.max_ring <= dev.link.rx_window


def test_frames_shrink_on_a_noisy_line_and_grow_back_on_a_clean_one():
    sim = SimDevice(up=FaultSpec(FaultKind.BITFLIP, 3e-3), seed=3)
    dev = open_sim(sim)
    full = dev.link.frame_cap
    x, y = samples(160)
    dev.train(x, y, batch_size=16)
    assert dev.link.stats.shrinks > 0
    sim.up.spec = None
    x2, y2 = samples(480)
    dev.train(x2, y2, batch_size=16)
    assert dev.link.frame_cap == full and dev.link.stats.grows > 0
    assert sim.trained == list(range(160)) + list(range(480))


class Junk:
    """A device that answers every byte with frames that fit nothing."""

    def __init__(self) -> None:
        self.seq = 0

    def write(self, data: bytes) -> int:
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self.seq += 1
        time.sleep(0.005)
        return raw_frame(Cmd.METRICS | 0x80, 0x4000 + self.seq % 100, b"junk")

    @property
    def in_waiting(self) -> int:
        return 1

    def close(self) -> None:
        pass


def test_a_stream_of_junk_does_not_hold_the_link():
    link = Link(Junk(), timeout=0.3, budget=1.0)  # type: ignore[arg-type]
    start = time.monotonic()
    with pytest.raises(LinkError, match=r"HELLO .*no progress"):
        link.request(Cmd.HELLO)
    assert time.monotonic() - start < 3.0


def test_after_a_give_up_resync_says_what_ran_and_the_stream_resumes_without_repeats():
    sim = SimDevice()
    dev = open_sim(sim, budget=0.5)
    x, y = samples(96)
    dev.train(x[:16], y[:16], batch_size=8)
    sim.mute = True  # the device hears and trains, the host hears nothing
    with pytest.raises(LinkError) as err:
        dev.train(x[16:], y[16:], batch_size=8)
    gone = err.value.interrupted
    assert gone is not None and gone.cmd == Cmd.TRAIN and gone.acknowledged == 0
    assert "may have run up to" in str(err.value) and "resync" in str(err.value)
    ran = len(sim.trained) - 16
    assert 0 < ran <= gone.applied_at_most
    sim.mute = False
    info = dev.resync()
    assert info.interrupted == "TRAIN" and info.applied == ran
    assert info.last_seq is not None and info.expected_seq == (info.last_seq + 1) & 0xFFFF
    rest_x, rest_y = x[16:], y[16:]
    dev.train(rest_x[info.applied :], rest_y[info.applied :], batch_size=8)
    assert sim.trained == list(range(96))


def test_a_marker_never_reuses_the_seq_of_one_still_unanswered():
    # the marker's seq is base + 0x8000 - count: when the oldest frame and the
    # count both move on by one, the formula repeats the seq of the marker
    # before. Its late answer (sent before the frames framed since) then passed
    # for the new marker's, and the link framed anew frames that had run (seen
    # at 1e-2 garbage, duplicated, dropped bytes and bit flips with small frames).
    link = Link(SimDevice(), timeout=2.0)  # type: ignore[arg-type]
    first = link._marker(100)
    second = link._marker(101)
    assert second != first
    assert len({s.seq for s in link._pipe}) == 2
