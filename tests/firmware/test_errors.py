"""Bad input gets its own error code, the device keeps serving, and nothing
is applied twice, even on a noisy line."""

from __future__ import annotations

import os
import random
import signal
import struct
import time

import numpy as np
import pytest

from hil_service.backends import BackendError
from hil_service.device import Device, DeviceError
from hil_service.link import Link, LinkError, LinkTimeout
from hil_service.protocol import Cmd, ErrorCode, ErrorReply, Frame, cobs_encode, encode_batch
from hil_service.reference import Arch, Mlp, Strategy, TrainParams

from .conftest import start_dut

PARAMS = TrainParams(Strategy.FULL, learning_rate=0.05)


def refused(call, code: ErrorCode) -> DeviceError:
    with pytest.raises(DeviceError) as err:
        call()
    assert err.value.code == code, str(err.value)
    return err.value


def raw_exchange(dev: Device, wire: bytes) -> Frame:
    dev.link._write(wire)
    frame = dev.link._read_frame(time.monotonic() + 5)
    assert frame is not None, "no answer"
    return frame


def test_each_bad_input_has_its_own_code_and_the_device_keeps_serving(dut, scenario, base_model):
    dev = dut.device
    x, y = scenario.x_stream[:8], scenario.y_stream[:8]

    e = refused(lambda: dev.train(x, y), ErrorCode.NOT_CONFIGURED)
    assert "TRAIN" in str(e) and "NOT_CONFIGURED" in str(e)
    refused(lambda: dev._call(0x42, b""), ErrorCode.UNKNOWN_COMMAND)
    refused(lambda: dev._call(Cmd.METRICS, b"\x00\x00"), ErrorCode.BAD_LENGTH)
    e = refused(lambda: dev._call(Cmd.CONFIGURE, b"\x07" + bytes(59)), ErrorCode.CORE)  # 60 bytes (protocol 5)
    assert "ODL_ERR_ARCH" in str(e)

    dev.configure(base_model.arch, PARAMS)
    other = Mlp(Arch((64, 16, 10))).init_weights(3).to_blob()
    e = refused(lambda: dev.load_weights(other), ErrorCode.CORE)
    assert "ODL_ERR_BLOB_ARCH" in str(e)
    refused(lambda: dev._call(Cmd.LOAD_WEIGHTS, struct.pack("<II", 100, 9668) + b"x"), ErrorCode.BAD_OFFSET)
    dev.load_weights(base_model.to_blob())

    refused(lambda: dev._call(Cmd.TRAIN, encode_batch(np.zeros((2, 10), np.float32), np.array([1, 2]))),
            ErrorCode.BAD_BATCH)
    refused(lambda: dev._call(Cmd.TRAIN, encode_batch(x[:2], y[:2])[:-1]), ErrorCode.BAD_LENGTH)
    bad_labels = y[:4].copy()
    bad_labels[2] = 10
    e = refused(lambda: dev.train(x[:4], bad_labels), ErrorCode.CORE)
    assert "ODL_ERR_LABEL (sample 2)" in str(e)
    nan_x = x[:4].copy()
    nan_x[3, 5] = np.nan
    e = refused(lambda: dev.train(nan_x, y[:4]), ErrorCode.CORE)
    assert "ODL_ERR_NONFINITE (sample 3)" in str(e)
    # every kind of non-finite value, at the first input, inside an
    # eight-value block of the FPU kernel, and in the tail after the blocks
    for pos in (0, 13, x.shape[1] - 1):
        for bad in (np.inf, -np.inf, np.nan):
            bad_x = x[:2].copy()
            bad_x[1, pos] = bad
            e = refused(lambda bx=bad_x: dev.train(bx, y[:2]), ErrorCode.CORE)
            assert "ODL_ERR_NONFINITE (sample 1)" in str(e), (pos, bad)
    assert dev.metrics().seen == 0  # refused batches trained on nothing

    # a frame with a broken CRC: dropped and reported, not executed
    wire = bytearray(Frame(Cmd.METRICS, dev.link._next_seq, b"\x00").raw())
    wire[4] ^= 0xFF
    reply = raw_exchange(dev, cobs_encode(bytes(wire)))
    err = ErrorReply.decode(reply.body)
    assert reply.cmd == Cmd.ERROR and err.code == ErrorCode.BAD_CRC
    assert err.expected_seq == dev.link._next_seq

    # a frame longer than the device's buffer
    big = Frame(Cmd.TRAIN, dev.link._next_seq, bytes(9000)).wire()
    reply = raw_exchange(dev, big)
    assert ErrorReply.decode(reply.body).code == ErrorCode.FRAME_TOO_LONG

    # a frame from the future
    reply = raw_exchange(dev, Frame(Cmd.METRICS, (dev.link._next_seq + 5) & 0xFFFF, b"\x00").wire())
    assert ErrorReply.decode(reply.body).code == ErrorCode.SEQ_GAP

    # and after all that, the device still trains
    dev.train(x, y)
    m = dev.metrics()
    assert m.seen == 8 and m.frames_bad == 3


