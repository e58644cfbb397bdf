"""Wire protocol codec, the host's twin of firmware_zephyr/protocol (docs/protocol.md).

Pure functions and dataclasses; no I/O. The link layer (hil_service.link)
moves the bytes, the device layer (hil_service.device) speaks commands.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

# 2: TRAIN replies carry per-sample step cycles (docs/protocol.md).
PROTOCOL_VERSION = 2
HEADER_BYTES = 4
CRC_BYTES = 4
DEFAULT_MAX_BODY = 8192


class Cmd(IntEnum):
    HELLO = 0x01
    CONFIGURE = 0x02
    LOAD_WEIGHTS = 0x03
    READ_WEIGHTS = 0x04
    TRAIN = 0x05
    INFER = 0x06
    EVALUATE = 0x07
    METRICS = 0x08
    RESET = 0x09
    ERROR = 0xFF


REPLY = 0x80
FLAG_DUPLICATE = 0x01
FLAG_STALE = 0x02


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_FRAME = 2
    FRAME_TOO_LONG = 3
    UNKNOWN_COMMAND = 4
    BAD_LENGTH = 5
    BAD_BATCH = 6
    NOT_CONFIGURED = 7
    CORE = 8
    SEQ_GAP = 9
    BAD_OFFSET = 10
    RX_OVERRUN = 11


# The frame never reached the command: resend it (and what followed it).
TRANSPORT_ERRORS = frozenset({ErrorCode.BAD_CRC, ErrorCode.BAD_FRAME, ErrorCode.FRAME_TOO_LONG,
                              ErrorCode.SEQ_GAP, ErrorCode.RX_OVERRUN})

# odl_status_t of the core, for error messages.
CORE_STATUS = {
    0: "ODL_OK", -1: "ODL_ERR_NULL", -2: "ODL_ERR_ARCH", -3: "ODL_ERR_ARENA_TOO_SMALL",
    -4: "ODL_ERR_LABEL", -5: "ODL_ERR_NONFINITE", -6: "ODL_ERR_PARAM", -7: "ODL_ERR_LENGTH",
    -8: "ODL_ERR_STATE", -9: "ODL_ERR_STRATEGY", -10: "ODL_ERR_BLOB_MAGIC",
    -11: "ODL_ERR_BLOB_VERSION", -12: "ODL_ERR_BLOB_SIZE", -13: "ODL_ERR_BLOB_ARCH",
    -14: "ODL_ERR_BLOB_CRC", -15: "ODL_ERR_DIVERGED", -16: "ODL_ERR_BUFFER_TOO_SMALL",
}


class FrameError(ValueError):
    """Bytes that are not a valid frame."""


# --- COBS ---------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    """COBS-encode data and append the 0x00 delimiter."""
    out = bytearray([0])
    code_at, code = 0, 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(b)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    out.append(0)
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Decode one COBS block sequence (without its delimiter)."""
    out = bytearray()
    i = 0
    while i < len(enc):
        code = enc[i]
        if code == 0:
            raise FrameError("zero byte inside a COBS frame")
        block = enc[i + 1 : i + code]
        if len(block) != code - 1 or 0 in block:
            raise FrameError("COBS block shorter than its code")
        out += block
        i += code
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


# --- frames -------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    cmd: int
    seq: int
    body: bytes = b""
    flags: int = 0

    def raw(self) -> bytes:
        head = struct.pack("<BBH", self.cmd, self.flags, self.seq & 0xFFFF) + self.body
        return head + struct.pack("<I", zlib.crc32(head))

    def wire(self) -> bytes:
        return cobs_encode(self.raw())


def parse_frame(raw: bytes) -> Frame:
    """A decoded frame (without COBS) checked for length and CRC."""
    if len(raw) < HEADER_BYTES + CRC_BYTES:
        raise FrameError(f"frame of {len(raw)} bytes, shorter than header and CRC")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_BYTES)
    if zlib.crc32(raw[:-CRC_BYTES]) != crc:
        raise FrameError("frame CRC mismatch")
    cmd, flags, seq = struct.unpack_from("<BBH", raw)
    return Frame(cmd, seq, bytes(raw[HEADER_BYTES:-CRC_BYTES]), flags)


