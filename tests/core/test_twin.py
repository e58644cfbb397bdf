"""The numpy twin's own contracts: validation, uncertainty scores, data."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service import datasets
from hil_service.native_core import CoreError
from hil_service.reference import Arch, Mlp, ScoreKind, Strategy, TrainParams, score, selects, top2
from hil_service.reference.uncertainty import batch_scores


@pytest.mark.parametrize("sizes", [(64,), (0, 10), (64, 1), (2000, 10), (64, 300, 10), (8, 8, 8, 8, 8, 8)])
def test_arch_refuses_invalid_sizes(sizes):
    with pytest.raises(ValueError, match="architecture"):
        Arch(sizes)


@pytest.mark.parametrize(
    "kwargs",
    [dict(learning_rate=0), dict(momentum=1.0), dict(s_min=0.5, s_max=0.4), dict(zeta=0),
     dict(gate_threshold=2), dict(select_threshold=-1), dict(learning_rate=float("nan"))],
)
def test_train_params_refuse_what_the_core_refuses(core, kwargs):
    with pytest.raises(ValueError):
        TrainParams(**kwargs)
    # build the same parameters unchecked and ask the C core
    p = object.__new__(TrainParams)
    for k, v in {**TrainParams().__dict__, **kwargs}.items():
        object.__setattr__(p, k, v)
    with pytest.raises(CoreError) as err:
        core.arena_bytes(Arch((8, 4, 3)), p)
    assert err.value.name in ("ODL_ERR_PARAM", "ODL_ERR_NONFINITE")


def test_uncertainty_scores_agree_with_c(core):
    rng = np.random.default_rng(0)
    for _ in range(50):
        logits = rng.normal(scale=rng.uniform(0.1, 5), size=10)
        p = (np.exp(logits) / np.exp(logits).sum()).astype(np.float32)
        for kind in ScoreKind:
            np.testing.assert_allclose(score(p, kind), core.uncertainty(p, int(kind)), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(batch_scores(p[None], kind)[0], score(p, kind), rtol=1e-5, atol=1e-6)


def test_uncertainty_directions():
    confident = np.array([0.97, 0.01, 0.01, 0.01], np.float32)
    unsure = np.array([0.4, 0.35, 0.15, 0.1], np.float32)
    for kind in (ScoreKind.LEAST_CONFIDENCE, ScoreKind.RATIO, ScoreKind.ENTROPY):
        assert score(unsure, kind) > score(confident, kind)
        assert selects(kind, score(unsure, kind), 0.5) and not selects(kind, score(confident, kind), 0.5)
    assert score(unsure, ScoreKind.MARGIN) < score(confident, ScoreKind.MARGIN)
    assert selects(ScoreKind.MARGIN, score(unsure, ScoreKind.MARGIN), 0.2)
    assert top2(np.array([0.3, 0.3, 0.4], np.float32))[::2] == (2, 0)


def test_inference_only_model_refuses_to_train():
    m = Mlp(Arch((8, 4, 3))).init_weights(1)
    with pytest.raises(RuntimeError, match="inference only"):
        m.train_step(np.zeros(8), 0)


def test_wrong_shape_and_label_are_named():
    m = Mlp(Arch((8, 4, 3)), TrainParams()).init_weights(1)
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        m.train_step(np.zeros(7), 0)
    with pytest.raises(ValueError, match="label 3"):
        m.train_step(np.zeros(8), 3)
    with pytest.raises(ValueError, match="NaN"):
        m.predict(np.full(8, np.nan))


def test_fast_and_exact_modes_train_alike(digits):
    p = TrainParams(Strategy.TINYPROP, learning_rate=0.05)
    fast = Mlp(Arch((64, 32, 10)), p).init_weights(3)
    exact = Mlp(Arch((64, 32, 10)), p, exact=True).init_weights(3)
    for x, y in zip(digits.x[:100], digits.y[:100], strict=False):
        fast.train_step(x, int(y))
        exact.train_step(x, int(y))
    np.testing.assert_allclose(fast.get_params(), exact.get_params(), rtol=1e-4, atol=1e-5)


def test_digits_are_the_real_bundled_set(digits):
    assert digits.x.shape == (1797, 64) and digits.x.dtype == np.float32
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0
    assert np.bincount(digits.y).min() >= 170


def test_scenario_splits_are_disjoint_stratified_and_shifted(digits):
    sc = datasets.scenario(digits, base=0.5, stream=0.25, test=0.25, seed=1, shift="sensor_offset")
    assert len(sc.x_base) + len(sc.x_stream) + len(sc.x_test) == 1797
    keys = lambda xs: {x.tobytes() for x in xs}
    assert not keys(sc.x_base) & keys(sc.x_test_base_domain)
    assert sc.x_test.min() >= 0.35 - 1e-6  # the sensor's dark-current offset
    np.testing.assert_allclose(sc.x_test, 0.45 * sc.x_test_base_domain + 0.35, atol=1e-6)
    assert set(np.bincount(sc.y_test)) <= {44, 45, 46}


def test_bad_dataset_requests_are_named(digits):
    with pytest.raises(datasets.DatasetError, match="unknown dataset 'mnist'"):
        datasets.load("mnist")
    with pytest.raises(datasets.DatasetError, match="unknown domain shift 'fog'"):
        datasets.scenario(digits, 0.5, 0.2, 0.3, shift="fog")
    with pytest.raises(datasets.DatasetError, match="fractions"):
        datasets.scenario(digits, 0.8, 0.2, 0.3)
