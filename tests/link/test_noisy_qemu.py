"""The smoke plan's training over a noisy line: the real mps2 firmware in QEMU
(mps2-an386) behind the fault-injecting proxy, against a clean run."""

from __future__ import annotations

import time

import pytest

from bench.faults import run_once, smoke_workload
from hil_service.backends.qemu import start_qemu
from hil_service.device import Device
from hil_service.firmware_build import build_firmware_mps2
from hil_service.link import LinkError
from hil_service.reference import Mlp
from hil_service.testing.faultproxy import FaultKind, FaultProxy, FaultSpec


@pytest.fixture(scope="module")
def elf():
    return build_firmware_mps2("an386")


def test_smoke_training_through_bit_flips_gives_the_clean_run_s_weights(elf):
    w = smoke_workload(test_samples=0)  # the plan's 200 samples; no evaluation, to stay short
    clean = run_once(elf, w, FaultSpec(FaultKind.BITFLIP, 0.0), seed=0)
    noisy = run_once(elf, w, FaultSpec(FaultKind.BITFLIP, 1e-3), seed=1)
    assert clean.completed and noisy.completed, (clean.error, noisy.error)
    assert noisy.faults_up > 0 and noisy.faults_down > 0 and noisy.resends > 0
    assert clean.seen == noisy.seen == len(w.x)  # no sample lost or trained twice
    assert noisy.weights == clean.weights  # byte for byte
    # and training did something: the weights moved off the base
    assert Mlp.from_blob(clean.weights).get_params().tolist() != Mlp.from_blob(w.blob).get_params().tolist()


def test_resync_after_a_give_up_resumes_training_without_repeats(elf):
    """The device keeps hearing and training while its replies vanish; the
    link gives up; resync() says how many samples trained (the firmware's
    HELLO last_seq agrees) and the rest of the stream goes on from there."""
    w = smoke_workload(samples=96, test_samples=0)
    clean = run_once(elf, w, None, seed=0)
    assert clean.completed, clean.error
    with start_qemu(elf, "mps2-an386", 6) as target, FaultProxy(target.serial_url) as proxy:
        dev = Device.open(proxy.url, budget=1.0)
        try:
            dev.hello()
            dev.configure(w.arch, w.params)
            dev.load_weights(w.blob)
            dev.metrics(reset=True)
            dev.train(w.x[:32], w.y[:32], batch_size=16)
            # every reply from now on is lost, for 3 s
            proxy.set_faults(None, FaultSpec(FaultKind.OUTAGE, 0.5, outage_s=3.0))
            with pytest.raises(LinkError) as err:
                dev.train(w.x[32:], w.y[32:], batch_size=16)
            assert "may have run up to" in str(err.value)
            proxy.set_faults(None, None)
            time.sleep(3.0)
            info = dev.resync()
            assert info.interrupted == "TRAIN" and info.applied is not None
            assert info.acknowledged is not None and info.acknowledged <= info.applied
            assert info.last_seq is not None and info.expected_seq == (info.last_seq + 1) & 0xFFFF
            rest_x, rest_y = w.x[32 + info.applied :], w.y[32 + info.applied :]
            if len(rest_x):
                dev.train(rest_x, rest_y, batch_size=16)
            assert dev.metrics().seen == len(w.x)
            assert dev.read_weights() == clean.weights
        finally:
            dev.close()


def test_outages_force_pieces_and_the_weights_still_equal_the_clean_run_s(elf):
    """50 ms outages at 1e-2 per byte during TRAIN: a one-sample frame (276 wire
    bytes) rarely gets through, so the link sends samples in FRAGMENT pieces; the
    device runs each sample once. Then the line is clean: samples go whole again."""
    w = smoke_workload(samples=100, test_samples=0)
    clean = run_once(elf, w, None, seed=0)
    assert clean.completed, clean.error
    with start_qemu(elf, "mps2-an386", 6) as target, FaultProxy(target.serial_url) as proxy:
        dev = Device.open(proxy.url)
        try:
            dev.hello()
            full = dev.link.frame_cap
            dev.configure(w.arch, w.params)
            dev.load_weights(w.blob)
            dev.metrics(reset=True)
            outage = FaultSpec(FaultKind.OUTAGE, 1e-2)
            proxy.set_faults(outage, outage)
            dev.train(w.x[:6], w.y[:6], batch_size=16)
            st = dev.link.stats
            assert st.fragments > 0 and st.fragmented > 0
            assert proxy.up.tally.faults.get("outage", 0) > 0
            proxy.set_faults(None, None)
            # one sample a frame: many clean frames, each fourth in a row doubles the size
            dev.train(w.x[6:80], w.y[6:80], batch_size=1)
            assert dev.link.frame_cap == full
            pieces = st.fragments
            dev.train(w.x[80:], w.y[80:], batch_size=16)
            assert st.fragments == pieces  # whole frames again
            assert dev.metrics().seen == len(w.x)  # no sample lost or trained twice
            assert dev.read_weights() == clean.weights  # byte for byte
        finally:
            dev.close()
