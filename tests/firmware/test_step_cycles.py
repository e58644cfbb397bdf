"""Per-sample step cycles in TRAIN replies (protocol 2), on the real firmware.

A sample's step_cycles is cycles_forward + cycles_backward + cycles_update of
its training step, the same three values odl_train_step adds to the METRICS
cycle statistics (forward for every sample, backward and update only for a
trained one). So, with no INFER or EVALUATE since the metrics reset (each adds
forward passes of its own) and no reply lost, the sum over the replies equals
forward.sum + backward.sum + update.sum exactly, not merely approximately.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hil_service.device import Device, DeviceError
from hil_service.protocol import Cmd, ErrorCode, Quantization, TrainReply, encode_batch
from hil_service.reference import Arch, Mlp, ScoreKind, StepOutcome, Strategy, TrainParams

FULL = TrainParams(Strategy.FULL, learning_rate=0.05)
GATED = TrainParams(Strategy.TINYPROP, learning_rate=0.05, gate_threshold=0.05,
                    select_score=ScoreKind.MARGIN, select_threshold=0.9)
N = 50  # three full batches of 16 and a partial one


def trained_from_base(dev: Device, base: Mlp, params: TrainParams, x, y):
    """One frame of 16 at a time, each answered before the next is sent: bytes arriving
    while the device computes would add the UART interrupt's instructions to that step."""
    dev.configure(base.arch, params)
    dev.load_weights(base.to_blob())
    dev.metrics(reset=True)
    parts = [dev.train(x[lo:lo + 16], y[lo:lo + 16], batch_size=16) for lo in range(0, len(x), 16)]
    summary = replace(parts[0], samples=sum(p.samples for p in parts),
                      trained=sum(p.trained for p in parts),
                      lost_replies=sum(p.lost_replies for p in parts),
                      step_cycles=tuple(c for p in parts for c in p.step_cycles))
    return summary, dev.metrics()


@pytest.mark.parametrize("params", [FULL, GATED], ids=["full", "tinyprop_gated_selected"])
def test_step_cycles_sum_to_the_metrics_cycle_sums(dut, scenario, base_model, params):
    x, y = scenario.x_stream[:N], scenario.y_stream[:N]
    summary, m = trained_from_base(dut.device, base_model, params, x, y)

    assert summary.lost_replies == 0
    assert len(summary.step_cycles) == N
    assert m.forward.count == N and m.backward.count == m.update.count == summary.trained
    assert sum(summary.step_cycles) == m.forward.sum + m.backward.sum + m.update.sum
    if dut.name != "native":
        # SysTick under QEMU -icount: every step takes instructions, so ticks
        assert min(summary.step_cycles) > 0
        assert min(summary.step_cycles) >= m.forward.min

    if params is GATED:
        # samples not trained carry their forward pass alone; which ones they
        # are comes from the twin, as the device's outcomes match it
        twin = Mlp.from_blob(base_model.to_blob(), params, exact=True)
        outcomes = [twin.train_step(xi, int(yi)).outcome for xi, yi in zip(x, y, strict=False)]
        assert 0 < summary.trained < N
        idle = [c for c, o in zip(summary.step_cycles, outcomes, strict=False) if o != StepOutcome.TRAINED]
        busy = [c for c, o in zip(summary.step_cycles, outcomes, strict=False) if o == StepOutcome.TRAINED]
        assert len(busy) == summary.trained
        assert sum(idle) + sum(busy) == sum(summary.step_cycles)
        if dut.name != "native":
            # the backward pass and update cost more than the forward pass
            # saved by skipping them; only the deterministic QEMU count can
            # promise that per sample (the host's clock sees preemption)
            assert max(idle) <= m.forward.max < min(busy)


def test_evaluate_adds_forward_cycles_that_no_train_reply_carries(dut, scenario, base_model):
    x, y = scenario.x_stream[:20], scenario.y_stream[:20]
    dev = dut.device
    dev.configure(base_model.arch, FULL)
    dev.load_weights(base_model.to_blob())
    dev.metrics(reset=True)
    summary = dev.train(x, y)
    dev.evaluate(x[:5], y[:5])
    m = dev.metrics()
    assert m.forward.count == 20 + 5
    extra = m.forward.sum + m.backward.sum + m.update.sum - sum(summary.step_cycles)
    assert extra >= 0
    if dut.name != "native":
        assert extra >= 5 * m.forward.min


def test_the_reply_bounds_the_batch_when_samples_are_small(dut):
    """One int8 feature: a 2-byte record, so a request of 2000 samples fits
    the 8192-byte body but its 12 + 5*2000-byte reply would not."""
    dev = dut.device
    arch = Arch((1, 4, 2))
    dev.configure(arch, FULL, seed=5)
    q = Quantization.for_range(0.0, 1.0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(2000, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=2000)

    with pytest.raises(DeviceError) as err:
        dev._call(Cmd.TRAIN, encode_batch(x, y, q))
    assert err.value.code == ErrorCode.BAD_BATCH
    assert dev.metrics().seen == 0  # refused before any sample ran

    most = TrainReply.max_samples(dev.max_body)
    with pytest.raises(ValueError, match="TRAIN reply"):
        dev.train(x, y, quant=q, batch_size=most + 1)
    summary = dev.train(x[:most], y[:most], quant=q, batch_size=most)  # a reply of 8192 - 4 bytes
    assert len(summary.step_cycles) == most == summary.samples
    m = dev.metrics()
    assert m.seen == most
    assert sum(summary.step_cycles) == m.forward.sum + m.backward.sum + m.update.sum
