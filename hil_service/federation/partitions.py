"""How a federation's devices see the data: one partition of the stream and test splits each.

IID (stratified shares), label-skewed (per class, a Dirichlet(α) draw over the
devices decides how its samples spread) and domain shift (IID labels, but every
device its own sensor: gain and dark-current offset drawn per device, the
`sensor_offset` shift of hil_service.datasets with device-specific numbers).
All of it follows from the seed; the same plan on another host cuts the same
partitions. A device's test split follows its own label mix (what that device
will see in use) or, with local_test "iid", is an equal share of the whole task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil_service.datasets import Scenario
from hil_service.errors import ConfigError

__all__ = ["Partition", "PartitionSpec", "load_partition", "parse_partition", "partition",
           "save_partition"]

F32 = np.float32


class PartitionError(ConfigError):
    """A partition that cannot be cut (unknown kind, too little data for the devices)."""


@dataclass(frozen=True)
class PartitionSpec:
    kind: str  # iid | dirichlet | domain_shift
    alpha: float = 0.5

    def __str__(self) -> str:
        return f"dirichlet({self.alpha:g})" if self.kind == "dirichlet" else self.kind


_DIRICHLET = re.compile(r"^dirichlet\(\s*([0-9.eE+-]+)\s*\)$")


def parse_partition(text: str) -> PartitionSpec:
    """'iid', 'dirichlet(0.5)' or 'domain_shift'."""
    text = text.strip()
    if text in ("iid", "domain_shift"):
        return PartitionSpec(text)
    m = _DIRICHLET.match(text)
    if m:
        alpha = float(m.group(1))
        if not 0 < alpha <= 1e6:
            raise PartitionError(f"partition {text!r}: alpha must be > 0")
        return PartitionSpec("dirichlet", alpha)
    raise PartitionError(f"unknown partition {text!r}; known: iid, dirichlet(ALPHA), domain_shift")


@dataclass(frozen=True)
class Partition:
    """One device's data: what only its client ever reads."""

    index: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    gain: float = 1.0  # the device's sensor (domain_shift), 1/0 otherwise
    offset: float = 0.0


def _shares(spec: PartitionSpec, n_devices: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(classes, devices): which share of each class goes to each device."""
    if spec.kind == "dirichlet":
        return rng.dirichlet(np.full(n_devices, spec.alpha), size=n_classes)
    return np.full((n_classes, n_devices), 1.0 / n_devices)


def _split(y: np.ndarray, shares: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    n_devices = shares.shape[1]
    parts: list[list[int]] = [[] for _ in range(n_devices)]
    for c in range(shares.shape[0]):
        idx = rng.permutation(np.flatnonzero(y == c))
        cuts = np.round(np.cumsum(shares[c])[:-1] * len(idx)).astype(int)
        for d, chunk in enumerate(np.split(idx, cuts)):
            parts[d] += chunk.tolist()
    return [rng.permutation(np.array(p, dtype=np.int64)) for p in parts]


def partition(sc: Scenario, n_devices: int, spec: PartitionSpec, seed: int,
              n_classes: int, local_test: str = "label_mix") -> list[Partition]:
    """The stream split as training data and the test split as local tests, one share per device.

    local_test "label_mix": a device's test split has its training label mix (what it
    sees in use); "iid": an equal random share of the test split (the whole task)."""
    if local_test not in ("label_mix", "iid"):
        raise PartitionError(f"unknown local_test {local_test!r}; known: label_mix, iid")
    if n_devices < 1:
        raise PartitionError("a federation needs at least one device")
    rng = np.random.default_rng(seed)
    shares = _shares(spec, n_devices, n_classes, rng)
    train = _split(sc.y_stream, shares, rng)
    test = _split(sc.y_test, shares if local_test == "label_mix"
                  else _shares(PartitionSpec("iid"), n_devices, n_classes, rng), rng)
    out = []
    for d in range(n_devices):
        if len(train[d]) == 0 or len(test[d]) == 0:
            raise PartitionError(f"partition {spec} with seed {seed} leaves device {d} without "
                                 f"training or test samples; raise alpha or the stream/test shares")
        xt, xs = sc.x_stream[train[d]], sc.x_test[test[d]]
        gain, offset = 1.0, 0.0
        if spec.kind == "domain_shift":
            # each sensor its own gain and dark current, around datasets' sensor_offset
            gain, offset = float(rng.uniform(0.45, 1.0)), float(rng.uniform(0.0, 0.35))
            xt = np.clip(gain * xt + offset, 0.0, 1.0).astype(F32)
            xs = np.clip(gain * xs + offset, 0.0, 1.0).astype(F32)
        out.append(Partition(d, xt, sc.y_stream[train[d]], xs, sc.y_test[test[d]], gain, offset))
    return out


def save_partition(p: Partition, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, index=p.index, x_train=p.x_train, y_train=p.y_train, x_test=p.x_test,
             y_test=p.y_test, gain=p.gain, offset=p.offset)


def load_partition(path: Path) -> Partition:
    with np.load(path) as z:
        return Partition(int(z["index"]), z["x_train"].astype(F32), z["y_train"].astype(np.int64),
                         z["x_test"].astype(F32), z["y_test"].astype(np.int64), float(z["gain"]),
                         float(z["offset"]))
