"""The sensor sets bundled in aeon: shapes, determinism, base-only normalisation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil_service import datasets
from hil_service.data import sensor
from hil_service.reference.mlp import MAX_INPUTS

SHAPES = {  # name: (samples, features, classes, image_shape)
    "basic_motions": (80, 72, 4, (18, 4)),
    "pickup_gesture": (100, 24, 10, (3, 8)),
    "japanese_vowels": (640, 192, 9, (12, 16)),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_and_limits(name: str) -> None:
    ds = datasets.load(name)
    n, f, k, shape = SHAPES[name]
    assert ds.x.shape == (n, f) and ds.x.dtype == np.float32
    assert ds.n_classes == k and set(np.unique(ds.y)) == set(range(k))
    assert ds.image_shape == shape and shape[0] * shape[1] == f
    assert f <= MAX_INPUTS and np.all(np.isfinite(ds.x))


def test_speaker_carried_where_the_set_has_it() -> None:
    jv = datasets.load("japanese_vowels")
    assert np.array_equal(jv.groups["subject"], jv.y)  # the class is the speaker
    assert datasets.load("basic_motions").groups == {}


def test_deterministic() -> None:
    a = datasets.scenario(datasets.load("basic_motions"), 0.5, 0.25, 0.25, seed=4)
    sensor._raw.cache_clear()  # parse the files again
    b = datasets.scenario(datasets.load("basic_motions"), 0.5, 0.25, 0.25, seed=4)
    for name in ("x_base", "y_base", "x_stream", "x_test", "y_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_normalisation_is_fitted_on_the_base_split_only() -> None:
    ds = datasets.load("japanese_vowels")
    sc = datasets.scenario(ds, 0.5, 0.25, 0.25, seed=1)
    per = sc.x_base.reshape(len(sc.x_base), 12, 16)
    # every channel spans exactly [0, 1] on the base split
    assert np.allclose(per.min(axis=(0, 2)), 0.0) and np.allclose(per.max(axis=(0, 2)), 1.0)
    # the same split without normalisation: the rows behind sc's rows
    raw = datasets.scenario(dataclasses.replace(ds, fit_normaliser=None), 0.5, 0.25, 0.25, seed=1)
    assert ds.fit_normaliser is not None
    from_base = ds.fit_normaliser(raw.x_base)
    assert np.allclose(from_base(raw.x_test), sc.x_test, atol=1e-6)
    assert np.allclose(from_base(raw.x_stream), sc.x_stream, atol=1e-6)
    # a fit that saw the test rows would give other values
    leaky = ds.fit_normaliser(np.concatenate([raw.x_base, raw.x_test]))
    assert not np.allclose(leaky(raw.x_test), sc.x_test, atol=1e-3)


def test_series_resampling_and_windows() -> None:
    s = np.array([[0.0, 1.0, 2.0, 3.0]])
    assert np.allclose(sensor.resample(s, 7), [[0, 0.5, 1, 1.5, 2, 2.5, 3]])
    w = sensor.window_features(np.array([[1.0, 3.0, -4.0, 4.0]]), 2)
    # rows: mean, std, |max| of channel 0; columns: the two windows
    assert np.allclose(w, [[2.0, 0.0], [1.0, 4.0], [3.0, 4.0]])
