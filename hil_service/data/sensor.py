"""Time-series sensor data bundled in the `aeon` wheel: nothing is downloaded.

| name            | aeon set              | samples | channels x length        | classes              |
|-----------------|-----------------------|---------|--------------------------|----------------------|
| basic_motions   | BasicMotions          | 80      | 6 (3-axis acc + gyro) x 100 | 4 activities      |
| pickup_gesture  | PickupGestureWiimoteZ | 100     | 1 (Wii remote z) x 29..361  | 10 gestures       |
| japanese_vowels | JapaneseVowels        | 640     | 12 (LPC cepstra) x 7..29    | 9 speakers        |

Preprocessing, deterministic and the same for every series (FEATURES[name]):
1. japanese_vowels ("resample", 16): each channel resampled to 16 points by linear
   interpolation over the series' own duration (variable length becomes fixed);
   basic_motions ("windows", 4) and pickup_gesture ("windows", 8): each channel cut
   into W near-equal windows, and per window its mean, standard deviation and largest
   magnitude (activities differ in energy more than in phase: raw resampled
   BasicMotions reaches 0.60-0.75 on the host, these features 1.0);
2. flattened row-major from a (rows, cols) grid that is the data set's image_shape:
   (channel, step) for resampled series, (channel * 3 + statistic, window) for
   window features; so an image shift such as `misaligned` moves every row one step
   (one window) later in time;
   (the .ts files are read directly from aeon's package data: importing aeon takes
   seconds);
3. min-max normalisation fitted on the scenario's base split only (datasets.scenario
   calls Dataset.fit_normaliser with the base rows): per channel for resampled
   series, per feature for window features; the base-split range maps to [0, 1] and
   values outside it saturate at 0 or 1, as an ADC's range would.
The resulting feature counts (72, 24, 192) are far below ODL_MAX_INPUTS (1024).
In JapaneseVowels the class is the speaker; it is also carried as the group
"subject". BasicMotions and PickupGestureWiimoteZ carry no subject ids in aeon.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hil_service.errors import ConfigError

if TYPE_CHECKING:
    from hil_service.datasets import Dataset

F32 = np.float32

AEON_NAMES = {"basic_motions": "BasicMotions", "pickup_gesture": "PickupGestureWiimoteZ",
              "japanese_vowels": "JapaneseVowels"}
# ("resample", L): the series at L points; ("windows", W): statistics of W windows
FEATURES = {"basic_motions": ("windows", 4), "pickup_gesture": ("windows", 8),
            "japanese_vowels": ("resample", 16)}
STATS = ("mean", "std", "absmax")
SPEAKER_IS_CLASS = {"japanese_vowels"}


class SensorDataError(ConfigError):
    """A bundled set that cannot be loaded (aeon missing or its file absent)."""


def resample(series: np.ndarray, length: int) -> np.ndarray:
    """(channels, t) -> (channels, length), linear interpolation over the series' span."""
    series = np.asarray(series, dtype=np.float64)
    t = series.shape[1]
    if t == 1:
        return np.repeat(series, length, axis=1)
    src = np.linspace(0.0, 1.0, t)
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, ch) for ch in series])


def _data_dir() -> Path:
    """aeon's bundled data directory, found without importing aeon (its import takes
    seconds: numba)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise SensorDataError("the `aeon` package is not installed (pip install aeon): "
                              "it bundles the sensor data sets")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """A .ts file (sktime/aeon format): series (channels, t), their labels, and the
    header's class labels in declared order."""
    series: list[np.ndarray] = []
    labels: list[str] = []
    declared: list[str] = []
    in_data = False
    for line_no, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.lower().startswith("@classlabel"):
                declared = line.split()[2:]
            in_data = line.lower() == "@data"
            continue
        *chans, label = line.split(":")
        try:
            arr = np.array([[float(v) for v in ch.split(",")] for ch in chans])
        except ValueError:
            raise SensorDataError(f"{path}:{line_no}: channels of unequal length or "
                                  "non-numeric values") from None
        if not np.all(np.isfinite(arr)):
            raise SensorDataError(f"{path}:{line_no}: missing values")
        series.append(arr)
        labels.append(label.strip())
    return series, labels, declared


