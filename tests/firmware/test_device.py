"""End to end: HELLO, load a base pretrained by the numpy twin, train with each
strategy on the device, evaluate, read metrics; compared with the twin.

Tolerance: device and twin do the same float32 operations in the same order
(docs/core.md), so weights agree within 1e-5 and accuracies within one test
sample (a prediction whose top two probabilities differ by less than the
rounding can flip).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from hil_service.device import Device
from hil_service.protocol import PROTOCOL_VERSION, Quantization
from hil_service.reference import Mlp, ScoreKind, StepOutcome, Strategy, TrainParams

from .conftest import QEMU_MACHINES, start_dut

STREAM = 200

STRATEGIES = {
    "full": TrainParams(Strategy.FULL, learning_rate=0.05),
    "last_layer": TrainParams(Strategy.LAST_LAYER, learning_rate=0.05),
    "tinyprop": TrainParams(Strategy.TINYPROP, learning_rate=0.05),
    "last_layer_q8": TrainParams(Strategy.LAST_LAYER_Q8, learning_rate=0.05),
    "tinyprop_gated_selected": TrainParams(Strategy.TINYPROP, learning_rate=0.05, gate_threshold=0.05,
                                           select_score=ScoreKind.MARGIN, select_threshold=0.9),
}


def twin_after(base: Mlp, params: TrainParams, x, y) -> tuple[Mlp, list]:
    twin = Mlp.from_blob(base.to_blob(), params, exact=True)
    return twin, [twin.train_step(xi, int(yi)) for xi, yi in zip(x, y, strict=False)]


def test_hello_describes_the_device(dut):
    info = dut.device.info
    assert info.protocol_version == PROTOCOL_VERSION
    assert info.board == ("native_posix" if dut.name == "native" else "mps2_an386")
    assert info.cycles_hz == (1_000_000_000 if dut.name == "native" else 25_000_000)
    assert info.max_body == 8192 and info.rx_capacity >= 4096
    assert info.arena_size == 131072 and info.max_layers == 4
    assert info.strategies_mask == 0b1111 and info.scores_mask == 0b11111
    head = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                          capture_output=True, text=True).stdout.strip()
    assert info.git_hash == head


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_end_to_end_matches_the_twin(dut, scenario, base_model, name):
    params = STRATEGIES[name]
    dev: Device = dut.device
    x, y = scenario.x_stream[:STREAM], scenario.y_stream[:STREAM]
    needed = dev.configure(base_model.arch, params)
    dev.load_weights(base_model.to_blob())
    assert dev.read_weights() == base_model.to_blob()
    before = dev.evaluate(scenario.x_test, scenario.y_test)
    assert before.accuracy == pytest.approx(base_model.accuracy(scenario.x_test, scenario.y_test), abs=1 / 450)

    seen = []
    summary = dev.train(x, y, batch_size=16, progress=lambda done, total: seen.append(done))
    assert seen[-1] == STREAM and seen == sorted(seen)
    twin, steps = twin_after(base_model, params, x, y)
    outcomes = [s.outcome for s in steps]
    assert summary.trained == outcomes.count(StepOutcome.TRAINED)
    assert summary.skipped == outcomes.count(StepOutcome.SKIPPED)
    assert summary.not_selected == outcomes.count(StepOutcome.NOT_SELECTED)
    assert summary.lost_replies == 0

    after = dev.evaluate(scenario.x_test, scenario.y_test)
    assert abs(after.accuracy - twin.accuracy(scenario.x_test, scenario.y_test)) <= 1 / 450
    device_params = Mlp.from_blob(dev.read_weights()).get_params()
    np.testing.assert_allclose(device_params, twin.get_params(), rtol=1e-5, atol=1e-5)

    m = dev.metrics()
    assert m.seen == STREAM and m.trained == summary.trained
    assert m.forward.count >= STREAM and m.forward.min > 0
    if summary.trained:
        assert m.backward.min > 0 and m.update.min > 0
        assert m.backward.max >= m.backward.min
        twin_k = np.array([s.k for s in steps if s.outcome == StepOutcome.TRAINED])
        assert m.k_sum == tuple(int(v) for v in twin_k.sum(axis=0))
    assert m.macs_backward == sum(s.macs_backward for s in steps)
    assert 0 < m.arena_peak <= m.arena_needed <= m.arena_size
    assert m.arena_needed == needed
    assert 0 < m.stack_high_water < m.stack_size
    assert m.rx_overruns == 0 and m.frames_bad == 0
    if params.strategy == Strategy.TINYPROP:
        assert m.macs_backward < 0.5 * m.macs_backward_full


def test_int8_samples_train_as_the_twin_dequantises_them(dut, scenario, base_model):
    params = STRATEGIES["full"]
    q = Quantization.for_range(0.0, 1.0)
    x, y = scenario.x_stream[:64], scenario.y_stream[:64]
    dut.device.configure(base_model.arch, params)
    dut.device.load_weights(base_model.to_blob())
    dut.device.train(x, y, quant=q)
    twin, _ = twin_after(base_model, params, q.dequantize(q.quantize(x)), y)
    np.testing.assert_allclose(Mlp.from_blob(dut.device.read_weights()).get_params(), twin.get_params(),
                               rtol=1e-5, atol=1e-5)
    pred = dut.device.infer(scenario.x_test[:40], quant=q, score_kind=ScoreKind.ENTROPY)
    twin_probs = twin.predict_proba(q.dequantize(q.quantize(scenario.x_test[:40])))
    np.testing.assert_array_equal(pred.predicted, twin_probs.argmax(axis=1))
    np.testing.assert_allclose(pred.p1, twin_probs.max(axis=1), rtol=1e-5, atol=1e-6)


def test_weights_drawn_on_the_device_equal_the_twins(dut, base_model):
    dut.device.configure(base_model.arch, STRATEGIES["full"], seed=1234)
    assert dut.device.read_weights() == Mlp(base_model.arch).init_weights(1234).to_blob()


def test_reset_returns_to_the_state_after_boot(dut, base_model):
    dut.device.configure(base_model.arch, STRATEGIES["full"], seed=1)
    assert dut.device.metrics().configured
    dut.device.reset()
    m = dut.device.metrics()
    assert not m.configured and m.seen == 0


@pytest.mark.parametrize("board", ["an385", "an500"])
def test_other_cortex_m_boards_train_like_the_twin(board, scenario, base_model):
    d = start_dut(f"qemu-{board}")
    try:
        info = d.device.hello()
        assert info.board == f"mps2_{board}" and QEMU_MACHINES[board] == f"mps2-{board}"
        params = STRATEGIES["tinyprop"]
        d.device.configure(base_model.arch, params)
        d.device.load_weights(base_model.to_blob())
        d.device.train(scenario.x_stream[:48], scenario.y_stream[:48])
        twin, _ = twin_after(base_model, params, scenario.x_stream[:48], scenario.y_stream[:48])
        np.testing.assert_allclose(Mlp.from_blob(d.device.read_weights()).get_params(), twin.get_params(),
                                   rtol=1e-5, atol=1e-5)
    finally:
        d.device.close()
        d.target.close()
