"""The model as Flower sees it: parameter arrays, and compressed updates.

The device's weight blob (hil_service.reference.blob) becomes one float32 array
per weight matrix and bias vector, the only thing that crosses the SuperLink
besides scalar metrics. A client may send its change to the global model
instead of the model: the k largest changes (indices + values) or every change
as int8 with a scale per array; the server rebuilds dense weights before the
strategy aggregates, so FedAvg/FedProx/FedAdam see ordinary replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hil_service.errors import ConfigError
from hil_service.reference import Arch, Mlp

__all__ = ["Compression", "arrays_to_blob", "blob_to_arrays", "decode_update", "encode_update",
           "parse_compression"]

F32 = np.float32


class CompressionError(ConfigError):
    """An unknown compression or a k out of range."""


@dataclass(frozen=True)
class Compression:
    kind: str  # none | topk | int8
    k: float = 0.0  # topk: a share of the parameters when < 1, else a count

    def __str__(self) -> str:
        return f"topk({self.k:g})" if self.kind == "topk" else self.kind

    def keep(self, n: int) -> int:
        return max(1, min(n, int(round(self.k * n)) if self.k < 1 else int(self.k)))


_TOPK = re.compile(r"^topk\(\s*([0-9.eE+-]+)\s*\)$")


def parse_compression(text: str) -> Compression:
    """'none', 'int8' or 'topk(K)': K < 1 a share of the parameters, else a count."""
    text = text.strip()
    if text in ("none", "int8"):
        return Compression(text)
    m = _TOPK.match(text)
    if m:
        k = float(m.group(1))
        if k <= 0 or (k >= 1 and k != int(k)):
            raise CompressionError(f"compression {text!r}: k is a share in (0, 1) or a whole count")
        return Compression("topk", k)
    raise CompressionError(f"unknown compression {text!r}; known: none, topk(K), int8")


def blob_to_arrays(blob: bytes) -> list[np.ndarray]:
    model = Mlp.from_blob(blob)
    return [a.astype(F32) for ly in model.layers for a in (ly.w, ly.b)]


def arrays_to_blob(arrays: list[np.ndarray]) -> bytes:
    ws = arrays[0::2]
    sizes = (ws[0].shape[1], *(w.shape[0] for w in ws))
    model = Mlp(Arch(sizes))
    for ly, w, b in zip(model.layers, ws, arrays[1::2], strict=True):
        ly.w = np.asarray(w, F32).reshape(ly.w.shape).copy()
        ly.b = np.asarray(b, F32).reshape(ly.b.shape).copy()
    return model.to_blob()


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    flat: np.ndarray = np.concatenate([a.ravel() for a in arrays]).astype(F32)
    return flat


def _unflat(flat: np.ndarray, like: list[np.ndarray]) -> list[np.ndarray]:
    out, at = [], 0
    for a in like:
        out.append(flat[at: at + a.size].reshape(a.shape).astype(F32))
        at += a.size
    return out


def encode_update(local: list[np.ndarray], global_: list[np.ndarray],
                  how: Compression) -> dict[str, np.ndarray]:
    """What the client sends: its weights (none), or its compressed change to the global ones."""
    if how.kind == "none":
        return {f"p{i}": a.astype(F32) for i, a in enumerate(local)}
    delta = _flat(local) - _flat(global_)
    if how.kind == "topk":
        keep = how.keep(delta.size)
        idx = np.argpartition(np.abs(delta), delta.size - keep)[delta.size - keep:]
        idx.sort()
        return {"index": idx.astype(np.int32), "value": delta[idx].astype(F32)}
    scales = np.array([max(float(np.abs(d).max()), 1e-12) / 127.0
                       for d in _unflat(delta, global_)], dtype=F32)
    q = np.concatenate([np.clip(np.round(d.ravel() / s), -127, 127).astype(np.int8)
                        for d, s in zip(_unflat(delta, global_), scales, strict=True)])
    return {"q": q, "scale": scales}


def decode_update(sent: dict[str, np.ndarray], global_: list[np.ndarray],
                  how: Compression) -> list[np.ndarray]:
    """The dense weights a client's reply stands for."""
    if how.kind == "none":
        return [np.asarray(sent[f"p{i}"], F32) for i in range(len(global_))]
    base = _flat(global_)
    if how.kind == "topk":
        base[np.asarray(sent["index"], np.int64)] += np.asarray(sent["value"], F32)
        return _unflat(base, global_)
    q = np.asarray(sent["q"], np.int8).astype(F32)
    scale = np.repeat(np.asarray(sent["scale"], F32), [a.size for a in global_])
    return _unflat(base + q * scale, global_)