@functools.cache
def _raw(aeon_name: str) -> tuple[list[np.ndarray], list[str], list[str]]:
    """TRAIN then TEST, concatenated: the scenario makes its own split."""
    series: list[np.ndarray] = []
    labels: list[str] = []
    declared: list[str] = []
    for part in ("TRAIN", "TEST"):
        path = _data_dir() / aeon_name / f"{aeon_name}_{part}.ts"
        if not path.is_file():
            raise SensorDataError(f"dataset {aeon_name}: {path} is missing from the aeon package")
        s, lab, declared = read_ts(path)
        series += s
        labels += lab
    return series, labels, declared


def window_features(series: np.ndarray, windows: int) -> np.ndarray:
    """(channels, t) -> (channels * 3, windows): per channel the mean, standard deviation
    and largest magnitude of each of `windows` consecutive, near-equal time windows
    (np.array_split, so a series shorter than `windows` steps is refused)."""
    series = np.asarray(series, dtype=np.float64)
    if series.shape[1] < windows:
        raise SensorDataError(f"a series of {series.shape[1]} steps cannot make {windows} windows")
    parts = np.array_split(series, windows, axis=1)
    stats = [np.stack([p.mean(axis=1), p.std(axis=1), np.abs(p).max(axis=1)], axis=1) for p in parts]
    return np.stack(stats, axis=2).reshape(-1, windows)  # row c * 3 + s: channel c, statistic s


def min_max(groups: int) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """A fitter: base rows -> transform mapping each of `groups` consecutive feature
    groups (channels, or single features) from its base range to [0, 1]."""

    def fit(x_base: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        if len(x_base) == 0:
            raise SensorDataError("per-channel normalisation needs a non-empty base split")
        per = x_base.reshape(len(x_base), groups, -1)
        lo = per.min(axis=(0, 2)).astype(F32)[None, :, None]
        span = (per.max(axis=(0, 2)) - per.min(axis=(0, 2))).astype(F32)
        span = np.where(span > 0, span, F32(1.0))[None, :, None]  # a flat channel maps to 0

        def transform(x: np.ndarray) -> np.ndarray:
            z = (x.reshape(len(x), groups, -1) - lo) / span
            out: np.ndarray = np.clip(z, 0.0, 1.0).reshape(len(x), -1).astype(F32)
            return out

        return transform

    return fit


def load(name: str) -> Dataset:
    from hil_service.datasets import Dataset

    series, labels, classes = _raw(AEON_NAMES[name])
    mode, size = FEATURES[name]
    if mode == "resample":
        rows = np.stack([resample(s, size) for s in series])
        normalised_rows = rows.shape[1]  # per channel
    else:
        rows = np.stack([window_features(s, size) for s in series])
        normalised_rows = rows.shape[1] * size  # per feature
    x = rows.reshape(len(rows), -1).astype(F32)
    if not np.all(np.isfinite(x)):
        raise SensorDataError(f"dataset {name}: the bundled series hold NaN or Inf")
    # labels are strings ("walking", "1", ...): class i is the header's i-th @classLabel
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise SensorDataError(f"dataset {name}: labels {unknown} are not in the header's @classLabel")
    y = np.array([classes.index(v) for v in labels], dtype=np.int64)
    groups = {"subject": y.copy()} if name in SPEAKER_IS_CLASS else {}
    return Dataset(name, x, y, len(classes), (rows.shape[1], size), groups=groups,
                   fit_normaliser=min_max(normalised_rows))


LOADERS: dict[str, Callable[[], Dataset]] = {
    name: functools.partial(load, name) for name in AEON_NAMES
}
