"""Continual learning on real firmware (the POSIX build over a pty, and the
mps2-an386 image in QEMU for the end-to-end run): replay memory and growth
against the numpy twin, bit for bit, and every refusal leaves weights,
architecture and replay memory as they were (docs/protocol.md,
"Continual learning")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from hil_service import wire_gen as W
from hil_service.device import Device, DeviceError
from hil_service.protocol import CORE_STATUS, Cmd, Configure, ErrorCode, Quantization
from hil_service.reference import Arch, Mlp, Strategy, TrainParams
from hil_service.reference.replay import ReplayMemory, train_with_replay

from .conftest import Dut, greeted_dut

START = Arch((64, 16, 5))
GROWN = Arch((64, 24, 8))
MAX = Arch((64, 32, 10))
SEED = 21


def status(name: str) -> int:
    return next(k for k, v in CORE_STATUS.items() if v == name)


@pytest.fixture
def native() -> Iterator[Dut]:
    with greeted_dut("native") as d:
        yield d


def refused(call, code: ErrorCode, core: str | None = None) -> DeviceError:
    with pytest.raises(DeviceError) as err:
        call()
    assert err.value.code == code, str(err.value)
    if core is not None:
        assert err.value.error.core_status == status(core), str(err.value)
    return err.value


def old_and_new(scenario):
    x, y = scenario.x_stream, scenario.y_stream
    old, new = y < 5, y >= 5
    return (x[old], y[old]), (x[new], y[new])


def run_continual(dev: Device, params: TrainParams, scenario, quant: Quantization | None) -> None:
    (xo, yo), (xn, yn) = old_and_new(scenario)
    mem_x, mem_y = xo[:30], yo[:30]
    replay = ReplayMemory.build(mem_x, mem_y, ratio=2, quant=quant)
    capacity = replay.nbytes + 17  # room to spare
    needed = dev.configure_continual(START, params, max_arch=MAX, replay_capacity=capacity, seed=SEED)
    twin = Mlp(START, params, exact=True).init_weights(SEED)
    assert dev.read_weights() == twin.to_blob()
    assert dev.load_replay(mem_x, mem_y, ratio=2, quant=quant) == replay.nbytes
    m = dev.metrics()
    assert m.arena_needed == needed

    x1, y1 = xo[30:70], yo[30:70]
    summary = dev.train(x1, y1, batch_size=16)
    steps = train_with_replay(twin, x1, y1, replay)
    assert summary.trained == sum(s.outcome == 0 for s in steps)
    assert dev.read_weights() == twin.to_blob()

    # new classes 5..7 and eight more hidden neurons
    assert dev.grow(GROWN, seed=4) == GROWN.n_params
    twin.grow(GROWN, seed=4)
    assert dev.read_weights() == twin.to_blob()
    keep = yn < 8
    x2, y2 = xn[keep][:40], yn[keep][:40]
    dev.train(x2, y2, batch_size=16)
    train_with_replay(twin, x2, y2, replay)
    assert dev.read_weights() == twin.to_blob()
    assert dev.metrics().seen == (len(x1) + len(x2)) * 3
    ev = dev.evaluate(scenario.x_test, scenario.y_test % 8)
    assert ev.accuracy == pytest.approx(twin.accuracy(scenario.x_test, scenario.y_test % 8), abs=1 / 450)


@pytest.mark.parametrize("quantized", [False, True], ids=["f32", "int8"])
def test_replay_and_growth_match_the_twin_bit_for_bit(native, scenario, quantized):
    quant = Quantization.for_range(float(scenario.x_stream.min()), float(scenario.x_stream.max())) \
        if quantized else None
    run_continual(native.device, TrainParams(Strategy.FULL, learning_rate=0.05), scenario, quant)


def test_replay_and_growth_on_qemu_with_tinyprop(scenario):
    with greeted_dut("qemu-an386") as d:
        run_continual(d.device, TrainParams(Strategy.TINYPROP, learning_rate=0.05, momentum=0.5),
                      scenario, None)


def test_arena_counts_the_largest_model_and_the_replay(native, core):
    params = TrainParams(Strategy.FULL, learning_rate=0.05)
    dev = native.device
    plain = dev.configure(START, params)
    assert plain == core.arena_bytes(START, params)
    needed = dev.configure_continual(START, params, max_arch=MAX, replay_capacity=1000)
    assert needed == core.arena_bytes(MAX, params) + 1000
    assert dev.metrics().arena_needed == needed


def test_configure_refusals(native):
    dev = native.device
    params = TrainParams(Strategy.FULL, learning_rate=0.05)
    size = dev.info.arena_size
    refused(lambda: dev.configure_continual(START, params, max_arch=MAX, replay_capacity=size),
            ErrorCode.CORE, "ODL_ERR_ARENA_TOO_SMALL")
    refused(lambda: dev.configure_continual(START, params, max_arch=Arch((64, 8, 5)), replay_capacity=0),
            ErrorCode.CORE, "ODL_ERR_GROW")
    # past the compile-time maxima; a deeper max_arch (the host codec refuses it, the device too)
    refused(lambda: dev._call(Cmd.CONFIGURE, continual_body(START, (64, 300, 5))),
            ErrorCode.CORE, "ODL_ERR_ARCH")
    refused(lambda: dev._call(Cmd.CONFIGURE, continual_body(START, (64, 16, 16, 5))),
            ErrorCode.CORE, "ODL_ERR_ARCH")
    # a refused CONFIGURE leaves no model behind
    refused(lambda: dev.grow(GROWN, 1), ErrorCode.NOT_CONFIGURED)


def continual_body(arch: Arch, max_sizes: tuple[int, ...]) -> bytes:
    """A CONFIGURE body in the continual form, packed without the host's checks."""
    d = W.CONFIGURE.decode(Configure(arch.sizes, 0, 0.05).encode())
    return W.CONFIGURE_CONTINUAL.encode(**d, max_sizes=max_sizes + (0,) * (5 - len(max_sizes)),
                                        replay_capacity=0)