class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters into frames; garbage is counted, not fatal."""

    def __init__(self, max_frame: int = HEADER_BYTES + DEFAULT_MAX_BODY + CRC_BYTES + 64) -> None:
        self._buf = bytearray()
        self.max_frame = max_frame
        self.dropped = 0  # frames that failed COBS, length or CRC checks

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        for chunk in _split_keep(data):
            if chunk == b"\x00":
                if self._buf:
                    try:
                        frames.append(parse_frame(cobs_decode(bytes(self._buf))))
                    except FrameError:
                        self.dropped += 1
                self._buf.clear()
            else:
                self._buf += chunk
                if len(self._buf) > 2 * self.max_frame:
                    self._buf.clear()
                    self.dropped += 1
        return frames


def _split_keep(data: bytes) -> list[bytes]:
    parts: list[bytes] = []
    for i, piece in enumerate(data.split(b"\x00")):
        if i:
            parts.append(b"\x00")
        if piece:
            parts.append(piece)
    return parts


# --- command bodies ------------------------------------------------------

def _read_str(body: bytes, off: int) -> tuple[str, int]:
    n = body[off]
    return body[off + 1 : off + 1 + n].decode("utf-8", "replace"), off + 1 + n


@dataclass(frozen=True)
class Hello:
    protocol_version: int
    max_layers: int
    max_inputs: int
    max_neurons: int
    max_body: int
    rx_capacity: int
    cycles_hz: int
    arena_size: int
    stack_size: int
    strategies_mask: int
    scores_mask: int
    fw_version: str
    git_hash: str
    board: str
    device_id: bytes

    @classmethod
    def decode(cls, body: bytes) -> Hello:
        fixed = struct.unpack_from("<BBHHHIIIIBB", body)
        off = struct.calcsize("<BBHHHIIIIBB")
        fw, off = _read_str(body, off)
        git, off = _read_str(body, off)
        board, off = _read_str(body, off)
        n = body[off]
        return cls(*fixed, fw, git, board, bytes(body[off + 1 : off + 1 + n]))


@dataclass(frozen=True)
class Configure:
    sizes: tuple[int, ...]
    strategy: int
    learning_rate: float
    momentum: float = 0.0
    s_min: float = 0.1
    s_max: float = 0.9
    zeta: float = 0.5
    gate_threshold: float = 0.0
    select_score: int = 0
    select_threshold: float = 0.0
    init_weights: bool = False
    seed: int = 0

    def encode(self) -> bytes:
        padded = list(self.sizes) + [0] * (5 - len(self.sizes))
        return struct.pack("<BB5HBBH7fI", len(self.sizes) - 1, self.strategy, *padded,
                           self.select_score, int(self.init_weights), 0, self.learning_rate,
                           self.momentum, self.s_min, self.s_max, self.zeta, self.gate_threshold,
                           self.select_threshold, self.seed)


class Encoding(IntEnum):
    F32 = 0
    INT8 = 1


@dataclass(frozen=True)
class Quantization:
    """x = scale * (q - zero_point), q an int8."""

    scale: float
    zero_point: int = 0

    @classmethod
    def for_range(cls, lo: float, hi: float) -> Quantization:
        scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
        zero = int(np.clip(round(-128 - lo / float(scale)), -32768, 32767))
        return cls(float(scale), zero)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, np.float64) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """Exactly what the device computes: float32((q - zp)) * float32(scale)."""
        return (q.astype(np.int32) - self.zero_point).astype(np.float32) * np.float32(self.scale)


def encode_batch(x: np.ndarray, labels: np.ndarray | None, quant: Quantization | None = None,
                 score_kind: int = 0) -> bytes:
    """A sample batch body: header, then per sample [label u8] + features."""
    x = np.atleast_2d(np.asarray(x))
    count, n_features = x.shape
    enc = Encoding.INT8 if quant is not None else Encoding.F32
    head = struct.pack("<BBHHH", enc, score_kind, count, n_features, 0)
    if quant is not None:
        head += struct.pack("<fhH", quant.scale, quant.zero_point, 0)
        feats = quant.quantize(x).view(np.uint8)
    else:
        feats = np.ascontiguousarray(x, dtype="<f4").view(np.uint8).reshape(count, -1)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (count,):
            raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {count} samples")
        if labels.min() < 0 or labels.max() > 255:
            raise ValueError("labels must fit in one byte (0..255)")
        feats = np.concatenate([labels.astype(np.uint8)[:, None], feats], axis=1)
    return head + feats.tobytes()


def batch_record_bytes(n_features: int, labelled: bool, quantized: bool) -> int:
    return int(labelled) + n_features * (1 if quantized else 4)


def batch_header_bytes(quantized: bool) -> int:
    return 16 if quantized else 8


TRAIN_HEAD_BYTES = 12
TRAIN_SAMPLE_BYTES = 5  # u8 outcome + u32 step_cycles


@dataclass(frozen=True)
class TrainReply:
    count: int
    trained: int
    skipped: int
    not_selected: int
    loss_sum: float
    outcomes: tuple[int, ...]
    # per sample: cycles_forward + cycles_backward + cycles_update of its step,
    # in the device's counter at Hello.cycles_hz (forward only when not trained)
    step_cycles: tuple[int, ...] = ()

    @classmethod
    def decode(cls, body: bytes) -> TrainReply:
        if len(body) < TRAIN_HEAD_BYTES:
            raise FrameError(f"TRAIN reply of {len(body)} bytes, shorter than its "
                             f"{TRAIN_HEAD_BYTES}-byte head")
        count, trained, skipped, not_sel, loss = struct.unpack_from("<HHHHf", body)
        want = TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * count
        if len(body) != want:
            raise FrameError(f"TRAIN reply of {len(body)} bytes for {count} samples, "
                             f"expected {want} (protocol {PROTOCOL_VERSION})")
        cycles_at = TRAIN_HEAD_BYTES + count
        return cls(count, trained, skipped, not_sel, loss, tuple(body[TRAIN_HEAD_BYTES:cycles_at]),
                   struct.unpack_from(f"<{count}I", body, cycles_at))

    @staticmethod
    def max_samples(max_body: int) -> int:
        """The most samples one TRAIN reply can describe within max_body."""
        return (max_body - TRAIN_HEAD_BYTES) // TRAIN_SAMPLE_BYTES


_PRED = np.dtype([("pred", "u1"), ("second", "u1"), ("p1", "<f4"), ("p2", "<f4"), ("score", "<f4")])
PREDICTION_BYTES = _PRED.itemsize  # 14, packed
PREDICTIONS_HEAD_BYTES = 8  # the larger reply head, EVALUATE's


@dataclass(frozen=True)
class Predictions:
    predicted: np.ndarray
    second: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    score: np.ndarray
    correct: int | None = None
    loss_sum: float | None = None

    @classmethod
    def decode(cls, body: bytes, labelled: bool) -> Predictions:
        (count,) = struct.unpack_from("<H", body)
        correct = loss = None
        head = 2
        if labelled:
            correct, loss = struct.unpack_from("<Hf", body, 2)
            head = 8
        rec = np.frombuffer(body, dtype=_PRED, count=count, offset=head)
        return cls(rec["pred"].astype(np.int64), rec["second"].astype(np.int64), rec["p1"].copy(),
                   rec["p2"].copy(), rec["score"].copy(), correct, loss)

    @classmethod
    def concat(cls, parts: list[Predictions]) -> Predictions:
        """One result from the replies of several frames."""
        arrays = (np.concatenate([getattr(p, f) for p in parts])
                  for f in ("predicted", "second", "p1", "p2", "score"))
        labelled = all(p.correct is not None for p in parts)
        return cls(*arrays, sum(p.correct for p in parts) if labelled else None,
                   sum(p.loss_sum for p in parts) if labelled else None)


@dataclass(frozen=True)
class CycleStat:
    count: int
    min: int
    max: int
    sum: int

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0


@dataclass(frozen=True)
class Metrics:
    forward: CycleStat
    backward: CycleStat
    update: CycleStat
    macs_forward: int
    macs_backward: int
    macs_backward_full: int
    seen: int
    selected: int
    trained: int
    skipped: int
    n_layers: int
    configured: bool
    k_sum: tuple[int, ...]
    k_min: tuple[int, ...]
    k_max: tuple[int, ...]
    arena_size: int
    arena_needed: int
    arena_peak: int
    stack_size: int
    stack_high_water: int
    rx_overruns: int
    frames_ok: int
    frames_bad: int
    frames_duplicate: int
    cycles_hz: int

    @classmethod
    def decode(cls, body: bytes) -> Metrics:
        stats = [CycleStat(*struct.unpack_from("<IIIQ", body, 20 * i)) for i in range(3)]
        macs = struct.unpack_from("<QQQ", body, 60)
        counts = struct.unpack_from("<IIII", body, 84)
        n_layers, configured = struct.unpack_from("<BB", body, 100)
        ks = [struct.unpack_from("<QHH", body, 104 + 16 * i) for i in range(4)]
        tail = struct.unpack_from("<10I", body, 168)
        return cls(*stats, *macs, *counts, n_layers, bool(configured),
                   tuple(k[0] for k in ks[:n_layers]), tuple(k[1] for k in ks[:n_layers]),
                   tuple(k[2] for k in ks[:n_layers]), *tail)

    def k_mean(self) -> tuple[float, ...]:
        return tuple(s / self.trained if self.trained else 0.0 for s in self.k_sum)


@dataclass(frozen=True)
class ErrorReply:
    code: int
    cmd: int
    core_status: int
    expected_seq: int
    detail: int

    @classmethod
    def decode(cls, body: bytes) -> ErrorReply:
        return cls(*struct.unpack_from("<BBhHH", body))

    def describe(self) -> str:
        try:
            code = ErrorCode(self.code).name
        except ValueError:
            code = f"error {self.code}"
        try:
            cmd = Cmd(self.cmd).name
        except ValueError:
            cmd = f"command 0x{self.cmd:02x}"
        text = f"{cmd}: {code}"
        if self.code == ErrorCode.CORE:
            text += f" {CORE_STATUS.get(self.core_status, self.core_status)} (sample {self.detail})"
        return text


@dataclass
class LinkStats:
    frames_sent: int = 0
    frames_received: int = 0
    resent: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    payload_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
