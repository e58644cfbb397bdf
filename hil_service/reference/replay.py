"""The device's replay memory and its schedule (odl_replay.h), for the twin.

After every new sample's training step come `ratio` replay steps on memory
samples in round-robin order; the cursor starts at 0 when the memory is
loaded and carries across TRAIN batches and growth. An int8 memory holds
exactly the values the device decodes (Quantization.dequantize).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hil_service.protocol import Quantization
from hil_service.reference.mlp import Mlp, StepResult

F32 = np.float32


def replay_bytes(count: int, n_features: int, quantized: bool) -> int:
    """Bytes the device's memory holds: per sample a u8 label and the features."""
    return count * (1 + n_features * (1 if quantized else 4))


@dataclass
class ReplayMemory:
    x: np.ndarray  # (count, n_features) float32, as the device decodes it
    y: np.ndarray  # (count,) int
    ratio: int
    quantized: bool = False
    cursor: int = 0

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, ratio: int,
              quant: Quantization | None = None) -> ReplayMemory:
        if not 0 <= ratio <= 255:
            raise ValueError(f"replay ratio {ratio} out of 0..255")
        x = np.atleast_2d(np.asarray(x, F32))
        y = np.asarray(y, np.int64)
        if y.shape != (len(x),):
            raise ValueError(f"{y.size} labels for {len(x)} replay samples")
        if quant is not None:
            x = quant.dequantize(quant.quantize(x))
        return cls(x, y, ratio, quant is not None)

    @property
    def nbytes(self) -> int:
        return replay_bytes(len(self.y), self.x.shape[1], self.quantized)

    def steps(self, model: Mlp) -> list[StepResult]:
        """The replay steps owed after one new sample."""
        out: list[StepResult] = []
        if len(self.y) == 0:
            return out
        for _ in range(self.ratio):
            out.append(model.train_step(self.x[self.cursor], int(self.y[self.cursor])))
            self.cursor = (self.cursor + 1) % len(self.y)
        return out


def train_with_replay(model: Mlp, x: Iterable[np.ndarray], y: Iterable[int],
                      replay: ReplayMemory | None) -> list[StepResult]:
    """The device's TRAIN loop: each new sample's step, then its replay steps.
    Returns the new samples' results (the TRAIN reply reports only those)."""
    results: list[StepResult] = []
    for xi, yi in zip(x, y, strict=True):
        results.append(model.train_step(xi, int(yi)))
        if replay is not None:
            replay.steps(model)
    return results
