"""Partitions and update compression: pure functions, no devices."""

from __future__ import annotations

import numpy as np
import pytest

from hil_service import datasets
from hil_service.errors import ConfigError
from hil_service.federation.partitions import parse_partition, partition
from hil_service.federation.weights import (
    arrays_to_blob,
    blob_to_arrays,
    decode_update,
    encode_update,
    parse_compression,
)
from hil_service.reference import Arch, Mlp


@pytest.fixture(scope="module")
def scenario() -> datasets.Scenario:
    return datasets.scenario(datasets.load("digits"), 0.5, 0.25, 0.25, seed=1)


def _keys(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def test_iid_partitions_are_disjoint_cover_the_split_and_follow_the_seed(scenario: datasets.Scenario) -> None:
    parts = partition(scenario, 3, parse_partition("iid"), seed=4, n_classes=10)
    assert sum(len(p.y_train) for p in parts) == len(scenario.y_stream)
    assert sum(len(p.y_test) for p in parts) == len(scenario.y_test)
    a, b, c = (_keys(p.x_train) for p in parts)
    assert not (a & b or a & c or b & c)
    again = partition(scenario, 3, parse_partition("iid"), seed=4, n_classes=10)
    assert all(np.array_equal(p.x_train, q.x_train) for p, q in zip(parts, again, strict=True))
    other = partition(scenario, 3, parse_partition("iid"), seed=5, n_classes=10)
    assert not np.array_equal(parts[0].y_train, other[0].y_train)
    # IID: every device sees every class in about the same share
    counts = np.array([np.bincount(p.y_train, minlength=10) for p in parts])
    assert counts.min() >= 10


def test_dirichlet_skews_labels_the_more_the_smaller_alpha(scenario: datasets.Scenario) -> None:
    def skew(alpha: float) -> float:
        parts = partition(scenario, 3, parse_partition(f"dirichlet({alpha})"), seed=0, n_classes=10)
        shares = np.array([np.bincount(p.y_train, minlength=10) for p in parts], dtype=float)
        shares /= shares.sum(axis=0)
        return float(np.abs(shares - 1 / 3).mean())

    assert skew(0.1) > skew(0.5) > skew(100.0)
    assert skew(100.0) < 0.05


def test_a_device_test_split_follows_its_own_label_mix(scenario: datasets.Scenario) -> None:
    parts = partition(scenario, 3, parse_partition("dirichlet(0.5)"), seed=0, n_classes=10)
    for p in parts:
        train = np.bincount(p.y_train, minlength=10) / len(p.y_train)
        test = np.bincount(p.y_test, minlength=10) / len(p.y_test)
        assert np.abs(train - test).max() < 0.1


def test_domain_shift_gives_each_device_its_own_sensor(scenario: datasets.Scenario) -> None:
    parts = partition(scenario, 3, parse_partition("domain_shift"), seed=2, n_classes=10)
    assert len({(p.gain, p.offset) for p in parts}) == 3
    for p in parts:
        assert p.x_train.min() >= p.offset - 1e-6  # the dark current lifts every pixel


@pytest.mark.parametrize("bad", ["dirichlet(0)", "dirichlet(x)", "shards", ""])
def test_bad_partitions_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="partition"):
        parse_partition(bad)


def test_weights_round_trip_and_compressed_updates() -> None:
    model = Mlp(Arch((64, 16, 10))).init_weights(1)
    blob = model.to_blob()
    glob = blob_to_arrays(blob)
    assert arrays_to_blob(glob) == blob
    rng = np.random.default_rng(0)
    local = [a + rng.normal(0, 0.01, a.shape).astype(np.float32) for a in glob]
    dense = encode_update(local, glob, parse_compression("none"))
    assert sum(a.nbytes for a in dense.values()) == model.arch.n_params * 4
    back = decode_update(dense, glob, parse_compression("none"))
    assert all(np.array_equal(a, b) for a, b in zip(back, local, strict=True))

    top = encode_update(local, glob, parse_compression("topk(0.1)"))
    assert len(top["index"]) == round(0.1 * model.arch.n_params)
    rebuilt = decode_update(top, glob, parse_compression("topk(0.1)"))
    delta = np.concatenate([(a - g).ravel() for a, g in zip(local, glob, strict=True)])
    kept = np.concatenate([(a - g).ravel() for a, g in zip(rebuilt, glob, strict=True)])
    # the kept changes are the largest ones, exactly
    assert np.count_nonzero(kept) == len(top["index"])
    assert np.abs(delta[kept != 0]).min() >= np.abs(delta[kept == 0]).max()

    q = encode_update(local, glob, parse_compression("int8"))
    assert q["q"].dtype == np.int8 and q["q"].size == model.arch.n_params
    err = max(float(np.abs(a - b).max())
              for a, b in zip(decode_update(q, glob, parse_compression("int8")), local, strict=True))
    assert 0 < err < 0.001


@pytest.mark.parametrize("bad", ["topk(0)", "topk(1.5)", "int4", "topk"])
def test_bad_compressions_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="compression"):
        parse_compression(bad)


def test_iid_local_tests_cover_every_class_even_under_label_skew(scenario: datasets.Scenario) -> None:
    skewed = partition(scenario, 3, parse_partition("dirichlet(0.1)"), seed=0, n_classes=10)
    whole = partition(scenario, 3, parse_partition("dirichlet(0.1)"), seed=0, n_classes=10,
                      local_test="iid")
    assert all(np.array_equal(a.y_train, b.y_train) for a, b in zip(skewed, whole, strict=True))
    assert min(np.bincount(p.y_test, minlength=10).min() for p in whole) >= 10
    assert min(np.bincount(p.y_test, minlength=10).min() for p in skewed) < 3
