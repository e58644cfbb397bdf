"""Golden tests of pseudo labels (odl_train_step_unlabelled) and L2-SP in the C
core (host build) against the numpy twin in exact mode: same float32
operations in the same order, so pseudo labels, outcomes, TinyProp's rows and
the weights are compared with == (docs/core.md, "Pseudo labels", "L2-SP")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil_service.native_core import CoreError, NativeModel
from hil_service.reference import Arch, Mlp, ScoreKind, StepOutcome, Strategy, TrainParams, read_blob

ARCH = Arch((64, 32, 10))
DEEP = Arch((64, 24, 16, 10))

# thresholds that split a briefly pretrained model's predictions into both outcomes
PSEUDO = {
    ScoreKind.NONE: 0.0,
    ScoreKind.LEAST_CONFIDENCE: 0.1,  # confident when 1 - p1 <= 0.1
    ScoreKind.MARGIN: 0.8,  # confident when p1 - p2 >= 0.8
    ScoreKind.RATIO: 0.1,  # confident when p2 / p1 <= 0.1
    ScoreKind.ENTROPY: 0.15,  # confident when H / ln C <= 0.15
}


@pytest.fixture(scope="module")
def base(digits) -> bytes:
    """A weak base (2 epochs on 300 samples): its confidence spreads over [0, 1]."""
    m = Mlp(ARCH, TrainParams(Strategy.FULL, learning_rate=0.05)).init_weights(4)
    return m.fit(digits.x[:300], digits.y[:300], 2).to_blob()


@pytest.fixture(scope="module")
def deep_base(digits) -> bytes:
    m = Mlp(DEEP, TrainParams(Strategy.FULL, learning_rate=0.05)).init_weights(4)
    return m.fit(digits.x[:300], digits.y[:300], 2).to_blob()


def pair(core, blob: bytes, params: TrainParams, arch: Arch = ARCH) -> tuple[NativeModel, Mlp]:
    c = NativeModel(core, arch, params)
    c.load_blob(blob)
    return c, Mlp.from_blob(blob, params, exact=True)


def params_of(c: NativeModel) -> np.ndarray:
    return read_blob(c.to_blob())[1]


# -- pseudo labels ---------------------------------------------------------

@pytest.mark.parametrize("strategy", [Strategy.FULL, Strategy.LAST_LAYER, Strategy.TINYPROP], ids=str)
@pytest.mark.parametrize("kind", list(PSEUDO), ids=lambda k: k.name.lower())
def test_pseudo_label_steps_are_bit_identical(core, digits, base, kind, strategy):
    params = TrainParams(strategy, learning_rate=0.05, pseudo_score=kind, pseudo_threshold=PSEUDO[kind])
    c, t = pair(core, base, params)
    xs = digits.x[300:500]
    outcomes = []
    for x in xs:
        rc, rt = c.train_step_unlabelled(x), t.train_step_unlabelled(x)
        assert rc.outcome == rt.outcome and rc.predicted == rt.predicted and rc.k == rt.k
        if rc.outcome == StepOutcome.TRAINED:
            for sc, st in zip(rc.selected, rt.selected, strict=True):
                np.testing.assert_array_equal(sc, st)
        outcomes.append(rc.outcome)
    assert np.array_equal(params_of(c), t.get_params())
    assert c.to_blob() == t.to_blob()
    expected = {StepOutcome.TRAINED} if kind == ScoreKind.NONE else \
        {StepOutcome.TRAINED, StepOutcome.NOT_CONFIDENT}
    assert set(outcomes) == expected
    stats = c.stats()
    assert stats["seen"] == len(xs)
    assert stats["trained"] == outcomes.count(StepOutcome.TRAINED)
    assert stats["selected"] == len(xs) - outcomes.count(StepOutcome.NOT_CONFIDENT)


@pytest.mark.parametrize("kind", list(PSEUDO)[1:], ids=lambda k: k.name.lower())
def test_train_unlabelled_sequences_agree_and_match_the_score_direction(core, digits, base, kind):
    params = TrainParams(Strategy.FULL, learning_rate=0.05, pseudo_score=kind,
                         pseudo_threshold=PSEUDO[kind])
    c, t = pair(core, base, params)
    before = Mlp.from_blob(base, exact=True)
    xs = digits.x[300:420]
    # the first sample's decision, from the base's own scores and the documented direction
    from hil_service.reference import score
    s0 = float(score(before.predict_proba(xs[0]), kind))
    certain = s0 >= PSEUDO[kind] if kind == ScoreKind.MARGIN else s0 <= PSEUDO[kind]
    labels_c, labels_t = c.train_unlabelled(xs), t.train_unlabelled(xs)
    np.testing.assert_array_equal(labels_c, labels_t)
    assert labels_c.dtype == np.int16
    assert (labels_c[0] >= 0) == certain
    assert labels_c[0] in (-1, int(before.predict(xs[0])))
    assert 0 < int((labels_c >= 0).sum()) < len(xs)
    assert c.to_blob() == t.to_blob()


@pytest.mark.parametrize("kind, always, never", [
    (ScoreKind.LEAST_CONFIDENCE, 1.0, 0.0),
    (ScoreKind.MARGIN, 0.0, 1.0),
    (ScoreKind.RATIO, 1.0, 0.0),
    (ScoreKind.ENTROPY, 1.0, 0.0),
], ids=lambda v: v.name.lower() if isinstance(v, ScoreKind) else str(v))
def test_threshold_direction_at_the_ends_of_the_range(core, digits, base, kind, always, never):
    """Each score's certain side: least confidence, ratio, entropy <= t; margin >= t."""
    xs = digits.x[300:340]
    for threshold, want_all in ((always, True), (never, False)):
        params = TrainParams(Strategy.FULL, learning_rate=0.05, pseudo_score=kind,
                             pseudo_threshold=threshold)
        c, t = pair(core, base, params)
        labels = c.train_unlabelled(xs)
        np.testing.assert_array_equal(labels, t.train_unlabelled(xs))
        assert bool((labels >= 0).all()) if want_all else bool((labels < 0).all())