@pytest.fixture
def configured(native, scenario):
    """START on the device with a 10-sample replay memory (ratio 1), and its twin."""
    dev = native.device
    params = TrainParams(Strategy.FULL, learning_rate=0.05, momentum=0.5)
    (xo, yo), _ = old_and_new(scenario)
    replay = ReplayMemory.build(xo[:10], yo[:10], ratio=1)
    dev.configure_continual(START, params, max_arch=MAX, replay_capacity=replay.nbytes, seed=SEED)
    dev.load_replay(xo[:10], yo[:10], ratio=1)
    twin = Mlp(START, params, exact=True).init_weights(SEED)
    return dev, twin, replay, (xo, yo)


def unchanged(dev: Device, twin: Mlp, replay: ReplayMemory, data) -> None:
    """Weights and arch as the twin's, and training still interleaves the old replay."""
    xo, yo = data
    assert dev.read_weights() == twin.to_blob()
    dev.train(xo[50:62], yo[50:62])
    train_with_replay(twin, xo[50:62], yo[50:62], replay)
    assert dev.read_weights() == twin.to_blob()


@pytest.mark.parametrize("sizes, code, core", [
    ((64, 300, 5), ErrorCode.CORE, "ODL_ERR_ARCH"),      # past the compile-time maxima
    ((64, 40, 5), ErrorCode.CORE, "ODL_ERR_GROW"),       # past CONFIGURE's max_sizes
    ((64, 16, 11), ErrorCode.CORE, "ODL_ERR_GROW"),      # more classes than max_sizes
    ((64, 8, 5), ErrorCode.CORE, "ODL_ERR_GROW"),        # shrinks
    ((60, 16, 5), ErrorCode.CORE, "ODL_ERR_GROW"),       # other inputs
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_grow_refusals_change_nothing(configured, sizes, code, core):
    dev, twin, replay, data = configured
    arch = type("Sizes", (), {"sizes": sizes})()  # Arch refuses 300 on the host already
    err = refused(lambda: dev.grow(arch, 1), code, core)
    assert str(err) == f"device refused GROW: CORE {core}"
    unchanged(dev, twin, replay, data)


def test_replay_refusals_change_nothing(configured):
    dev, twin, replay, data = configured
    xo, yo = data
    # larger than the capacity given at CONFIGURE
    refused(lambda: dev.load_replay(xo[:11], yo[:11], ratio=1), ErrorCode.CORE, "ODL_ERR_ARENA_TOO_SMALL")
    unchanged(dev, twin, replay, data)
    # a label outside the output: 5 classes before growth
    bad_y = yo[:10].copy()
    bad_y[6] = 5
    err = refused(lambda: dev.load_replay(xo[:10], bad_y, ratio=1), ErrorCode.CORE, "ODL_ERR_LABEL")
    assert err.error.detail == 6
    unchanged(dev, twin, replay, data)
    # a non-finite feature
    bad_x = xo[:10].copy()
    bad_x[2, 3] = np.inf
    err = refused(lambda: dev.load_replay(bad_x, yo[:10], ratio=1), ErrorCode.CORE, "ODL_ERR_NONFINITE")
    assert err.error.detail == 2
    unchanged(dev, twin, replay, data)
    # wrong feature count
    refused(lambda: dev.load_replay(xo[:10, :32], yo[:10], ratio=1), ErrorCode.CORE, "ODL_ERR_LENGTH")
    unchanged(dev, twin, replay, data)


def test_replay_chunk_out_of_order_is_refused(configured):
    from hil_service.continual_wire import ReplayHead, replay_records

    dev, twin, replay, data = configured
    xo, yo = data
    recs = replay_records(xo[:4], yo[:4], None)
    head = ReplayHead(4, 64, 1)
    refused(lambda: dev._call(Cmd.LOAD_REPLAY, head.encode(2, recs[2:].tobytes())), ErrorCode.BAD_OFFSET)
    # a body that is not whole records
    refused(lambda: dev._call(Cmd.LOAD_REPLAY, head.encode(0, recs.tobytes()[:-1])), ErrorCode.BAD_LENGTH)
    unchanged(dev, twin, replay, data)


def test_empty_replay_turns_replay_off(configured):
    dev, twin, _, data = configured
    xo, yo = data
    assert dev.load_replay(np.zeros((0, 64), np.float32), np.zeros(0, np.int64), ratio=1) == 0
    dev.train(xo[50:60], yo[50:60])
    train_with_replay(twin, xo[50:60], yo[50:60], None)
    assert dev.read_weights() == twin.to_blob()


def test_grown_label_is_accepted_in_replay_after_growth(configured):
    dev, twin, _, data = configured
    xo, _ = data
    y = np.array([7, 1, 6])
    refused(lambda: dev.load_replay(xo[:3], y, ratio=1), ErrorCode.CORE, "ODL_ERR_LABEL")
    dev.grow(GROWN, 2)
    assert dev.load_replay(xo[:3], y, ratio=1) == 3 * (1 + 64 * 4)


def test_step_cycles_include_the_replay_steps(dut, scenario):
    """A sample's step_cycles covers its own step and its replay steps, so the reply
    still sums to the METRICS cycle sums, which count every replay step."""
    dev = dut.device
    params = TrainParams(Strategy.FULL, learning_rate=0.05)
    (xo, yo), _ = old_and_new(scenario)
    dev.configure_continual(START, params, max_arch=MAX, replay_capacity=8 * (1 + 64 * 4), seed=SEED)
    dev.load_replay(xo[:8], yo[:8], ratio=3)
    dev.metrics(reset=True)
    summary = dev.train(xo[20:40], yo[20:40], batch_size=8)
    m = dev.metrics()
    assert m.seen == 20 * 4 and m.forward.count == 20 * 4
    assert sum(summary.step_cycles) == m.forward.sum + m.backward.sum + m.update.sum
    if dut.name != "native":
        # under QEMU -icount every step takes ticks: four steps per sample
        assert min(summary.step_cycles) >= 4 * m.forward.min
