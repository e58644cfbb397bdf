"""int8 hidden layers of the last_layer_q8 strategy, bit for bit as the C core
(firmware_zephyr/core/src/odl_strategy_last_layer_q8.c; scheme in docs/core.md).

Everything after the weights' quantization is integer arithmetic (int64 here,
int32/int64 in C, no overflow either side), so the twin is exact in both of
Mlp's modes. Functions take a batch (n, features) and return one row a sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

F32 = np.float32
FRAC = 12  # fractional bits of a pre-activation z
BIAS_MAX = 1 << 30
INT32_MAX = (1 << 31) - 1
I64 = np.int64


@dataclass(frozen=True)
class QLayer:
    """One hidden layer: int8 weights, the per-row step r = mant * 2^expo, bias in Q.12."""

    wq: np.ndarray  # (n_out, n_in) int64 holding -127..127
    mant: np.ndarray  # (n_out,)
    expo: np.ndarray
    bias: np.ndarray


def _roundf(v: np.ndarray) -> np.ndarray:
    """C's roundf (half away from zero) of float32 values, exact in float64."""
    d = v.astype(np.float64)
    rounded: np.ndarray = np.sign(d) * np.floor(np.abs(d) + 0.5)
    return rounded


def quantize_layer(w: np.ndarray, b: np.ndarray) -> QLayer:
    """quantize_row() of every row: wq = roundf(w * (127 / wmax)), r = wmax / 127."""
    w = np.ascontiguousarray(w, F32)
    amax = (w.view(np.uint32) & np.uint32(0x7FFFFFFF)).max(axis=1)
    normal = (amax >> np.uint32(23)) != 0  # a zero or subnormal row is all zeros
    wmax = np.where(normal, amax, np.float32(1.0).view(np.uint32)).astype(np.uint32).view(F32)
    scale = (F32(127.0) / wmax).astype(F32)
    wq = np.clip(_roundf((w * scale[:, None]).astype(F32)), -127, 127).astype(I64)
    wq[~normal] = 0
    u = (wmax / F32(127.0)).astype(F32).view(np.uint32).astype(I64)
    mant = np.where(normal, (u & 0x7FFFFF) | 0x800000, 0).astype(I64)
    expo = np.where(normal, (u >> 23) - 150, 0).astype(I64)
    with np.errstate(over="ignore"):
        bq = _roundf((np.asarray(b, F32) * F32(4096.0)).astype(F32))
    bias = np.clip(bq, -BIAS_MAX, BIAS_MAX).astype(I64)
    return QLayer(wq, mant, expo, bias)


def quantize_input(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 inputs (n, d) and each sample's power of two k: max |x| * 2^k in [64, 128)."""
    u = np.ascontiguousarray(x, F32).view(np.uint32).astype(I64)
    e_max = (u & 0x7FFFFFFF).max(axis=1, keepdims=True) >> 23
    e8 = (u >> 23) & 0xFF
    mant = np.where(e8 != 0, (u & 0x7FFFFF) | 0x800000, u & 0x7FFFFF)
    sh = 17 + e_max - np.maximum(e8, 1)
    s = np.minimum(sh, 24)
    v = np.where(sh > 24, 0, (mant + (I64(1) << (s - 1))) >> s)
    v = np.minimum(v, 127)
    q = np.where((u >> 31) != 0, -v, v)
    zero = e_max == 0  # an all-zero or all-subnormal sample
    q = np.where(zero, 0, q)
    k = np.where(zero, 0, 133 - e_max)
    return q.astype(I64), k.astype(I64)


def requantize(acc: np.ndarray, ql: QLayer, fx: np.ndarray) -> np.ndarray:
    """Q.12 pre-activations (n, n_out) from int32 sums acc, before ReLU."""
    p = acc * ql.mant[None, :]
    sh = fx - FRAC - ql.expo[None, :]
    right = np.clip(sh, 1, 49)
    left = np.clip(-sh, 0, 13)
    t = np.where(sh >= 50, 0,
                 np.where(sh > 0, (p + (I64(1) << (right - 1))) >> right,
                          np.where(sh > -14, p * (I64(1) << left), np.sign(p) * INT32_MAX)))
    clipped: np.ndarray = np.clip(t + ql.bias[None, :], -INT32_MAX, INT32_MAX)
    return clipped


def hidden_forward(layers: Sequence[QLayer], x: np.ndarray) -> np.ndarray:
    """The last hidden layer's activations (n, width) as float32, from inputs (n, d)."""
    q, fx = quantize_input(np.atleast_2d(x))
    for i, ql in enumerate(layers):
        z = np.maximum(requantize(q @ ql.wq.T, ql, fx), 0)  # ReLU
        if i + 1 == len(layers):
            h: np.ndarray = np.where(z != 0, z.astype(F32) * F32(1.0 / 4096.0), F32(0.0)).astype(F32)
            return h
        zmax = z.max(axis=1, keepdims=True)
        t = np.zeros_like(zmax)
        for _ in range(32):  # smallest t with zmax >> t <= 127
            t += (zmax >> t) > 127
        half = np.where(t > 0, I64(1) << np.maximum(t - 1, 0), 0)
        q = np.minimum((z + half) >> t, 127)
        fx = FRAC - t
    raise ValueError("last_layer_q8 needs at least one hidden layer")


def quantize_hidden(weights: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[QLayer]:
    """The int8 copy of the hidden layers, made whenever weights are set."""
    return [quantize_layer(w, b) for w, b in weights]