def test_not_confident_changes_nothing_and_gate_and_selection_still_apply(core, digits, base):
    params = TrainParams(Strategy.FULL, learning_rate=0.05, pseudo_score=ScoreKind.MARGIN,
                         pseudo_threshold=1.0)
    c, _ = pair(core, base, params)
    r = c.train_step_unlabelled(digits.x[301])
    assert r.outcome == StepOutcome.NOT_CONFIDENT and r.loss == 0.0 and r.error == 0.0
    assert c.to_blob() == base
    assert c.stats()["seen"] == 1 and c.stats()["selected"] == 0
    # a pseudo-labelled sample then meets data point selection and the skip gate as any
    gated = TrainParams(Strategy.FULL, learning_rate=0.05, pseudo_score=ScoreKind.LEAST_CONFIDENCE,
                        pseudo_threshold=0.5, gate_threshold=0.2)
    c, t = pair(core, base, gated)
    got = {c.train_step_unlabelled(x).outcome for x in digits.x[300:400]}
    for x in digits.x[300:400]:
        t.train_step_unlabelled(x)
    assert {StepOutcome.SKIPPED, StepOutcome.TRAINED, StepOutcome.NOT_CONFIDENT} <= got
    assert c.to_blob() == t.to_blob()


def test_labelled_step_refuses_the_pseudo_marker(core, base):
    c, _ = pair(core, base, TrainParams(Strategy.FULL))
    with pytest.raises(CoreError, match="ODL_ERR_LABEL"):
        c.train_step(np.zeros(64, np.float32), 0xFFFF)


# -- L2-SP -----------------------------------------------------------------

