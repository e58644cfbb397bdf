"""Replay sets for continual learning: a few samples a class standing in for old data.

Three ways to fill a budget, all per class and in numpy:
- `random`: samples drawn uniformly (the baseline every paper reports);
- `herding`: iCaRL's herding (Rebuffi et al., CVPR 2017): greedily pick the sample
  that brings the mean embedding of the picked ones closest to the class mean;
- `distribution_matching`: dataset distillation by distribution matching (Zhao &
  Bilen, "Dataset Condensation with Distribution Matching", WACV 2023): synthetic
  samples, initialised from real ones, are optimised so that their mean embedding
  matches the real class's mean embedding under many randomly initialised
  networks (ReLU layers initialised as the twin's are; a fresh network each
  iteration). The gradient of the squared distance through a ReLU layer is
  exact and cheap, so no deep-learning framework is needed.

A budget is given in samples or bytes; a replay sample costs features * 4 bytes
(float32) or features (int8) plus one label byte. Sets are cached under a key that
hashes the data, the method, its parameters and this module's source, as the base
models are (base_models.cache_dir()/replay).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from hil_service.errors import ConfigError
from hil_service.reference import Mlp

F32 = np.float32


class DistillError(ConfigError):
    """A replay budget or request that cannot be met."""


class Method(str, Enum):
    RANDOM = "random"
    HERDING = "herding"
    DISTRIBUTION_MATCHING = "distribution_matching"


@dataclass(frozen=True)
class DmParams:
    """Distribution matching: iterations, Adam step on the samples, embedding widths
    (one or two ReLU layers of a random twin network), real samples per iteration."""

    iterations: int = 300
    step: float = 0.01
    widths: tuple[int, ...] = (256, 128)
    real_batch: int = 128


@dataclass(frozen=True)
class ReplaySet:
    x: np.ndarray  # (m, features) float32
    y: np.ndarray  # (m,) int64
    method: Method
    key: str
    cached: bool
    matching_loss: tuple[float, float] | None = None  # DM: mean loss at the start and the end

    def nbytes(self, encoding: str = "float32") -> int:
        return len(self.x) * sample_bytes(self.x.shape[1], encoding)


def sample_bytes(n_features: int, encoding: str = "float32") -> int:
    if encoding not in ("float32", "int8"):
        raise DistillError(f"unknown encoding {encoding!r}; known: float32, int8")
    return n_features * (4 if encoding == "float32" else 1) + 1


def per_class(n_classes: int, n_features: int, *, samples: int | None = None,
              nbytes: int | None = None, encoding: str = "float32") -> int:
    """Samples a class for a total budget in samples or bytes (exactly one of them)."""
    if (samples is None) == (nbytes is None):
        raise DistillError("give a replay budget in samples or in bytes, not both or neither")
    total = samples if samples is not None else int(nbytes or 0) // sample_bytes(n_features, encoding)
    k = total // n_classes
    if k < 1:
        raise DistillError(f"a replay budget of {total} samples cannot hold one sample for each of "
                           f"{n_classes} classes")
    return k


# -- the three methods -----------------------------------------------------------

def _random(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return x[rng.choice(len(x), size=k, replace=False)]


def _herding(x: np.ndarray, k: int, embed: np.ndarray) -> np.ndarray:
    """iCaRL herding on L2-normalised embeddings."""
    phi = embed / np.maximum(np.linalg.norm(embed, axis=1, keepdims=True), 1e-12)
    mu = phi.mean(axis=0)
    picked: list[int] = []
    acc = np.zeros_like(mu)
    for i in range(1, k + 1):
        d = np.linalg.norm(mu[None, :] - (acc[None, :] + phi) / i, axis=1)
        d[picked] = np.inf  # without replacement
        j = int(np.argmin(d))
        picked.append(j)
        acc += phi[j]
    out: np.ndarray = x[np.array(picked)]
    return out


def _random_net(n_in: int, widths: tuple[int, ...], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Hidden layers of a fresh network with the twin's initialisation (He-uniform,
    Mlp.init_weights) drawn from numpy's generator: the core's xorshift stream runs
    in Python and would take most of the time over thousands of networks. Small random
    biases keep the ReLUs from all switching at the origin."""
    rng = np.random.default_rng(seed)
    layers = []
    for a, b in zip((n_in, *widths[:-1]), widths, strict=True):
        limit = np.sqrt(6.0 / a)
        layers.append((rng.uniform(-limit, limit, (b, a)), rng.normal(0.0, 0.1, b)))
    return layers


