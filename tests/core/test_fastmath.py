"""The softmax's exp (odl_exp.h and its twin reference.fastmath): documented
error bound, and the C core's probabilities equal to the twin's bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service.native_core import NativeModel
from hil_service.reference import Arch, Mlp, fastmath

BOUND = 8.2e-8  # relative, docs/core.md and odl_exp.h


def test_exp_relative_error_is_within_the_documented_bound():
    x = np.linspace(fastmath.X_MIN, 0.0, 4_000_001, dtype=np.float32)
    x = np.concatenate([x, -np.logspace(-8, 0, 100_001, dtype=np.float32)])
    exact = np.exp(x.astype(np.float64))
    rel = np.abs(fastmath.exp(x).astype(np.float64) - exact) / exact
    assert rel.max() <= BOUND


def test_exp_edges():
    out = fastmath.exp(np.array([0.0, -0.0, -1e-30, -88.0, -np.inf, np.nan], np.float32))
    assert out[0] == 1.0 and out[1] == 1.0 and out[2] == 1.0
    assert out[3] == 0.0 and out[4] == 0.0 and np.isnan(out[5])


@pytest.mark.parametrize("arch", [Arch((64, 32, 10)), Arch((64, 24, 16, 10)), Arch((8, 3))], ids=str)
def test_c_probabilities_are_the_twins_bits(core, arch):
    rng = np.random.default_rng(3)
    for seed in range(5):
        c = NativeModel(core, arch).init_weights(seed)
        t = Mlp(arch, exact=True).init_weights(seed)
        for _ in range(20):
            x = (rng.standard_normal(arch.sizes[0]) * 3).astype(np.float32)
            np.testing.assert_array_equal(c.predict_proba(x).view(np.uint32),
                                          t.predict_proba(x).view(np.uint32))