def test_a_resent_request_is_answered_not_executed_again(dut, scenario, base_model):
    dev = dut.device
    dev.configure(base_model.arch, PARAMS)
    dev.load_weights(base_model.to_blob())
    seq = dev.link._next_seq
    frame = Frame(Cmd.TRAIN, seq, encode_batch(scenario.x_stream[:10], scenario.y_stream[:10])).wire()
    first = raw_exchange(dev, frame)
    again = raw_exchange(dev, frame)
    assert first == again and first.cmd == Cmd.TRAIN | 0x80
    dev.link._next_seq = (seq + 1) & 0xFFFF
    # an older request still is not run again: the device acknowledges it as stale
    stale = raw_exchange(dev, Frame(Cmd.TRAIN, (seq - 3) & 0xFFFF, b"").wire())
    assert stale.flags & 0x02 and stale.body == b""
    m = dev.metrics()
    assert m.seen == 10 and m.frames_duplicate == 2


class NoisyLine:
    """The real port with a bad cable: each byte flips a bit with some probability."""

    def __init__(self, port, tx_rate: float, rx_rate: float, seed: int) -> None:
        self.port, self.rng = port, random.Random(seed)
        self.tx_rate, self.rx_rate = tx_rate, rx_rate
        self.flipped = 0

    def _noise(self, data: bytes, rate: float) -> bytes:
        buf = bytearray(data)
        for i in range(len(buf)):
            if self.rng.random() < rate:
                buf[i] ^= 1 << self.rng.randrange(8)
                self.flipped += 1
        return bytes(buf)

    def write(self, data: bytes):
        return self.port.write(self._noise(data, self.tx_rate))

    def read(self, size: int = 1) -> bytes:
        return self._noise(self.port.read(size), self.rx_rate)

    @property
    def in_waiting(self) -> int:
        return self.port.in_waiting

    def close(self) -> None:
        self.port.close()


def test_line_noise_loses_nothing_and_applies_nothing_twice(dut, scenario, base_model):
    dev = dut.device
    dev.configure(base_model.arch, PARAMS)
    dev.load_weights(base_model.to_blob())
    # about one TRAIN frame in seven and one reply in ten arrive damaged
    noisy = NoisyLine(dev.link.port, tx_rate=1e-4, rx_rate=3e-3, seed=3)
    dev.link = Link(noisy, timeout=0.5, retries=8)
    dev.hello()  # a new session on the noisy line
    x, y = scenario.x_stream[:160], scenario.y_stream[:160]
    summary = dev.train(x, y, batch_size=8)
    assert noisy.flipped > 0 and sum(dev.link.stats.errors.values()) > 0
    noisy.tx_rate = noisy.rx_rate = 0.0
    m = dev.metrics()
    assert m.seen == 160, (m.seen, dev.link.stats)
    assert summary.trained + 8 * summary.lost_replies >= 160
    twin = Mlp.from_blob(base_model.to_blob(), PARAMS, exact=True)
    for xi, yi in zip(x, y, strict=False):
        twin.train_step(xi, int(yi))
    np.testing.assert_allclose(Mlp.from_blob(dev.read_weights()).get_params(), twin.get_params(),
                               rtol=1e-5, atol=1e-5)


def test_a_dead_emulator_is_named_not_waited_for(scenario, base_model):
    d = start_dut("qemu-an386", timeout=0.5)
    try:
        d.device.hello()
        d.device.configure(base_model.arch, PARAMS)
        os.killpg(d.target.pid, signal.SIGKILL)
        d.target.wait_exit(5)
        with pytest.raises((LinkTimeout, LinkError, OSError)) as err:
            d.device.link.retries = 1
            d.device.train(scenario.x_stream[:16], scenario.y_stream[:16])
        assert "TRAIN" in str(err.value) or isinstance(err.value, OSError)
        with pytest.raises(BackendError, match="qemu-system-arm|exit|signal"):
            d.target.ensure_alive()
    finally:
        d.device.close()
        d.target.close()