L2SP = {
    "full": TrainParams(Strategy.FULL, learning_rate=0.05, l2sp_lambda=0.05),
    "full_momentum": TrainParams(Strategy.FULL, learning_rate=0.02, momentum=0.5, l2sp_lambda=0.1),
    "last_layer": TrainParams(Strategy.LAST_LAYER, learning_rate=0.05, l2sp_lambda=0.05),
    "last_layer_momentum": TrainParams(Strategy.LAST_LAYER, learning_rate=0.02, momentum=0.5,
                                       l2sp_lambda=0.2),
    "tinyprop": TrainParams(Strategy.TINYPROP, learning_rate=0.05, l2sp_lambda=0.05),
    "tinyprop_momentum": TrainParams(Strategy.TINYPROP, learning_rate=0.02, momentum=0.8,
                                     l2sp_lambda=0.1),
    "full_pseudo": TrainParams(Strategy.FULL, learning_rate=0.05, l2sp_lambda=0.02,
                               pseudo_score=ScoreKind.ENTROPY, pseudo_threshold=0.2),
}


@pytest.mark.parametrize("deep", [False, True], ids=["64-32-10", "64-24-16-10"])
@pytest.mark.parametrize("name", sorted(L2SP))
def test_l2sp_runs_are_bit_identical(core, digits, base, deep_base, name, deep):
    params = L2SP[name]
    arch, blob = (DEEP, deep_base) if deep else (ARCH, base)
    c, t = pair(core, blob, params, arch)
    order = np.random.default_rng(2).permutation(np.arange(300, len(digits.x)))[:150]
    for i in order:
        if params.pseudo_score != ScoreKind.NONE:
            rc, rt = c.train_step_unlabelled(digits.x[i]), t.train_step_unlabelled(digits.x[i])
        else:
            rc, rt = c.train_step(digits.x[i], int(digits.y[i])), t.train_step(digits.x[i], int(digits.y[i]))
        assert rc.outcome == rt.outcome and rc.k == rt.k
    assert c.to_blob() == t.to_blob()
    # and the penalty did something: without it the weights end elsewhere
    plain = Mlp.from_blob(blob, dataclasses.replace(params, l2sp_lambda=0.0), exact=True)
    for i in order:
        if params.pseudo_score != ScoreKind.NONE:
            plain.train_step_unlabelled(digits.x[i])
        else:
            plain.train_step(digits.x[i], int(digits.y[i]))
    anchor = read_blob(blob)[1]
    assert np.linalg.norm(t.get_params() - anchor) < np.linalg.norm(plain.get_params() - anchor)


def test_l2sp_gradient_is_two_lambda_times_the_distance(core, digits, base):
    """One step from W1 with and without the penalty differs by lr * 2 lambda (W1 - W0)."""
    lr, lam = 0.05, 0.25
    t = Mlp.from_blob(base, TrainParams(Strategy.FULL, learning_rate=lr, l2sp_lambda=lam), exact=True)
    for i in range(300, 320):
        t.train_step(digits.x[i], int(digits.y[i]))
    w1 = t.get_params().astype(np.float64)
    w0 = read_blob(base)[1].astype(np.float64)
    without = Mlp.from_blob(t.to_blob(), TrainParams(Strategy.FULL, learning_rate=lr), exact=True)
    x, y = digits.x[330], int(digits.y[330])
    t.train_step(x, y)
    without.train_step(x, y)
    diff = without.get_params().astype(np.float64) - t.get_params().astype(np.float64)
    np.testing.assert_allclose(diff, lr * 2 * lam * (w1 - w0), rtol=1e-3, atol=1e-7)
    # the C core: the same steps give the same bits
    c = NativeModel(core, ARCH, TrainParams(Strategy.FULL, learning_rate=lr, l2sp_lambda=lam))
    c.load_blob(base)
    for i in list(range(300, 320)) + [330]:
        c.train_step(digits.x[i], int(digits.y[i]))
    assert c.to_blob() == t.to_blob()