def _embed_grad(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray,
                g_out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean embedding of x, and (if g_out, the loss's gradient w.r.t. that mean, is
    given) the gradient w.r.t. every row of x."""
    acts = [x]
    for w, b in layers:
        acts.append(np.maximum(acts[-1] @ w.T + b, 0.0))
    mean = acts[-1].mean(axis=0)
    if g_out is None:
        return mean, None
    g = np.broadcast_to(g_out / len(x), acts[-1].shape)
    for (w, _), a_out in zip(reversed(layers), reversed(acts[1:]), strict=True):
        g = (g * (a_out > 0)) @ w
    return mean, g


def _distribution_matching(x: np.ndarray, k: int, rng: np.random.Generator, seed: int,
                           p: DmParams) -> tuple[np.ndarray, tuple[float, float]]:
    real = x.astype(np.float64)
    syn = real[rng.choice(len(real), size=k, replace=False)].copy()
    lo, hi = real.min(axis=0), real.max(axis=0)  # stay inside the features' range
    m, v = np.zeros_like(syn), np.zeros_like(syn)
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses: list[float] = []
    for it in range(1, p.iterations + 1):
        layers = _random_net(x.shape[1], p.widths, seed * 100_003 + it)
        batch = real[rng.choice(len(real), size=min(p.real_batch, len(real)), replace=False)]
        mu_real, _ = _embed_grad(layers, batch, None)
        mu_syn, _ = _embed_grad(layers, syn, None)
        diff = mu_syn - mu_real
        losses.append(float(diff @ diff))
        _, g = _embed_grad(layers, syn, 2.0 * diff)
        assert g is not None
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        syn -= p.step * (m / (1 - b1**it)) / (np.sqrt(v / (1 - b2**it)) + eps)
        syn = np.clip(syn, lo, hi)
    window = max(1, p.iterations // 10)
    return syn.astype(F32), (float(np.mean(losses[:window])), float(np.mean(losses[-window:])))


def matching_loss(x_real: np.ndarray, x_syn: np.ndarray, p: DmParams = DmParams(),
                  nets: int = 50, seed: int = 12345) -> float:
    """Mean squared distance of mean embeddings under `nets` fresh random networks (the
    DM objective, on networks none of the methods saw): lower is a closer match."""
    out = []
    with threadpool_limits(1):
        for i in range(nets):
            layers = _random_net(x_real.shape[1], p.widths, seed + i)
            a, _ = _embed_grad(layers, x_real.astype(np.float64), None)
            b, _ = _embed_grad(layers, x_syn.astype(np.float64), None)
            out.append(float((a - b) @ (a - b)))
    return float(np.mean(out))


def _hidden(model: Mlp, x: np.ndarray) -> np.ndarray:
    """The model's last hidden activations (its feature space, as iCaRL herds in)."""
    a = x.astype(F32)
    for ly in model.layers[:-1]:
        a = np.maximum((a @ ly.w.T).astype(F32) + ly.b, F32(0.0))
    return a


# -- building, with the cache ------------------------------------------------------

def _code_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes() + np.__version__.encode()).hexdigest()[:16]


def replay_key(method: Method, x: np.ndarray, y: np.ndarray, k: int, seed: int,
               dm: DmParams, model: Mlp | None) -> str:
    meta = {"method": method.value, "k": k, "seed": seed, "code": _code_hash(),
            "dm": [dm.iterations, dm.step, list(dm.widths), dm.real_batch]
            if method is Method.DISTRIBUTION_MATCHING else None}
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    h.update(np.ascontiguousarray(x, dtype=F32).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    if method is Method.HERDING and model is not None:
        h.update(model.to_blob())
    return h.hexdigest()


def build(method: Method | str, x: np.ndarray, y: np.ndarray, k: int, *, seed: int = 0,
          model: Mlp | None = None, dm: DmParams = DmParams(),
          directory: Path | None = None) -> ReplaySet:
    """k samples of every class in y (k at most the class's size), from the cache or made
    now. Herding embeds with model's last hidden layer when given, else the raw features."""
    method = Method(method)
    x = np.asarray(x, dtype=F32)
    y = np.asarray(y, dtype=np.int64)
    classes = np.unique(y)
    small = [int(c) for c in classes if np.sum(y == c) < k]
    if small:
        raise DistillError(f"class {small[0]} has {int(np.sum(y == small[0]))} samples, fewer than "
                           f"the {k} a class the replay budget asks for")
    key = replay_key(method, x, y, k, seed, dm, model)
    if directory is None:
        from hil_service.base_models import cache_dir

        directory = cache_dir() / "replay"
    path = directory / f"{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            loss = tuple(float(v) for v in z["loss"]) if "loss" in z.files else None
            return ReplaySet(z["x"], z["y"], method, key, True,
                             (loss[0], loss[1]) if loss else None)
    xs: list[np.ndarray] = []
    losses: list[tuple[float, float]] = []
    for c in classes:
        xc = x[y == c]
        rng = np.random.default_rng([seed, int(c)])
        if method is Method.RANDOM:
            xs.append(_random(xc, k, rng))
        elif method is Method.HERDING:
            xs.append(_herding(xc, k, _hidden(model, xc) if model is not None else xc))
        else:
            # small products: BLAS threads only contend for the shared cores (10x slower here)
            with threadpool_limits(1):
                syn, loss = _distribution_matching(xc, k, rng, seed * 1000 + int(c), dm)
            xs.append(syn)
            losses.append(loss)
    rx = np.concatenate(xs).astype(F32)
    ry = np.repeat(classes, k).astype(np.int64)
    mean_loss = ((float(np.mean([a for a, _ in losses])), float(np.mean([b for _, b in losses])))
                 if losses else None)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:  # write then rename: a parallel run never reads half a file
        if mean_loss:
            np.savez(f, x=rx, y=ry, loss=np.array(mean_loss))
        else:
            np.savez(f, x=rx, y=ry)
    os.replace(tmp, path)
    return ReplaySet(rx, ry, method, key, False, mean_loss)
