"""Splits by group: a user's `domain` or `subject` column as the shift itself.

`group_scenario(ds, "subject", base_groups=[0, 1, 2])` pretrains on those subjects
and leaves the others' samples for the device: per-subject personalisation, or a
real domain shift when the column is `domain`. The stream and test splits are
stratified by class within the held-out groups; the data set's normaliser is fitted
on the base rows only, as in datasets.scenario.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hil_service.datasets import Dataset, DatasetError, Scenario


def group_scenario(ds: Dataset, key: str, base_groups: Sequence[int], stream: float = 0.5,
                   seed: int = 0, held_out: Sequence[int] | None = None) -> Scenario:
    """Base: every sample of base_groups. Stream and test: the samples of held_out (default:
    every other group), a `stream` fraction of each class to the stream, the rest to test."""
    if key not in ds.groups:
        raise DatasetError(f"dataset {ds.name} has no {key!r} column; it has: "
                           f"{', '.join(sorted(ds.groups)) or 'none'}")
    if not 0.0 < stream < 1.0:
        raise DatasetError(f"stream fraction {stream} must be in (0, 1)")
    g = ds.groups[key]
    known = set(np.unique(g).tolist())
    base_set = set(base_groups)
    rest = set(held_out) if held_out is not None else known - base_set
    for name, chosen in (("base", base_set), ("held-out", rest)):
        unknown = sorted(chosen - known)
        if unknown:
            raise DatasetError(f"{name} {key} {unknown[0]} is not in dataset {ds.name}")
        if not chosen:
            raise DatasetError(f"no {name} {key} groups")
    if base_set & rest:
        raise DatasetError(f"{key} {sorted(base_set & rest)[0]} is both base and held out")
    rng = np.random.default_rng(seed)
    base_i = rng.permutation(np.flatnonzero(np.isin(g, sorted(base_set))))
    if not len(base_i):
        raise DatasetError(f"no samples in base {key} groups {sorted(base_set)}")
    other = np.flatnonzero(np.isin(g, sorted(rest)))
    stream_i: list[int] = []
    test_i: list[int] = []
    for c in range(ds.n_classes):
        idx = rng.permutation(other[ds.y[other] == c])
        n = int(round(len(idx) * stream))
        stream_i += idx[:n].tolist()
        test_i += idx[n:].tolist()
    if not test_i:
        raise DatasetError(f"held-out {key} groups {sorted(rest)} leave no test samples")
    s = rng.permutation(np.array(stream_i, dtype=np.int64))
    t = rng.permutation(np.array(test_i, dtype=np.int64))
    x = ds.x if ds.fit_normaliser is None else ds.fit_normaliser(ds.x[base_i])(ds.x)
    return Scenario(x[base_i], ds.y[base_i], x[s], ds.y[s], x[t], ds.y[t], x[t])
