"""Codec of the continual-learning messages (protocol 4; docs/protocol.md,
"Continual learning"): CONFIGURE's continual form, LOAD_REPLAY and GROW.

Layouts come from the wire table (hil_service.wire_gen); sample records are
packed like a TRAIN batch's, so an int8 memory decodes on the device exactly
as Quantization.dequantize() does on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil_service import wire_gen as W
from hil_service.protocol import Configure, Encoding, Quantization

SIZES_LEN = W.GROW.field("sizes").count


def padded_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    if not 2 <= len(sizes) <= SIZES_LEN:
        raise ValueError(f"{len(sizes)} layer sizes; the body holds 2 to {SIZES_LEN}")
    return tuple(sizes) + (0,) * (SIZES_LEN - len(sizes))


def encode_configure_continual(conf: Configure, max_sizes: tuple[int, ...],
                               replay_capacity: int) -> bytes:
    """CONFIGURE with the largest sizes GROW may reach and the replay memory's bytes."""
    if len(max_sizes) != len(conf.sizes):
        raise ValueError(f"max_sizes {max_sizes} and sizes {conf.sizes} differ in depth")
    if not 0 <= replay_capacity <= 0xFFFFFFFF:
        raise ValueError(f"replay_capacity {replay_capacity} does not fit a u32")
    d = W.CONFIGURE.decode(conf.encode())  # the plain body, range-checked
    return W.CONFIGURE_CONTINUAL.encode(**d, max_sizes=padded_sizes(tuple(max_sizes)),
                                        replay_capacity=replay_capacity)


def replay_records(x: np.ndarray, y: np.ndarray, quant: Quantization | None) -> np.ndarray:
    """(count, record) uint8: per sample [u8 label] + features (float32 LE or int8)."""
    x = np.atleast_2d(np.asarray(x))
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"{y.size} labels for {len(x)} replay samples")
    if len(y) and (y.min() < 0 or y.max() > 255):
        raise ValueError("replay labels must fit in one byte (0..255)")
    if quant is not None:
        feats = quant.quantize(x).view(np.uint8)
    else:
        feats = np.ascontiguousarray(x, dtype="<f4").view(np.uint8).reshape(len(x), -1)
    return np.concatenate([y.astype(np.uint8)[:, None], feats], axis=1)


@dataclass(frozen=True)
class ReplayHead:
    total: int
    n_features: int
    ratio: int
    quant: Quantization | None = None

    def encode(self, first: int, records: bytes) -> bytes:
        q = self.quant
        return W.LOAD_REPLAY.encode(
            first=first, total=self.total, n_features=self.n_features,
            encoding=Encoding.INT8 if q is not None else Encoding.F32, ratio=self.ratio,
            scale=q.scale if q is not None else 0.0, zero_point=q.zero_point if q is not None else 0,
            records=records)

    @property
    def head_bytes(self) -> int:
        return W.LOAD_REPLAY.head_bytes


@dataclass(frozen=True)
class LoadReplayReply:
    received: int
    complete: bool
    replay_bytes: int

    @classmethod
    def decode(cls, body: bytes) -> LoadReplayReply:
        d = W.LOAD_REPLAY_REPLY.decode(body)
        return cls(d["received"], bool(d["complete"]), d["replay_bytes"])


def encode_grow(sizes: tuple[int, ...], seed: int) -> bytes:
    return W.GROW.encode(sizes=padded_sizes(tuple(sizes)), seed=seed)


@dataclass(frozen=True)
class GrowReply:
    n_params: int
    arena_used: int

    @classmethod
    def decode(cls, body: bytes) -> GrowReply:
        return cls(**W.GROW_REPLY.decode(body))
