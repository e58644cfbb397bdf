"""xorshift32 stream of the core (firmware_zephyr/core/include/odl/odl_rng.h), bit for bit."""

from __future__ import annotations

import numpy as np

_MASK = 0xFFFFFFFF


def seed_state(seed: int) -> int:
    state = (seed * 0x9E3779B9 + 0x7F4A7C15) & _MASK
    return state if state != 0 else 1


class XorShift32:
    def __init__(self, seed: int) -> None:
        self.state = seed_state(seed)

    def next_u32(self) -> int:
        x = self.state
        x ^= (x << 13) & _MASK
        x ^= x >> 17
        x ^= (x << 5) & _MASK
        self.state = x
        return x

    def uniform(self, n: int) -> np.ndarray:
        """n floats in [0, 1) exactly as odl_rng_uniform() makes them."""
        top24 = np.fromiter((self.next_u32() >> 8 for _ in range(n)), dtype=np.uint32, count=n)
        return top24.astype(np.float32) * np.float32(1.0 / 16777216.0)
