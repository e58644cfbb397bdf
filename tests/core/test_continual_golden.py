"""Golden tests of continual learning: growth and replay in the C core
(host build, odl_grow.c / odl_replay.c) against the numpy twin in exact mode.

Growth moves values and draws new ones from the shared xorshift32 stream,
so C and twin agree bit for bit right after it; training through replay
and growth does the same float32 operations in the same order, so the
weights are compared bit for bit too (docs/core.md, "Replay", "Growth").
"""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.continual_wire import replay_records
from hil_service.native_core import NativeModel, NativeReplay
from hil_service.protocol import CORE_STATUS, Quantization
from hil_service.reference import Arch, Mlp, Strategy, TrainParams, read_blob
from hil_service.reference.replay import ReplayMemory, train_with_replay

PARAMS = {
    "full": TrainParams(Strategy.FULL, learning_rate=0.05),
    "full_momentum": TrainParams(Strategy.FULL, learning_rate=0.02, momentum=0.5),
    "tinyprop": TrainParams(Strategy.TINYPROP, learning_rate=0.05),
    "last_layer": TrainParams(Strategy.LAST_LAYER, learning_rate=0.05),
}
START = Arch((64, 16, 5))
GROWN = Arch((64, 24, 8))
MAX = Arch((64, 32, 10))


def status(name: str) -> int:
    return next(k for k, v in CORE_STATUS.items() if v == name)


def c_params(c: NativeModel) -> np.ndarray:
    return read_blob(c.to_blob())[1]


def pair(core, params, arch=START, max_arch=MAX, seed=3):
    c = NativeModel(core, arch, params, arena_bytes=core.arena_bytes(max_arch, params)).init_weights(seed)
    t = Mlp(arch, params, exact=True).init_weights(seed)
    return c, t


def classes(digits, upto):
    keep = digits.y < upto
    return digits.x[keep], digits.y[keep]


