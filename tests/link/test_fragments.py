"""Items in FRAGMENT pieces (protocol 5) against the firmware's sequencing and
reassembly in Python (tests/link/sim.py): a line too poor for one whole sample
still trains every sample once and in order, the sizes grow back to whole frames
on a clean line, and a give-up in the middle of a reassembly resumes without
training anything twice."""

from __future__ import annotations

import pytest

from hil_service.link import MIN_FRAME_WIRE, LinkError
from hil_service.protocol import Cmd
from hil_service.testing.faultproxy import FaultKind, FaultSpec

from .sim import SimDevice, samples
from .test_link import open_sim

FEATURES = 64  # a sample record of 257 bytes: a one-sample TRAIN frame of 276 wire bytes


def trains(sim: SimDevice) -> list[int]:
    """Seqs of the TRAIN commands the device ran (whole or reassembled)."""
    return [seq for cmd, seq in sim.executed if cmd == Cmd.TRAIN]


def pieces(sim: SimDevice) -> int:
    return sum(cmd == Cmd.FRAGMENT for cmd, _ in sim.executed)


# outages cost a timeout each: fewer samples keep that case short
@pytest.mark.parametrize("kind, n", [(FaultKind.OUTAGE, 8), (FaultKind.BITFLIP, 40),
                                     (FaultKind.GARBAGE, 40)])
def test_a_line_too_poor_for_one_sample_trains_every_sample_once_in_pieces(kind, n):
    spec = FaultSpec(kind, 1e-2, outage_s=0.005)
    sim = SimDevice(up=spec, down=spec, seed=5)
    dev = open_sim(sim)
    x, y = samples(n, FEATURES)
    dev.train(x, y, batch_size=16)
    assert sim.trained == list(range(n))  # each sample once, in order
    st = dev.link.stats
    assert st.fragments > 0 and st.fragmented > 0 and pieces(sim) > 0
    # the device ran TRAIN once per frame that carried samples: never for a lone piece
    assert len(trains(sim)) == len(set(trains(sim)))


def test_pieces_only_when_one_item_does_not_fit_and_whole_frames_again_on_a_clean_line():
    sim = SimDevice()
    dev = open_sim(sim)
    full = dev.link.frame_cap
    x, y = samples(32, FEATURES)
    dev.train(x, y, batch_size=16)
    assert pieces(sim) == 0 and dev.link.stats.fragments == 0  # a clean line: whole frames
    # the line at its worst: the link at its smallest size, below one sample's frame
    dev.link.frame_cap = MIN_FRAME_WIRE
    dev.link._clean_run = 0
    dev.train(x[:1], y[:1])
    assert pieces(sim) > 1 and sim.trained == list(range(32)) + [0]
    # clean from here on: the size doubles back and samples go whole again
    before = len(sim.executed)
    x2, y2 = samples(64, FEATURES)
    dev.train(x2, y2, batch_size=16)
    assert dev.link.frame_cap == full and dev.link.stats.grows > 0
    tail = sim.executed[before:][-4:]
    assert [cmd for cmd, _ in tail] == [Cmd.TRAIN] * 4
    assert sim.trained == list(range(32)) + [0] + list(range(64))


def test_a_device_without_reassembly_never_gets_a_piece():
    sim = SimDevice(frag_max=0)
    dev = open_sim(sim)
    dev.link.frame_cap = MIN_FRAME_WIRE
    x, y = samples(3, FEATURES)
    dev.train(x, y)
    assert pieces(sim) == 0 and sim.trained == [0, 1, 2]


def test_a_body_larger_than_the_device_reassembles_goes_whole():
    sim = SimDevice(frag_max=100)
    dev = open_sim(sim)
    dev.link.frame_cap = MIN_FRAME_WIRE
    x, y = samples(2, FEATURES)
    dev.train(x, y)
    assert pieces(sim) == 0 and sim.trained == [0, 1]


def test_a_give_up_inside_a_reassembly_resumes_without_repeats():
    sim = SimDevice()
    dev = open_sim(sim, budget=0.5)
    x, y = samples(6, FEATURES)
    dev.train(x[:2], y[:2])
    dev.link.frame_cap = MIN_FRAME_WIRE
    dev.link._clean_run = -10_000  # stay small: the pieces are the point here
    sim.mute = True  # the device hears and reassembles, the host hears nothing
    with pytest.raises(LinkError) as err:
        dev.train(x[2:], y[2:])
    gone = err.value.interrupted
    assert gone is not None and gone.acknowledged == 0
    ran = len(sim.trained) - 2
    sim.mute = False
    info = dev.resync()
    # pieces before an item's last apply nothing: applied counts whole samples only
    assert info.applied == ran
    assert sim.frag is None  # HELLO ended the unfinished reassembly
    dev.train(x[2 + ran :], y[2 + ran :])
    assert sim.trained == list(range(6))


def test_a_refused_piece_gives_up_loudly_instead_of_guessing():
    sim = SimDevice()
    dev = open_sim(sim)
    dev.link.frame_cap = MIN_FRAME_WIRE
    dev.link._clean_run = -10_000
    real = sim._fragment

    def forgetful(seq: int, body: bytes) -> None:
        real(seq, body)
        sim.frag = None  # a device that loses its reassembly after every piece

    sim._fragment = forgetful  # type: ignore[method-assign]
    x, y = samples(1, FEATURES)
    with pytest.raises(LinkError, match=r"TRAIN \(seq \d+\): the device refused piece \[30, 60\) "
                                        r"of 265 body bytes of item 0 \(FRAGMENT: BAD_FRAGMENT"):
        dev.train(x, y)
    assert sim.trained == []
