"""Golden tests: the C core (host build) against the numpy twin in exact mode.

Tolerances (docs/core.md): both do the same float32 operations in the same
order, and the softmax's exp is the core's own, mirrored bit for bit
(test_fastmath.py checks the probabilities bit for bit); logf in the loss
may differ by an ulp. The tolerances are kept as they were:
- initial weights and blobs are bit-identical;
- forward probabilities agree within rtol 1e-5, atol 1e-6;
- gradients within rtol 1e-4, atol 1e-6;
- TinyProp's k per layer and the selected rows are identical at every step;
- weights after N steps of each strategy agree within rtol 1e-5, atol 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.native_core import NativeModel
from hil_service.reference import Arch, Mlp, ScoreKind, StepOutcome, Strategy, TrainParams, read_blob

FWD = dict(rtol=1e-5, atol=1e-6)
WEIGHTS = dict(rtol=1e-5, atol=1e-5)

ARCHS = [Arch((64, 32, 10)), Arch((64, 24, 16, 10)), Arch((64, 10))]

CONFIGS = {
    "full": TrainParams(Strategy.FULL, learning_rate=0.05),
    "full_momentum": TrainParams(Strategy.FULL, learning_rate=0.01, momentum=0.9),
    "last_layer": TrainParams(Strategy.LAST_LAYER, learning_rate=0.05),
    "last_layer_momentum": TrainParams(Strategy.LAST_LAYER, learning_rate=0.02, momentum=0.5),
    "tinyprop": TrainParams(Strategy.TINYPROP, learning_rate=0.05),
    "tinyprop_undamped": TrainParams(Strategy.TINYPROP, learning_rate=0.05, s_min=0.3, s_max=1.0, zeta=1.0),
    "tinyprop_momentum": TrainParams(Strategy.TINYPROP, learning_rate=0.02, momentum=0.8),
    "full_gate": TrainParams(Strategy.FULL, learning_rate=0.05, gate_threshold=0.3),
    "tinyprop_entropy": TrainParams(Strategy.TINYPROP, learning_rate=0.05,
                                    select_score=ScoreKind.ENTROPY, select_threshold=0.6),
    "last_layer_margin": TrainParams(Strategy.LAST_LAYER, learning_rate=0.05,
                                     select_score=ScoreKind.MARGIN, select_threshold=0.1),
}


def pair(core, arch, params, seed=11):
    c = NativeModel(core, arch, params).init_weights(seed)
    t = Mlp(arch, params, exact=True).init_weights(seed)
    return c, t


def c_params(c):
    return read_blob(c.to_blob())[1]


@pytest.mark.parametrize("arch", ARCHS, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_initial_weights_and_blob_are_bit_identical(core, arch, seed):
    c, t = pair(core, arch, None, seed)
    assert c.to_blob() == t.to_blob()


def test_rng_stream_matches(core):
    from hil_service.reference.rng import XorShift32

    for seed in (0, 1, 2**32 - 1, 0x61C88647):
        rng = XorShift32(seed)
        assert core.rng_stream(seed, 50) == [rng.next_u32() for _ in range(50)]


@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_forward_outputs_agree(core, digits, arch):
    c, t = pair(core, arch, None)
    for x in digits.x[:50]:
        np.testing.assert_allclose(c.predict_proba(x), t.predict_proba(x), **FWD)


def numeric_gradient(t: Mlp, x, label, eps=1e-3):
    """Central differences of the cross-entropy in float64 over a few parameters."""
    flat = t.get_params().astype(np.float64)

    def loss(params):
        off, a = 0, x.astype(np.float64)
        for i, (n_in, n_out) in enumerate(zip(t.arch.sizes[:-1], t.arch.sizes[1:], strict=False)):
            w = params[off : off + n_in * n_out].reshape(n_out, n_in)
            off += n_in * n_out
            b = params[off : off + n_out]
            off += n_out
            a = w @ a + b
            if i + 1 < t.arch.n_layers:
                a = np.maximum(a, 0)
        a = a - a.max()
        return np.log(np.exp(a).sum()) - a[label]

    idx = np.random.default_rng(0).choice(flat.size, 60, replace=False)
    grads = []
    for i in idx:
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        grads.append((loss(up) - loss(down)) / (2 * eps))
    return idx, np.array(grads)


@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_gradients_agree_with_each_other_and_with_finite_differences(core, digits, arch):
    # With lr = 1 and no momentum, one full-backprop step moves every
    # parameter by exactly minus its gradient.
    params = TrainParams(Strategy.FULL, learning_rate=1.0)
    for n, (x, label) in enumerate(zip(digits.x[:5], digits.y[:5], strict=False)):
        c, t = pair(core, arch, params, seed=n)
        before = t.get_params()
        idx, numeric = numeric_gradient(t, x, int(label))
        c.train_step(x, int(label))
        t.train_step(x, int(label))
        g_c = before - c_params(c)
        g_t = before - t.get_params()
        np.testing.assert_allclose(g_c, g_t, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g_t[idx], numeric, rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize("arch", ARCHS[:2], ids=str)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_strategy_runs_agree_step_by_step(core, digits, arch, name):
    params = CONFIGS[name]
    c, t = pair(core, arch, params)
    order = np.random.default_rng(5).permutation(len(digits.x))[:150]
    outcomes = set()
    for i in order:
        x, label = digits.x[i], int(digits.y[i])
        rc, rt = c.train_step(x, label), t.train_step(x, label)
        assert rc.outcome == rt.outcome
        assert rc.predicted == rt.predicted
        assert rc.k == rt.k
        assert rc.macs_backward == rt.macs_backward
        assert rc.macs_backward_full == rt.macs_backward_full
        assert rc.macs_forward == rt.macs_forward
        np.testing.assert_allclose(rc.loss, rt.loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(rc.score, rt.score, rtol=1e-4, atol=1e-6)
        if rc.outcome == StepOutcome.TRAINED:
            for sc, st in zip(rc.selected, rt.selected, strict=False):
                np.testing.assert_array_equal(sc, st)
        outcomes.add(rc.outcome)
    np.testing.assert_allclose(c_params(c), t.get_params(), **WEIGHTS)
    # each configuration exercises what it claims to
    if params.gate_threshold > 0:
        assert {StepOutcome.TRAINED, StepOutcome.SKIPPED} <= outcomes
    if params.select_score != ScoreKind.NONE:
        assert {StepOutcome.TRAINED, StepOutcome.NOT_SELECTED} <= outcomes
    stats = c.stats()
    assert stats["seen"] == len(order)


def test_tinyprop_k_follows_the_published_formula(core, digits):
    """k per layer from Y, Y_max, S_min, S_max and zeta, checked independently of both."""
    arch = Arch((64, 24, 16, 10))
    params = TrainParams(Strategy.TINYPROP, learning_rate=0.05, s_min=0.2, s_max=0.8, zeta=0.6)
    c, t = pair(core, arch, params)
    y_max = [0.0] * 3
    for x, label in zip(digits.x[:80], digits.y[:80], strict=False):
        t_before = t.copy()
        acts = t_before._forward(np.asarray(x, np.float32))
        r = c.train_step(x, int(label))
        t.train_step(x, int(label))
        delta = acts[-1].astype(np.float64)
        delta[int(label)] -= 1
        for layer in (2, 1, 0):
            y = np.abs(delta).sum()
            y_max[layer] = max(y_max[layer], y)
            ratio = (0.2 + y * (0.8 - 0.2) / y_max[layer]) * 0.6 ** (2 - layer)
            n_out = arch.sizes[layer + 1]
            k_expected = min(max(int(n_out * ratio), 1), n_out)
            # the float32 core may truncate differently only right at an integer
            if abs(n_out * ratio - round(n_out * ratio)) > 1e-4:
                assert r.k[layer] == k_expected
            rows = np.argsort(-np.abs(delta), kind="stable")[: r.k[layer]]
            assert set(r.selected[layer]) == set(rows)
            if layer > 0:
                w = t_before.layers[layer].w.astype(np.float64)
                down = w[rows].T @ delta[rows]
                delta = np.where(acts[layer] > 0, down, 0.0)


def test_paper_architecture_agrees(core, digits):
    from hil_service.datasets import load

    d28 = load("digits28")
    arch = Arch((784, 32, 16, 10))
    params = TrainParams(Strategy.TINYPROP, learning_rate=0.05)
    c, t = pair(core, arch, params)
    for x, label in zip(d28.x[:30], d28.y[:30], strict=False):
        rc, rt = c.train_step(x, int(label)), t.train_step(x, int(label))
        assert rc.k == rt.k
    np.testing.assert_allclose(c_params(c), t.get_params(), **WEIGHTS)
