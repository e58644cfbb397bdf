"""Real data sets bundled with installed packages, and scenario splits.

Nothing is downloaded: scikit-learn ships the UCI optical digits (1797 8x8
images, 16 grey levels, 10 classes) inside its wheel.

A scenario splits one data set three ways: the host's base data (pretraining),
the stream the device learns from, and the test set, optionally with a domain
shift applied to stream and test to model the device's own sensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hil_service.errors import ConfigError

F32 = np.float32


class DatasetError(ConfigError):
    """Unknown data set or shift, or a split that cannot be made."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # (n, features) float32 in [0, 1]
    y: np.ndarray  # (n,) int64
    n_classes: int
    image_shape: tuple[int, int]
    # per-sample group ids ("domain", "subject") where the data has them (hil_service/data)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    # fitted on the base split only by scenario(); None: features are used as given
    fit_normaliser: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return Dataset("digits", (d.data / 16.0).astype(F32), d.target.astype(np.int64), 10, (8, 8))


def _digits28() -> Dataset:
    """Digits upsampled to 28x28 (bilinear) to feed MNIST-sized models like TinyProp's 784-32-16-10."""
    from scipy.ndimage import zoom

    base = _digits()
    imgs = base.x.reshape(-1, 8, 8)
    big = np.stack([np.clip(zoom(im, 3.5, order=1), 0.0, 1.0) for im in imgs])
    return Dataset("digits28", big.reshape(len(big), -1).astype(F32), base.y, 10, (28, 28))


LOADERS: dict[str, Callable[[], Dataset]] = {"digits": _digits, "digits28": _digits28}


def _register_sensor_sets() -> None:
    from hil_service.data import sensor

    LOADERS.update(sensor.LOADERS)


_register_sensor_sets()


def load(name: str) -> Dataset:
    from hil_service.data import user

    if name.startswith(user.PREFIX):
        return user.load_file(name.removeprefix(user.PREFIX))
    try:
        loader = LOADERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}") from None
    return loader()


# --- domain shifts: what a different sensor does to the same scenes ------------

def _sensor_offset(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A dimmer sensor with dark current: gain 0.45 and an offset of 0.35 on every
    pixel (full scale 1). Base models lose about 17 points of accuracy on digits."""
    return np.clip(0.45 * x + 0.35, 0.0, 1.0).astype(F32)


def _misaligned(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The image lands one pixel to the right (mounting tolerance); the left
    column reads black. Base models lose more than half their accuracy."""
    imgs = x.reshape(-1, *shape)
    moved = np.zeros_like(imgs)
    moved[:, :, 1:] = imgs[:, :, :-1]
    return moved.reshape(len(x), -1)


SHIFTS: dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray]] = {
    "none": lambda x, shape: x,
    "sensor_offset": _sensor_offset,
    "misaligned": _misaligned,
}


def apply_shift(name: str, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    try:
        fn = SHIFTS[name]
    except KeyError:
        raise DatasetError(f"unknown domain shift {name!r}; known: {', '.join(sorted(SHIFTS))}") from None
    return fn(x, shape)


@dataclass(frozen=True)
class Scenario:
    x_base: np.ndarray
    y_base: np.ndarray
    x_stream: np.ndarray
    y_stream: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_test_base_domain: np.ndarray  # the test samples without the shift


def scenario(ds: Dataset, base: float, stream: float, test: float, seed: int = 0,
             shift: str = "none") -> Scenario:
    """Disjoint stratified fractions of ds; the shift applies to stream and test."""
    if min(base, stream, test) < 0 or base + stream + test > 1.0 + 1e-9 or test <= 0:
        raise DatasetError(f"fractions base={base} stream={stream} test={test} must be >= 0, "
                           "test > 0, sum <= 1")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for c in range(ds.n_classes):
        idx = rng.permutation(np.flatnonzero(ds.y == c))
        n = len(idx)
        n_test = int(round(n * test))
        n_stream = int(round(n * stream))
        rest = n - n_test - n_stream
        # fractions that add up to 1 leave no sample out to rounding
        n_base = rest if abs(base + stream + test - 1.0) < 1e-9 else min(int(round(n * base)), rest)
        parts[2] += idx[:n_test].tolist()
        parts[1] += idx[n_test : n_test + n_stream].tolist()
        parts[0] += idx[n_test + n_stream : n_test + n_stream + n_base].tolist()
    base_i, stream_i, test_i = (rng.permutation(np.array(p, dtype=np.int64)) for p in parts)
    x = ds.x if ds.fit_normaliser is None else ds.fit_normaliser(ds.x[base_i])(ds.x)
    shifted = apply_shift(shift, x, ds.image_shape)
    return Scenario(x[base_i], ds.y[base_i], shifted[stream_i], ds.y[stream_i],
                    shifted[test_i], ds.y[test_i], x[test_i])
