"""last_layer_q8 on the real firmware in QEMU (soft-float Cortex-M3 an385 and
Cortex-M4F an386): the int8 hidden layers are integer arithmetic and the float
output layer the core's usual order, so the device's weights and predictions
equal the twin's bit for bit (==), through a stream and a second weight load
(requantization)."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.reference import Arch, Mlp, Strategy, TrainParams

from .conftest import greeted_dut

Q8 = TrainParams(Strategy.LAST_LAYER_Q8, learning_rate=0.05)


@pytest.mark.parametrize("board", ["an385", "an386"])
def test_q8_stream_is_bit_identical_to_the_twin(board, scenario, base_model):
    x, y = scenario.x_stream[:160], scenario.y_stream[:160]
    twin = Mlp.from_blob(base_model.to_blob(), Q8, exact=True)
    steps = [twin.train_step(xi, int(yi)) for xi, yi in zip(x, y, strict=True)]
    with greeted_dut(f"qemu-{board}") as d:
        dev = d.device
        dev.configure(base_model.arch, Q8)
        dev.load_weights(base_model.to_blob())
        base_twin = Mlp.from_blob(base_model.to_blob(), Q8, exact=True)
        pred = dev.infer(scenario.x_test[:60])
        assert np.array_equal(pred.predicted, base_twin.predict(scenario.x_test[:60]))
        summary = dev.train(x, y, batch_size=16)
        assert summary.trained == len(steps)
        assert dev.read_weights() == twin.to_blob()
        after = dev.evaluate(scenario.x_test, scenario.y_test)
        assert after.accuracy == twin.accuracy(scenario.x_test, scenario.y_test)
        # the hidden layers stayed frozen: only the output layer moved
        n_hidden = base_model.arch.sizes[1] * (base_model.arch.sizes[0] + 1)
        assert np.array_equal(Mlp.from_blob(dev.read_weights()).get_params()[:n_hidden],
                              base_model.get_params()[:n_hidden])
        # new weights are quantized again: a second load trains as a fresh twin
        other = Mlp(base_model.arch).init_weights(5)
        dev.load_weights(other.to_blob())
        fresh = Mlp.from_blob(other.to_blob(), Q8, exact=True)
        for xi, yi in zip(x[:32], y[:32], strict=True):
            fresh.train_step(xi, int(yi))
        dev.train(x[:32], y[:32], batch_size=16)
        assert dev.read_weights() == fresh.to_blob()


def test_q8_two_hidden_layers_on_an385(scenario):
    """Two hidden layers: the int8 requantization between them runs on the M3."""
    arch = Arch((64, 24, 16, 10))
    base = Mlp(arch).init_weights(9)
    twin = Mlp.from_blob(base.to_blob(), Q8, exact=True)
    x, y = scenario.x_stream[:64], scenario.y_stream[:64]
    for xi, yi in zip(x, y, strict=True):
        twin.train_step(xi, int(yi))
    with greeted_dut("qemu-an385") as d:
        d.device.configure(arch, Q8)
        d.device.load_weights(base.to_blob())
        d.device.train(x, y, batch_size=16)
        assert d.device.read_weights() == twin.to_blob()
        assert np.array_equal(d.device.infer(scenario.x_test[:60]).predicted,
                              twin.predict(scenario.x_test[:60]))
