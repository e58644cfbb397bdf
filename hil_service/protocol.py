"""Wire protocol codec, the host's twin of firmware_zephyr/protocol (docs/protocol.md).

Pure functions and dataclasses; no I/O. The link layer (hil_service.link)
moves the bytes, the device layer (hil_service.device) speaks commands. Body
layouts and parameter ranges come from the wire table (hil_service.wire_gen,
generated from firmware_zephyr/protocol/wire.toml), as they do in the C server.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from hil_service import wire_gen as W
from hil_service.wire_schema import FrameError, Message, check_train_params

# 2: TRAIN replies carry per-sample step cycles; 3: HELLO reports last_seq; 4: continual
# learning (CONFIGURE's continual form, LOAD_REPLAY, GROW; docs/protocol.md); 5: FRAGMENT.
PROTOCOL_VERSION = W.PROTOCOL_VERSION
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
    LOAD_REPLAY = 0x0A
    GROW = 0x0B
    TRAIN_UNLABELLED = 0x0D  # protocol 5: pseudo labels (hil_service.pseudo_wire)
    FRAGMENT = 0x0C
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
    BAD_FRAGMENT = 12  # FRAGMENT out of order, of another reassembly, or too big (detail: bytes held)


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
    -17: "ODL_ERR_GROW",
}


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

# HELLO before protocol 3 ended with the device id: enough to name the version it speaks
_HELLO_BEFORE_3 = Message(W.HELLO_REPLY.name, W.HELLO_REPLY.cmd, W.HELLO_REPLY.fields[:-3],
                          W.HELLO_REPLY.head_bytes, False)


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
    # seq of the last request the device executed before this HELLO (the one a
    # resend would get from its reply cache); None when nothing ran since boot
    last_seq: int | None = None
    # FRAGMENT (protocol 5): the largest body the device reassembles from pieces
    frag_max: int = 0

    @classmethod
    def decode(cls, body: bytes) -> Hello:
        """A HELLO reply; one of another protocol version decodes as far as its version shows."""
        if body[:1] and body[0] != PROTOCOL_VERSION:
            return cls(**_HELLO_BEFORE_3.decode(body, trailing=True))
        d = W.HELLO_REPLY.decode(body)
        valid = d.pop("last_seq_valid")
        last = d.pop("last_seq")
        return cls(**d, last_seq=last if valid else None)

    def encode(self) -> bytes:
        return W.HELLO_REPLY.encode(**{**self.__dict__, "last_seq": self.last_seq or 0,
                                       "last_seq_valid": int(self.last_seq is not None)})


@dataclass(frozen=True)
class Configure:
    sizes: tuple[int, ...]
    strategy: int
    learning_rate: float
    momentum: float = float(W.PARAMS["momentum"].default)
    s_min: float = float(W.PARAMS["s_min"].default)
    s_max: float = float(W.PARAMS["s_max"].default)
    zeta: float = float(W.PARAMS["zeta"].default)
    gate_threshold: float = float(W.PARAMS["gate_threshold"].default)
    select_score: int = 0
    select_threshold: float = float(W.PARAMS["select_threshold"].default)
    init_weights: bool = False
    seed: int = 0
    pseudo_score: int = 0
    pseudo_threshold: float = float(W.PARAMS["pseudo_threshold"].default)
    l2sp_lambda: float = float(W.PARAMS["l2sp_lambda"].default)

    def params(self) -> dict[str, float | int]:
        """The training parameters by their table names."""
        return {name: getattr(self, name) for name in W.PARAMS}

    def encode(self) -> bytes:
        """The body; ParamRangeError (a ConfigError) for a value the device would refuse."""
        check_train_params(W.PARAMS, W.CONSTRAINTS, self.params())
        if not 1 <= len(self.sizes) <= W.CONFIGURE.field("sizes").count:
            raise ValueError(f"{len(self.sizes)} layer sizes; CONFIGURE holds 2 to "
                             f"{W.CONFIGURE.field('sizes').count}")
        padded = tuple(self.sizes) + (0,) * (W.CONFIGURE.field("sizes").count - len(self.sizes))
        return W.CONFIGURE.encode(**self.params(), n_layers=len(self.sizes) - 1, sizes=padded,
                                  init_weights=int(self.init_weights), seed=self.seed)

    @classmethod
    def decode(cls, body: bytes) -> Configure:
        d = W.CONFIGURE.decode(body)
        n = d["n_layers"] + 1
        return cls(tuple(d["sizes"][:n]), **{k: d[k] for k in W.PARAMS},
                   init_weights=bool(d["init_weights"]), seed=d["seed"])


@dataclass(frozen=True)
class ConfigureReply:
    arena_needed: int
    arena_size: int

    @classmethod
    def decode(cls, body: bytes) -> ConfigureReply:
        return cls(**W.CONFIGURE_REPLY.decode(body))


def encode_load_weights(offset: int, total: int, chunk: bytes) -> bytes:
    return W.LOAD_WEIGHTS.encode(offset=offset, total=total, chunk=chunk)


@dataclass(frozen=True)
class LoadWeightsReply:
    received: int
    complete: bool

    @classmethod
    def decode(cls, body: bytes) -> LoadWeightsReply:
        d = W.LOAD_WEIGHTS_REPLY.decode(body)
        return cls(d["received"], bool(d["complete"]))


def encode_read_weights(offset: int, max_len: int) -> bytes:
    return W.READ_WEIGHTS.encode(offset=offset, max_len=max_len)


@dataclass(frozen=True)
class ReadWeightsReply:
    total: int
    offset: int
    chunk: bytes

    @classmethod
    def decode(cls, body: bytes) -> ReadWeightsReply:
        return cls(**W.READ_WEIGHTS_REPLY.decode(body))


def encode_metrics(reset: bool) -> bytes:
    return W.METRICS.encode(reset=int(reset))


def encode_reset(hard: bool) -> bytes:
    return W.RESET.encode(hard=int(hard))


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
    if quant is not None:
        head = W.BATCH_QUANT.encode(encoding=Encoding.INT8, score_kind=score_kind, count=count,
                                    n_features=n_features, scale=quant.scale,
                                    zero_point=quant.zero_point)
        feats = quant.quantize(x).view(np.uint8)
    else:
        head = W.BATCH.encode(encoding=Encoding.F32, score_kind=score_kind, count=count,
                              n_features=n_features)
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
    return W.BATCH_QUANT.head_bytes if quantized else W.BATCH.head_bytes


TRAIN_HEAD_BYTES = W.TRAIN_REPLY.head_bytes
TRAIN_OUTCOME_CORRECT = 0x80  # or-ed into an outcome byte: predicted right before the update
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
    # samples whose forward pass before the update predicted the label (the
    # outcome byte's bit 7): a test-then-train accuracy at no cost on the wire
    correct: int = 0

    @classmethod
    def decode(cls, body: bytes) -> TrainReply:
        if len(body) < TRAIN_HEAD_BYTES:
            raise FrameError(f"TRAIN reply of {len(body)} bytes, shorter than its "
                             f"{TRAIN_HEAD_BYTES}-byte head")
        head = W.TRAIN_REPLY.decode(body)
        count = head["count"]
        want = TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * count
        if len(body) != want:
            raise FrameError(f"TRAIN reply of {len(body)} bytes for {count} samples, "
                             f"expected {want} (protocol {PROTOCOL_VERSION})")
        cycles_at = TRAIN_HEAD_BYTES + count
        raw = body[TRAIN_HEAD_BYTES:cycles_at]
        return cls(count, head["trained"], head["skipped"], head["not_selected"], head["loss_sum"],
                   tuple(b & ~TRAIN_OUTCOME_CORRECT for b in raw),
                   struct.unpack_from(f"<{count}I", body, cycles_at),
                   sum(b & TRAIN_OUTCOME_CORRECT != 0 for b in raw))

    @staticmethod
    def max_samples(max_body: int) -> int:
        """The most samples one TRAIN reply can describe within max_body."""
        return (max_body - TRAIN_HEAD_BYTES) // TRAIN_SAMPLE_BYTES


_PRED = W.PREDICTION.numpy_dtype()
PREDICTION_BYTES = W.PREDICTION.size  # 14, packed
PREDICTIONS_HEAD_BYTES = W.EVALUATE_REPLY.head_bytes  # the larger reply head


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
        msg = W.EVALUATE_REPLY if labelled else W.INFER_REPLY
        d = msg.decode(body)
        count = d["count"]
        if len(d["predictions"]) != count * PREDICTION_BYTES:
            raise FrameError(f"{msg.name} of {len(body)} bytes for {count} predictions, expected "
                             f"{msg.head_bytes + count * PREDICTION_BYTES}")
        rec = np.frombuffer(d["predictions"], dtype=_PRED, count=count)
        return cls(rec["predicted"].astype(np.int64), rec["second"].astype(np.int64), rec["p1"].copy(),
                   rec["p2"].copy(), rec["score"].copy(), d.get("correct"), d.get("loss_sum"))

    @classmethod
    def concat(cls, parts: list[Predictions]) -> Predictions:
        """One result from the replies of several frames."""
        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        corrects = [p.correct for p in parts if p.correct is not None]
        losses = [p.loss_sum for p in parts if p.loss_sum is not None]
        labelled = len(corrects) == len(parts)
        return cls(cat("predicted"), cat("second"), cat("p1"), cat("p2"), cat("score"),
                   sum(corrects) if labelled else None, sum(losses) if labelled else None)


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
        d = W.METRICS_REPLY.decode(body)
        layers = d.pop("layers")[: d["n_layers"]]
        del d["reserved"]
        d["configured"] = bool(d["configured"])
        for phase in ("forward", "backward", "update"):
            d[phase] = CycleStat(**d[phase])
        return cls(**d, k_sum=tuple(k["k_sum"] for k in layers), k_min=tuple(k["k_min"] for k in layers),
                   k_max=tuple(k["k_max"] for k in layers))

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
        return cls(**W.ERROR.decode(body))

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
            text += f" {CORE_STATUS.get(self.core_status, self.core_status)}"
            if self.cmd not in (Cmd.CONFIGURE, Cmd.GROW):
                text += f" (sample {self.detail})"
            elif self.detail:
                text += f" (parameter {self.parameter})"
        return text

    @property
    def parameter(self) -> str | None:
        """The training parameter a CONFIGURE was refused for (its ERROR detail), if any."""
        if self.cmd != Cmd.CONFIGURE or not 1 <= self.detail <= len(W.PARAMS):
            return None
        return list(W.PARAMS)[self.detail - 1]


@dataclass
class LinkStats:
    frames_sent: int = 0
    frames_received: int = 0
    resent: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    payload_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
