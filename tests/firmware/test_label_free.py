"""Pseudo labels (TRAIN_UNLABELLED, protocol 5) and L2-SP on real firmware: the
POSIX build over a pty and the mps2-an386 image in QEMU over a socket, compared
bit for bit with the numpy twin (docs/protocol.md "Label-free training",
docs/core.md "Pseudo labels", "L2-SP"); and the device's refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil_service import wire_gen as W
from hil_service.device import Device, DeviceError
from hil_service.protocol import CORE_STATUS, Cmd, Configure, ErrorCode, Quantization, encode_batch
from hil_service.reference import Arch, Mlp, ScoreKind, Strategy, TrainParams

from .conftest import greeted_dut

SAMPLES = 120


def status(name: str) -> int:
    return next(k for k, v in CORE_STATUS.items() if v == name)


@pytest.mark.parametrize("params", [
    TrainParams(Strategy.TINYPROP, learning_rate=0.05, pseudo_score=ScoreKind.LEAST_CONFIDENCE,
                pseudo_threshold=0.02, l2sp_lambda=0.05),
    TrainParams(Strategy.FULL, learning_rate=0.05, momentum=0.5, pseudo_score=ScoreKind.MARGIN,
                pseudo_threshold=0.97),
], ids=["tinyprop_least_confidence_l2sp", "full_momentum_margin"])
def test_unlabelled_train_matches_the_twin(dut, scenario, base_model, params):
    dev: Device = dut.device
    x = scenario.x_stream[:SAMPLES]
    dev.configure(base_model.arch, params)
    dev.load_weights(base_model.to_blob())
    summary = dev.train_unlabelled(x, batch_size=23)  # several frames, the last one short
    twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
    expected = twin.train_unlabelled(x)
    assert summary.pseudo_labels is not None and summary.pseudo_labels.dtype == np.int16
    np.testing.assert_array_equal(summary.pseudo_labels, expected)
    assert dev.read_weights() == twin.to_blob()
    used = int((expected >= 0).sum())
    assert 0 < used < SAMPLES  # the threshold split the stream
    assert summary.samples == SAMPLES and summary.lost_replies == 0
    assert summary.trained == used and summary.skipped == 0 and summary.not_selected == 0
    assert [o == 3 for o in summary.outcomes] == list(expected < 0)
    assert len(summary.step_cycles) == SAMPLES
    m = dev.metrics()
    assert m.seen == SAMPLES and m.trained == used
    # a pseudo label is the base's own prediction on the sample
    base_pred = base_model.predict(x)
    assert np.array_equal(expected[expected >= 0][:5], base_pred[expected >= 0][:5])


def test_unlabelled_train_int8_matches_the_twin(scenario, base_model):
    params = TrainParams(Strategy.LAST_LAYER, learning_rate=0.05, pseudo_score=ScoreKind.ENTROPY,
                         pseudo_threshold=0.05, l2sp_lambda=0.1)
    x = scenario.x_stream[:SAMPLES]
    quant = Quantization.for_range(float(x.min()), float(x.max()))
    with greeted_dut("native") as d:
        d.device.configure(base_model.arch, params)
        d.device.load_weights(base_model.to_blob())
        summary = d.device.train_unlabelled(x, quant=quant)
        twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
        expected = twin.train_unlabelled(quant.dequantize(quant.quantize(x)))
        np.testing.assert_array_equal(summary.pseudo_labels, expected)
        assert d.device.read_weights() == twin.to_blob()


@pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.name.lower())
def test_l2sp_training_matches_the_twin(dut, scenario, base_model, strategy):
    params = TrainParams(strategy, learning_rate=0.05, l2sp_lambda=0.05)
    dev: Device = dut.device
    x, y = scenario.x_stream[:80], scenario.y_stream[:80]
    needed = dev.configure(base_model.arch, params)
    plain = dev.configure(base_model.arch, dataclasses.replace(params, l2sp_lambda=0.0))
    sizes = base_model.arch.sizes
    per_layer = [sizes[i + 1] * (sizes[i] + 1) for i in range(len(sizes) - 1)]
    anchored = per_layer[-1:] if strategy in (Strategy.LAST_LAYER, Strategy.LAST_LAYER_Q8) else per_layer
    assert 4 * sum(anchored) <= needed - plain <= 4 * sum(anchored) + 7  # W0 counted
    assert dev.configure(base_model.arch, params) == needed
    assert dev.metrics().arena_needed == needed
    dev.load_weights(base_model.to_blob())
    dev.train(x, y)
    twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
    for xi, yi in zip(x, y, strict=True):
        twin.train_step(xi, int(yi))
    assert dev.read_weights() == twin.to_blob()
    # W0 is the last LOAD_WEIGHTS: load the trained weights and go on from them
    trained = twin.to_blob()
    dev.load_weights(trained)
    dev.train(scenario.x_stream[80:120], scenario.y_stream[80:120])
    again = Mlp.from_blob(trained, params, exact=True)
    for xi, yi in zip(scenario.x_stream[80:120], scenario.y_stream[80:120], strict=True):
        again.train_step(xi, int(yi))
    assert dev.read_weights() == again.to_blob()


def _configure_raw(dev: Device, arch: Arch, **overrides: float | int) -> None:
    """CONFIGURE with values the host's own checks would stop before the wire."""
    conf = Configure(arch.sizes, 0, 0.05)
    fields = W.CONFIGURE.decode(conf.encode())
    fields.update(overrides)
    dev._call(Cmd.CONFIGURE, W.CONFIGURE.encode(**fields))


