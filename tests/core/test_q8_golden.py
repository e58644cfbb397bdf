"""last_layer_q8 golden tests: the C core (host build) against the twin
(reference/q8.py through Mlp), bit for bit (==), and the documented error bound
of the int8 hidden layers against float (docs/core.md, "last_layer_q8")."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.native_core import NativeModel
from hil_service.reference import Arch, Mlp, Strategy, TrainParams, q8

ARCHS = [Arch((64, 32, 10)), Arch((64, 24, 16, 10)), Arch((64, 10))]
Q8 = TrainParams(Strategy.LAST_LAYER_Q8, learning_rate=0.05)
F32 = np.float32


def pair(core, arch, params=Q8, seed=11):
    return NativeModel(core, arch, params).init_weights(seed), Mlp(arch, params, exact=True).init_weights(seed)


@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_forward_is_bit_identical(core, digits, arch):
    c, t = pair(core, arch)
    for x in digits.x[:100]:
        assert np.array_equal(c.predict_proba(x), t.predict_proba(x))
    assert np.array_equal(c.predict(digits.x[:300]), t.predict(digits.x[:300]))
    # the twin's batch path is the same integer arithmetic
    assert np.array_equal(Mlp(arch, Q8).init_weights(11).predict(digits.x[:300]), t.predict(digits.x[:300]))


@pytest.mark.parametrize("arch", ARCHS, ids=str)
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_training_is_bit_identical(core, digits, arch, momentum):
    params = TrainParams(Strategy.LAST_LAYER_Q8, learning_rate=0.05, momentum=momentum)
    c, t = pair(core, arch, params)
    hidden = [ly.w.copy() for ly in t.layers[:-1]]
    for x, y in zip(digits.x[:300], digits.y[:300], strict=True):
        rc, rt = c.train_step(x, int(y)), t.train_step(x, int(y))
        assert (rc.outcome, rc.predicted, rc.k) == (rt.outcome, rt.predicted, rt.k)
    assert c.to_blob() == t.to_blob()
    # the hidden layers are frozen; only the output layer learnt
    assert all(np.array_equal(a, ly.w) for a, ly in zip(hidden, t.layers[:-1], strict=True))


def test_matches_last_layer_without_hidden_layers(core, digits):
    arch = Arch((64, 10))
    c, _ = pair(core, arch)
    f = NativeModel(core, arch, TrainParams(Strategy.LAST_LAYER, learning_rate=0.05)).init_weights(11)
    for x, y in zip(digits.x[:100], digits.y[:100], strict=True):
        c.train_step(x, int(y))
        f.train_step(x, int(y))
    assert c.to_blob() == f.to_blob()


def edge_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    """Signs, zeros, subnormals, huge and tiny scales, values on rounding ties."""
    base = rng.standard_normal(64).astype(F32)
    tiny = np.zeros(64, F32)
    tiny[3] = np.float32(1e-45)  # the smallest subnormal alone: an all-zero int8 input
    mixed = base.copy()
    mixed[::5] = np.float32(1e-40)
    ties = np.arange(64, dtype=F32) / F32(128.0) - F32(0.25)  # exact halves after scaling
    return [np.zeros(64, F32), base, -np.abs(base), base * F32(1e30), base * F32(1e-30), tiny, mixed,
            ties, np.full(64, F32(1.0)), np.full(64, F32(-3.0e38))]


@pytest.mark.parametrize("arch", ARCHS[:2], ids=str)
def test_edge_cases_are_bit_identical(core, arch):
    rng = np.random.default_rng(5)
    c, t = pair(core, arch)
    flat = t.get_params().copy()
    n_w0 = arch.sizes[0] * arch.sizes[1]
    flat[:64] = 0.0  # a zero row
    flat[64:128] = np.float32(1e-39)  # a subnormal row: all zeros too
    flat[128:192] *= F32(1e4)  # a row of large weights
    flat[n_w0] = F32(3e9)  # a bias past the saturation of 2^30 / 2^12
    flat[n_w0 + 1] = F32(-2.5 / 4096)  # a bias on a rounding tie
    t.set_params(flat)
    c.load_blob(t.to_blob())
    for x in edge_inputs(rng):
        pc, pt = c.predict_proba(x), t.predict_proba(x)
        assert np.array_equal(pc, pt) or (np.isnan(pc).all() and np.isnan(pt).all())


def test_input_quantization_rule():
    x = np.array([[1.0, -0.5, 0.25, 0.0, 0.99, 1.0 / 256, 1.0 / 255]], F32)
    q, k = q8.quantize_input(x)
    assert k.tolist() == [[6]]  # max 1.0: 1.0 * 2^6 = 64 in [64, 128)
    assert q.tolist() == [[64, -32, 16, 0, 63, 0, 0]]  # 0.25 and 0.251 round to 0 / 0
    q, k = q8.quantize_input(np.array([[127.4, -127.6, 0.5]], F32) / F32(128.0))
    assert k.tolist() == [[7]] and q.tolist() == [[127, -127, 1]]  # -127.6 rounds to -128: kept at -127


def test_grow_requantizes(core, digits):
    arch, to = Arch((64, 16, 10)), Arch((64, 24, 12))
    c = NativeModel(core, arch, Q8, arena_bytes=core.arena_bytes(to, Q8)).init_weights(11)
    t = Mlp(arch, Q8, exact=True).init_weights(11)
    for x, y in zip(digits.x[:50], digits.y[:50], strict=True):
        c.train_step(x, int(y))
        t.train_step(x, int(y))
    c.grow(to, 7)
    t.grow(to, 7)
    for x, y in zip(digits.x[50:150], digits.y[50:150], strict=True):
        c.train_step(x, int(y) + 1)
        t.train_step(x, int(y) + 1)
    assert c.to_blob() == t.to_blob()
    assert np.array_equal(c.predict(digits.x[:200]), t.predict(digits.x[:200]))


def test_hidden_error_bound(digits):
    """One hidden layer: |h_q8 - h| <= wmax/254 * |x|_1 + |w|_1 * (1 + 1/254) * max|x| / 128 + 2^-12
    per row, plus float32 rounding of the float reference (docs/core.md)."""
    arch = Arch((64, 32, 10))
    t = Mlp(arch, Q8).init_weights(4)
    ly = t.layers[0]
    x = digits.x[:500]
    h = q8.hidden_forward(t._q8 or [], x).astype(np.float64)
    ref = np.maximum(x.astype(np.float64) @ ly.w.T.astype(np.float64) + ly.b, 0.0)
    wmax = np.abs(ly.w).max(axis=1).astype(np.float64)
    w1 = np.abs(ly.w).sum(axis=1).astype(np.float64)
    x1 = np.abs(x).sum(axis=1, keepdims=True).astype(np.float64)
    xmax = np.abs(x).max(axis=1, keepdims=True).astype(np.float64)
    bound = wmax / 254 * x1 + w1 * (1 + 1 / 254) * xmax / 128 + 2.0**-12
    err = np.abs(h - ref)
    assert np.all(err <= bound * (1 + 1e-5) + 1e-6)
    assert err.max() > 0  # it is an approximation: the test would see a wrong bound
    assert err.mean() < 0.2 * bound.mean()  # and typically well inside it