@pytest.mark.parametrize("to", [Arch((64, 24, 5)), Arch((64, 16, 8)), GROWN, MAX], ids=str)
def test_growth_is_bit_identical_and_function_preserving(core, digits, to):
    c, t = pair(core, PARAMS["full"])
    x = digits.x[:40]
    before = Mlp.from_blob(t.to_blob(), exact=True)
    c.grow(to, seed=77)
    t.grow(to, seed=77)
    assert c.to_blob() == t.to_blob()
    n_old = START.sizes[-1]
    for xi in x:
        # old logits unchanged: their softmax over the old classes is too
        p_new = t.predict_proba(xi)[:n_old]
        np.testing.assert_allclose(p_new / p_new.sum(), before.predict_proba(xi), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(c.predict_proba(xi), t.predict_proba(xi))
    # hidden neurons got random incoming weights, zero outgoing ones
    new_rows = t.layers[0].w[START.sizes[1]:]
    assert new_rows.shape[0] == to.sizes[1] - START.sizes[1] and np.all(new_rows != 0)
    assert not np.any(t.layers[1].w[:, START.sizes[1]:])
    assert not np.any(t.layers[1].w[n_old:]) and not np.any(t.layers[1].b[n_old:])


def test_growth_with_two_hidden_layers_is_bit_identical(core, digits):
    params = PARAMS["full"]
    arch, to = Arch((64, 12, 10, 4)), Arch((64, 20, 14, 6))
    c, t = pair(core, params, arch, to)
    c.grow(to, 5)
    t.grow(to, 5)
    assert c.to_blob() == t.to_blob()
    x = digits.x[:20]
    np.testing.assert_array_equal(c.predict(x), t.predict(x))


@pytest.mark.parametrize("name", sorted(PARAMS))
@pytest.mark.parametrize("quantized", [False, True], ids=["f32", "int8"])
def test_replay_then_growth_then_replay_trains_bit_identically(core, digits, name, quantized):
    params = PARAMS[name]
    c, t = pair(core, params)
    xa, ya = classes(digits, 5)
    quant = Quantization.for_range(0.0, 1.0) if quantized else None
    mem_x, mem_y = xa[:12], ya[:12]
    replay_t = ReplayMemory.build(mem_x, mem_y, ratio=2, quant=quant)
    replay_c = NativeReplay(core, capacity=replay_t.nbytes)
    recs = replay_records(mem_x, mem_y, quant)
    # two chunks, as the protocol sends them
    for first, hi in ((0, 5), (5, 12)):
        st = replay_c.load(c, recs[first:hi].tobytes(), hi - first, first, 12, 64, 2,
                           quant.scale if quant else None, quant.zero_point if quant else 0)
        assert st == 0
    assert replay_c.count == 12

    x1, y1 = xa[20:45], ya[20:45]
    c.train_with_replay(x1, y1, replay_c)
    train_with_replay(t, x1, y1, replay_t)
    assert replay_c.cursor == replay_t.cursor == (25 * 2) % 12
    np.testing.assert_array_equal(c_params(c), t.get_params())

    c.grow(GROWN, seed=9)
    t.grow(GROWN, seed=9)
    np.testing.assert_array_equal(c_params(c), t.get_params())
    x2, y2 = digits.x[digits.y >= 5][:30], digits.y[digits.y >= 5][:30] % 8
    c.train_with_replay(x2, y2, replay_c)
    train_with_replay(t, x2, y2, replay_t)
    np.testing.assert_array_equal(c_params(c), t.get_params())
    stats = c.stats()
    assert stats["seen"] == (25 + 30) * 3  # every new sample and its two replay steps


def test_replay_refusals_change_nothing(core, digits):
    params = PARAMS["full"]
    c, _ = pair(core, params)
    x, y = classes(digits, 5)
    recs = replay_records(x[:10], y[:10], None)
    record = recs.shape[1]
    replay = NativeReplay(core, capacity=10 * record)
    assert replay.load(c, recs.tobytes(), 10, 0, 10, 64, 1) == 0
    blob = c.to_blob()
    mem = bytes(replay._mem)

    def refused(st_name, *args, **kw):
        assert replay.load(c, *args, **kw) == status(st_name)
        assert bytes(replay._mem) == mem and replay.count == 10 and replay.cursor == 0
        assert c.to_blob() == blob

    # larger than the capacity
    big = replay_records(x[:11], y[:11], None)
    refused("ODL_ERR_ARENA_TOO_SMALL", big.tobytes(), 11, 0, 11, 64, 1)
    # a label outside the output (5 classes)
    bad = recs.copy()
    bad[3, 0] = 5
    refused("ODL_ERR_LABEL", bad.tobytes(), 10, 0, 10, 64, 1)
    assert replay.bad_index == 3
    # a non-finite feature
    nan = replay_records(np.where(np.arange(64) == 7, np.nan, x[0])[None, :], y[:1], None)
    refused("ODL_ERR_NONFINITE", nan.tobytes(), 1, 0, 1, 64, 1)
    # wrong feature count, and a chunk out of order
    refused("ODL_ERR_LENGTH", recs.tobytes(), 10, 0, 10, 63, 1)
    refused("ODL_ERR_STATE", recs[:2].tobytes(), 2, 4, 10, 64, 1)


def test_replay_label_of_a_grown_class_is_accepted_after_growth(core, digits):
    params = PARAMS["full"]
    c, _ = pair(core, params)
    recs = replay_records(digits.x[:1], np.array([7]), None)
    replay = NativeReplay(core, capacity=recs.size)
    assert replay.load(c, recs.tobytes(), 1, 0, 1, 64, 1) == status("ODL_ERR_LABEL")
    c.grow(GROWN, 1)
    assert replay.load(c, recs.tobytes(), 1, 0, 1, 64, 1) == 0


@pytest.mark.parametrize("to, name", [
    (Arch((64, 8, 5)), "ODL_ERR_GROW"),          # shrinks
    (Arch((64, 16, 4)), "ODL_ERR_GROW"),         # fewer classes
    (Arch((63, 16, 5)), "ODL_ERR_GROW"),         # other inputs
    (Arch((64, 16, 16, 5)), "ODL_ERR_GROW"),     # deeper
    (Arch((64, 40, 10)), "ODL_ERR_ARENA_TOO_SMALL"),  # past the arena sized for MAX
], ids=str)
def test_growth_refusals_change_nothing(core, to, name):
    c, _ = pair(core, PARAMS["full_momentum"])
    blob = c.to_blob()
    assert c.grow_status(to) == status(name)
    with pytest.raises(Exception, match=name):
        c.grow(to, 1)
    assert c.to_blob() == blob and c.arch == START


def test_growth_past_the_compile_time_maxima_is_refused(core):
    c, _ = pair(core, PARAMS["full"])
    big = type("A", (), {"n_layers": 2, "sizes": (64, 300, 5)})()  # Arch itself refuses 300
    blob = c.to_blob()
    assert c.grow_status(big) == status("ODL_ERR_ARCH")
    assert c.to_blob() == blob and c.arch == START


@pytest.mark.parametrize("seed", range(6))
def test_random_growth_sequences_stay_bit_identical(core, digits, seed):
    """Several growths in a row, any layer by any amount: the in-place move of the
    parameters (last element first) never overwrites one it has not moved."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 4))
    sizes = [64] + [int(rng.integers(2, 12)) for _ in range(depth)] + [int(rng.integers(2, 5))]
    biggest = Arch(tuple([64] + [s + 40 for s in sizes[1:]]))
    params = PARAMS["tinyprop"]
    c, t = pair(core, params, Arch(tuple(sizes)), biggest, seed=seed)
    for step in range(4):
        sizes = [sizes[0]] + [s + int(rng.integers(0, 11)) for s in sizes[1:]]
        to = Arch(tuple(sizes))
        c.grow(to, seed * 10 + step)
        t.grow(to, seed * 10 + step)
        assert c.to_blob() == t.to_blob()
        x, y = digits.x[step * 10:(step + 1) * 10], digits.y[step * 10:(step + 1) * 10] % sizes[-1]
        c.train_sequence(x, y)
        for xi, yi in zip(x, y, strict=True):
            t.train_step(xi, int(yi))
        np.testing.assert_array_equal(c_params(c), t.get_params())
