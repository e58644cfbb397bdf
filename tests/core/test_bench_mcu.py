"""bench.mcu end to end on one board and the small model: the bench firmware
builds, runs in QEMU and its JSON has the documented keys with sane values
(no timing assertion: the figures are the benchmark's, not the test's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from bench import mcu

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                                or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")


def test_bench_mcu_json_has_keys_per_board_and_strategy():
    proc = subprocess.run([sys.executable, "-m", "bench.mcu", "--boards", "an386", "--models", "digits"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["benchmark"] == "mcu"
    per = out["boards"]["an386"]["digits_64-32-10"]
    assert set(per) == {"full", "last_layer", "tinyprop", "last_layer_q8"}
    for fig in per.values():
        for key in ("instructions_per_step", "instructions_per_inference", "ram_bytes"):
            assert fig[key] > 0, (key, fig)
        assert fig["steps"] == mcu.STEPS and fig["trained_steps"] == mcu.STEPS
        assert fig["ram_bytes"] == fig["arena_bytes"] + fig["model_struct_bytes"] + fig["stack_bytes"]
    # every float strategy runs the same forward pass for a prediction; last_layer_q8 its own
    floats = [f for name, f in per.items() if name != "last_layer_q8"]
    assert len({round(f["instructions_per_inference"]) for f in floats}) == 1
    assert per["last_layer_q8"]["instructions_per_inference"] != floats[0]["instructions_per_inference"]
    assert per["full"]["backward_mac_share"] == 1.0
    assert per["tinyprop"]["backward_mac_share"] < 1.0
    assert out["int8_reference_instructions_per_inference"]["an386"]["digits_64-32-10"] > 0


def test_q8_halves_the_last_layer_step_on_the_soft_float_m3():
    """Issue 15's bar for an int8 strategy on a soft-float MCU: at least 2x fewer
    instructions per training step than last_layer (icount: exact, repeatable)."""
    proc = subprocess.run([sys.executable, "-m", "bench.mcu", "--boards", "an385", "--models", "digits"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    per = json.loads(proc.stdout)["boards"]["an385"]["digits_64-32-10"]
    q8, ll = per["last_layer_q8"], per["last_layer"]
    assert q8["trained_steps"] == ll["trained_steps"] == mcu.STEPS
    assert 2 * q8["instructions_per_step"] <= ll["instructions_per_step"]
    assert 2 * q8["instructions_per_inference"] <= ll["instructions_per_inference"]


def test_tick_conversion_matches_the_validated_icount_rule():
    # shift 6: 64 ns per instruction, 40 ns per tick (ports/mps2/README.md)
    assert mcu.instructions(3_200_000) == 2_000_000


@pytest.mark.parametrize("model_key", ["digits", "odd"])
@pytest.mark.parametrize("board", ["an385", "an386"])
def test_board_weights_are_bit_identical_to_the_host_core(core, board, model_key):
    """The VFP kernels (an386) and the soft-float zero skipping (an385) give
    the bits of the host build, whose agreement with the twin the golden
    tests check: same base, same steps, same weight CRC. The odd model's
    widths (13, 11) run the kernels' tails and the forward pass's odd row."""
    import zlib

    from hil_service.firmware_build import build_dir
    from hil_service.native_core import NativeModel
    from hil_service.reference import Strategy, TrainParams

    model = mcu.MODELS[model_key]
    inputs = mcu.bench_inputs(model)
    data_dir = build_dir() / f"bench_mcu_data_{model.arch}"
    mcu.write_bench_data(model, inputs, data_dir)
    raw = mcu.run(board, mcu.build(board, model, data_dir, 16_384))
    # the CRC is of the blob without its CRC trailer: over the whole blob it
    # is the CRC residue, one constant for any weights
    base_crc = zlib.crc32(inputs.blob[:-4])
    for s in Strategy:
        host = NativeModel(core, model.arch, TrainParams(s, learning_rate=mcu.LEARNING_RATE))
        host.load_blob(inputs.blob)
        for i in range(mcu.WARMUP + mcu.STEPS):
            j = i % len(inputs.y)
            host.train_step(inputs.x[j], int(inputs.y[j]))
        trained = zlib.crc32(host.to_blob()[:-4])
        assert trained != base_crc, f"{s.name} left the weights unchanged"
        assert raw[int(s)]["weights_crc"] == trained, (board, s.name)
    assert raw[int(Strategy.FULL)]["weights_crc"] != raw[int(Strategy.LAST_LAYER)]["weights_crc"]