def test_tinyprop_pulls_only_the_rows_it_updates(core, digits, base):
    params = TrainParams(Strategy.TINYPROP, learning_rate=0.05, l2sp_lambda=0.5)
    c, t = pair(core, base, params)
    for i in range(300, 340):  # move weights away from the anchor
        c.train_step(digits.x[i], int(digits.y[i]))
        t.train_step(digits.x[i], int(digits.y[i]))
    before = t.layers[0].w.copy()
    r = c.train_step(digits.x[350], int(digits.y[350]))
    t.train_step(digits.x[350], int(digits.y[350]))
    assert c.to_blob() == t.to_blob()
    picked = set(r.selected[0].tolist())
    untouched = [row for row in range(ARCH.sizes[1]) if row not in picked]
    assert 0 < r.k[0] < ARCH.sizes[1] and untouched
    np.testing.assert_array_equal(t.layers[0].w[untouched], before[untouched])
    rows = sorted(picked)
    assert not np.array_equal(t.layers[0].w[rows], before[rows])


def test_anchor_is_the_last_loaded_blob(core, digits, base):
    params = TrainParams(Strategy.FULL, learning_rate=0.05, l2sp_lambda=0.1)
    other = Mlp(ARCH).init_weights(99).to_blob()
    c = NativeModel(core, ARCH, params)
    c.load_blob(other)
    for i in range(300, 330):
        c.train_step(digits.x[i], int(digits.y[i]))
    c.load_blob(base)  # the new anchor
    t = Mlp.from_blob(base, params, exact=True)
    for i in range(330, 400):
        c.train_step(digits.x[i], int(digits.y[i]))
        t.train_step(digits.x[i], int(digits.y[i]))
    assert c.to_blob() == t.to_blob()
    # init_weights sets the anchor too
    c2, t2 = NativeModel(core, ARCH, params).init_weights(5), Mlp(ARCH, params, exact=True).init_weights(5)
    for i in range(300, 360):
        c2.train_step(digits.x[i], int(digits.y[i]))
        t2.train_step(digits.x[i], int(digits.y[i]))
    assert c2.to_blob() == t2.to_blob()


@pytest.mark.parametrize("strategy", list(Strategy), ids=str)
@pytest.mark.parametrize("arch", [ARCH, DEEP, Arch((784, 32, 16, 10))], ids=str)
def test_anchor_is_counted_in_the_arena_only_when_on(core, arch, strategy):
    off = core.arena_bytes(arch, TrainParams(strategy, momentum=0.5))
    on = core.arena_bytes(arch, TrainParams(strategy, momentum=0.5, l2sp_lambda=0.01))
    sizes = arch.sizes
    per_layer = [sizes[i + 1] * (sizes[i] + 1) for i in range(arch.n_layers)]
    anchored = per_layer[-1:] if strategy in (Strategy.LAST_LAYER, Strategy.LAST_LAYER_Q8) else per_layer
    assert 4 * sum(anchored) <= on - off <= 4 * sum(anchored) + 7
    # the arena it reports is the arena it needs: one byte less is refused
    NativeModel(core, arch, TrainParams(strategy, l2sp_lambda=0.01),
                arena_bytes=core.arena_bytes(arch, TrainParams(strategy, l2sp_lambda=0.01)))
    with pytest.raises(CoreError, match="ODL_ERR_ARENA_TOO_SMALL"):
        NativeModel(core, arch, TrainParams(strategy, l2sp_lambda=0.01),
                    arena_bytes=core.arena_bytes(arch, TrainParams(strategy)))


@pytest.mark.parametrize("field, value, status", [
    ("l2sp_lambda", 1.5, "ODL_ERR_PARAM"),
    ("l2sp_lambda", -0.1, "ODL_ERR_PARAM"),
    ("l2sp_lambda", float("nan"), "ODL_ERR_NONFINITE"),
    ("pseudo_threshold", 1.01, "ODL_ERR_PARAM"),
    ("pseudo_threshold", -0.5, "ODL_ERR_PARAM"),
    ("pseudo_score", 5, "ODL_ERR_STRATEGY"),
])
def test_core_and_twin_refuse_out_of_range(core, field, value, status):
    with pytest.raises(ValueError):
        TrainParams(Strategy.FULL, **{field: value})
    bad = TrainParams(Strategy.FULL)
    object.__setattr__(bad, field, value)  # past the twin's own check, into the C core
    with pytest.raises(CoreError, match=status):
        NativeModel(core, ARCH, bad)