@pytest.mark.parametrize("field, value, core_status", [
    ("pseudo_threshold", 1.5, "ODL_ERR_PARAM"),
    ("pseudo_threshold", -0.25, "ODL_ERR_PARAM"),
    ("l2sp_lambda", 1.25, "ODL_ERR_PARAM"),
    ("l2sp_lambda", float("inf"), "ODL_ERR_NONFINITE"),
    ("pseudo_score", 5, "ODL_ERR_STRATEGY"),
])
def test_device_refuses_out_of_range(dut, base_model, field, value, core_status):
    with pytest.raises(DeviceError) as err:
        _configure_raw(dut.device, base_model.arch, **{field: value})
    e = err.value.error
    assert e.code == ErrorCode.CORE and e.core_status == status(core_status)
    assert e.parameter == field
    assert not dut.device.metrics().configured


def test_device_refuses_an_arena_too_small_for_the_anchor(dut):
    dev: Device = dut.device
    assert dev.info is not None
    arena = dev.info.arena_size
    # a model whose weights fit the arena once but not twice (weights + W0)
    hidden = int(0.75 * arena / (4 * 1035))
    arch = Arch((1024, hidden, 10))
    dev.configure(arch, TrainParams(Strategy.FULL))
    with pytest.raises(DeviceError) as err:
        dev.configure(arch, TrainParams(Strategy.FULL, l2sp_lambda=0.01))
    assert err.value.error.core_status == status("ODL_ERR_ARENA_TOO_SMALL")
    # last_layer keeps W0 of the output layer only: that fits
    dev.configure(arch, TrainParams(Strategy.LAST_LAYER, l2sp_lambda=0.01))


def test_unlabelled_batch_checks(base_model):
    with greeted_dut("native") as d:
        dev = d.device
        x = np.zeros((2, 64), np.float32)
        with pytest.raises(DeviceError) as err:
            dev._call(Cmd.TRAIN_UNLABELLED, encode_batch(x, None))
        assert err.value.error.code == ErrorCode.NOT_CONFIGURED
        dev.configure(base_model.arch, TrainParams(Strategy.FULL))
        # labelled records are one byte too long each
        with pytest.raises(DeviceError) as err:
            dev._call(Cmd.TRAIN_UNLABELLED, encode_batch(x, np.array([1, 2])))
        assert err.value.error.code == ErrorCode.BAD_LENGTH
        bad = x.copy()
        bad[1, 3] = np.nan
        with pytest.raises(DeviceError) as err:
            dev._call(Cmd.TRAIN_UNLABELLED, encode_batch(bad, None))
        e = err.value.error
        assert e.code == ErrorCode.CORE and e.core_status == status("ODL_ERR_NONFINITE") and e.detail == 1
        assert dev.metrics().seen == 0  # a refused batch changes nothing


@pytest.mark.parametrize("board", ["qemu-an385", "qemu-an500"])
def test_l2sp_and_pseudo_labels_on_the_other_cores_match_the_twin(scenario, base_model, board):
    """Soft float (M3, the plain C loop) and the M7 (the VFP kernel) give the twin's bits too."""
    params = TrainParams(Strategy.FULL, learning_rate=0.05, l2sp_lambda=0.1,
                         pseudo_score=ScoreKind.RATIO, pseudo_threshold=0.05)
    x, y = scenario.x_stream[:30], scenario.y_stream[:30]
    with greeted_dut(board) as d:
        d.device.configure(base_model.arch, params)
        d.device.load_weights(base_model.to_blob())
        d.device.train(x, y)
        summary = d.device.train_unlabelled(scenario.x_stream[30:60])
        twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
        for xi, yi in zip(x, y, strict=True):
            twin.train_step(xi, int(yi))
        np.testing.assert_array_equal(summary.pseudo_labels, twin.train_unlabelled(scenario.x_stream[30:60]))
        assert d.device.read_weights() == twin.to_blob()


def test_unlabelled_train_with_replay_and_growth_room_matches_the_twin(scenario, base_model):
    """Replay steps (labelled, from the memory) follow each unlabelled sample as in
    TRAIN; the continual CONFIGURE carries the new parameters too."""
    from hil_service.reference.replay import ReplayMemory

    params = TrainParams(Strategy.FULL, learning_rate=0.05, pseudo_score=ScoreKind.MARGIN,
                         pseudo_threshold=0.9, l2sp_lambda=0.03)
    mem_x, mem_y = scenario.x_stream[200:230], scenario.y_stream[200:230]
    replay = ReplayMemory.build(mem_x, mem_y, ratio=2)
    x = scenario.x_stream[:60]
    with greeted_dut("native") as d:
        dev = d.device
        needed = dev.configure_continual(base_model.arch, params, max_arch=base_model.arch,
                                         replay_capacity=replay.nbytes)
        assert needed == dev.configure(base_model.arch, params) + replay.nbytes  # W0 counted in both
        dev.configure_continual(base_model.arch, params, max_arch=base_model.arch,
                                replay_capacity=replay.nbytes)
        dev.load_weights(base_model.to_blob())
        dev.load_replay(mem_x, mem_y, ratio=2)
        summary = dev.train_unlabelled(x)
        twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
        expected = []
        for xi in x:
            r = twin.train_step_unlabelled(xi)
            expected.append(r.predicted if r.outcome != 3 else -1)
            replay.steps(twin)
        np.testing.assert_array_equal(summary.pseudo_labels, expected)
        assert dev.read_weights() == twin.to_blob()
        assert dev.metrics().seen == len(x) * 3  # each sample and its two replay steps
