"""The training curve's raw material on the real firmware (QEMU mps2-an386 and native): each
TRAIN reply's loss sum and its count of samples predicted right before the update (the
outcome byte's bit 7), checked against the bit-exact numpy twin."""

from __future__ import annotations

import struct

import pytest

from hil_service.protocol import TRAIN_HEAD_BYTES, TRAIN_OUTCOME_CORRECT, TrainReply
from hil_service.reference import Mlp, ScoreKind, Strategy, TrainParams
from hil_service.train_curve import train_curve
from tests.firmware.conftest import base_model, dut, scenario  # noqa: F401  (fixtures)

FULL = TrainParams(Strategy.FULL, learning_rate=0.05)
GATED = TrainParams(Strategy.TINYPROP, learning_rate=0.05, gate_threshold=0.05,
                    select_score=ScoreKind.MARGIN, select_threshold=0.9)
N = 50  # in replies of at most 16 samples (the link may cut them smaller)


def test_the_correct_bit_is_decoded_apart_from_the_outcome() -> None:
    outcomes = [0 | TRAIN_OUTCOME_CORRECT, 1, 2 | TRAIN_OUTCOME_CORRECT, 0]
    body = (struct.pack("<HHHHf", 4, 2, 1, 1, 3.5) + bytes(outcomes) + struct.pack("<4I", 1, 2, 3, 4))
    assert len(body) == TRAIN_HEAD_BYTES + 5 * 4
    r = TrainReply.decode(body)
    assert r.outcomes == (0, 1, 2, 0) and r.correct == 2 and r.loss_sum == 3.5


@pytest.mark.parametrize("params", [FULL, GATED], ids=["full", "tinyprop_gated_selected"])
def test_train_replies_carry_the_twins_prequential_hits_and_losses(dut, scenario, base_model,  # noqa: F811
                                                                   params: TrainParams) -> None:
    x, y = scenario.x_stream[:N], scenario.y_stream[:N]
    dev = dut.device
    dev.configure(base_model.arch, params)
    dev.load_weights(base_model.to_blob())
    summary = dev.train(x, y, batch_size=16)
    assert summary.lost_replies == 0
    sizes = [n for n, _, _ in summary.batches]
    assert sum(sizes) == N and max(sizes) <= 16 and len(sizes) >= 4

    twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
    steps = [twin.train_step(xi, int(yi)) for xi, yi in zip(x, y, strict=True)]
    hits = [int(s.predicted == int(yi)) for s, yi in zip(steps, y, strict=True)]
    lo = 0
    for n, correct, loss_sum in summary.batches:
        assert correct == sum(hits[lo:lo + n])  # skipped and not selected samples count too
        assert loss_sum == pytest.approx(sum(s.loss for s in steps[lo:lo + n]), rel=1e-5)
        lo += n
    assert 0 < sum(hits) < N  # the base model is neither useless nor perfect on the shifted stream

    curve = train_curve([summary])
    assert curve is not None and curve["samples"] == [sum(sizes[:i + 1]) for i in range(len(sizes))]
    assert curve["accuracy"][-1] == round(sum(hits) / N, 5)
    assert curve["loss"][0] == pytest.approx(sum(s.loss for s in steps[:sizes[0]]) / sizes[0], abs=6e-6)  # 5 decimals
