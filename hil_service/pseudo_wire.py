"""Codec of unlabelled TRAIN (TRAIN_UNLABELLED, 0x0D, protocol 5; docs/protocol.md,
"Label-free training"): the request is an unlabelled sample batch (INFER's
records), the reply TRAIN's counts plus, per sample, the pseudo label the device
gave it (-1: not confident, not trained).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from hil_service import wire_gen as W
from hil_service.wire_schema import FrameError

HEAD_BYTES = W.TRAIN_UNLABELLED_REPLY.head_bytes
SAMPLE_BYTES = 7  # u8 outcome + u32 step_cycles + i16 pseudo_label
NOT_CONFIDENT = 3  # outcome of a sample left without a pseudo label (ODL_STEP_NOT_CONFIDENT)


@dataclass(frozen=True)
class TrainUnlabelledReply:
    count: int
    trained: int
    skipped: int
    not_selected: int
    not_confident: int
    loss_sum: float  # cross-entropy against the pseudo labels
    outcomes: tuple[int, ...]
    step_cycles: tuple[int, ...]
    pseudo_labels: np.ndarray  # int16 per sample, -1 = not confident

    @classmethod
    def decode(cls, body: bytes) -> TrainUnlabelledReply:
        if len(body) < HEAD_BYTES:
            raise FrameError(f"TRAIN_UNLABELLED reply of {len(body)} bytes, shorter than its "
                             f"{HEAD_BYTES}-byte head")
        head = W.TRAIN_UNLABELLED_REPLY.decode(body)
        count = head["count"]
        want = HEAD_BYTES + SAMPLE_BYTES * count
        if len(body) != want:
            raise FrameError(f"TRAIN_UNLABELLED reply of {len(body)} bytes for {count} samples, "
                             f"expected {want}")
        cycles_at = HEAD_BYTES + count
        labels_at = cycles_at + 4 * count
        return cls(count, head["trained"], head["skipped"], head["not_selected"],
                   head["not_confident"], head["loss_sum"], tuple(body[HEAD_BYTES:cycles_at]),
                   struct.unpack_from(f"<{count}I", body, cycles_at),
                   np.frombuffer(body, "<i2", count, labels_at).astype(np.int16))

    def encode(self) -> bytes:
        """The reply body (the device's side; for tests and simulators)."""
        head = W.TRAIN_UNLABELLED_REPLY.encode(
            count=self.count, trained=self.trained, skipped=self.skipped,
            not_selected=self.not_selected, not_confident=self.not_confident, reserved=0,
            loss_sum=self.loss_sum, per_sample=b"")
        return (head + bytes(self.outcomes) + struct.pack(f"<{self.count}I", *self.step_cycles)
                + np.asarray(self.pseudo_labels, "<i2").tobytes())

    @staticmethod
    def max_samples(max_body: int) -> int:
        """The most samples one reply can describe within max_body."""
        return (max_body - HEAD_BYTES) // SAMPLE_BYTES
