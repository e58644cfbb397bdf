"""The numpy twin of the C training core: same math, same blob, same seeds.

It pretrains base models on the host and is the golden model the firmware is
tested against.
"""

from hil_service.reference.blob import BlobError, read_blob, write_blob
from hil_service.reference.mlp import (
    Arch,
    Mlp,
    StepOutcome,
    StepResult,
    Strategy,
    TrainParams,
)
from hil_service.reference.uncertainty import ScoreKind, confident, score, selects, top2

__all__ = [
    "Arch",
    "BlobError",
    "Mlp",
    "ScoreKind",
    "StepOutcome",
    "StepResult",
    "Strategy",
    "TrainParams",
    "confident",
    "read_blob",
    "score",
    "selects",
    "top2",
    "write_blob",
]
