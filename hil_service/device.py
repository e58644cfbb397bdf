"""A device under test, driven by typed calls over the wire protocol."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hil_service.backends import open_serial
from hil_service.link import Link
from hil_service.protocol import (
    PREDICTION_BYTES,
    PREDICTIONS_HEAD_BYTES,
    PROTOCOL_VERSION,
    REPLY,
    Cmd,
    Configure,
    ErrorReply,
    Frame,
    Hello,
    Metrics,
    Predictions,
    Quantization,
    TrainReply,
    batch_header_bytes,
    batch_record_bytes,
    encode_batch,
)
from hil_service.reference import Arch, ScoreKind, TrainParams


class DeviceError(RuntimeError):
    """The device refused a command; names the command and the reason."""

    def __init__(self, command: str, error: ErrorReply) -> None:
        super().__init__(f"device refused {error.describe()}")
        self.command = command
        self.error = error
        self.code = error.code


class ProtocolMismatch(RuntimeError):
    """The device speaks another protocol version."""


@dataclass(frozen=True)
class TrainSummary:
    samples: int
    trained: int
    skipped: int
    not_selected: int
    loss_sum: float
    lost_replies: int  # batches whose reply was lost (their samples did train)
    # per-sample step cycles (TrainReply.step_cycles) and outcomes of every
    # sample whose reply arrived, in stream order; a lost reply's batch
    # contributes none
    step_cycles: tuple[int, ...] = ()
    outcomes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    predictions: Predictions


Progress = Callable[[int, int], None]


class Device:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.info: Hello | None = None
        self.arch: Arch | None = None

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, timeout: float = 5.0) -> Device:
        return cls(Link(open_serial(url, baudrate=baudrate, timeout=0.05, write_timeout=10.0),
                        timeout=timeout))

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------
    def _call(self, cmd: int, body: bytes = b"", timeout: float | None = None) -> Frame:
        return self._check(cmd, self.link.request(cmd, body, timeout))

    @staticmethod
    def _check(cmd: int, frame: Frame) -> Frame:
        name = Cmd(cmd).name if cmd in Cmd._value2member_map_ else f"0x{cmd:02x}"
        if frame.cmd == Cmd.ERROR:
            raise DeviceError(name, ErrorReply.decode(frame.body))
        if frame.cmd != cmd | REPLY:
            raise RuntimeError(f"{name}: reply carries command 0x{frame.cmd:02x}")
        return frame

    @property
    def max_body(self) -> int:
        if self.info is None:
            raise RuntimeError("call hello() first")
        return self.info.max_body

    # -- commands ------------------------------------------------------------
    def hello(self) -> Hello:
        """Open a session: resynchronises sequence numbers and sizes the window."""
        self.link.resync(0)
        info = Hello.decode(self._call(Cmd.HELLO).body)
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolMismatch(f"device speaks protocol {info.protocol_version}, "
                                   f"this host {PROTOCOL_VERSION}")
        self.info = info
        # never more unacknowledged bytes than the device's RX buffer holds
        self.link.window = info.rx_capacity
        return info

    def configure(self, arch: Arch, params: TrainParams, seed: int | None = None) -> int:
        """Lay out the model; with seed, initialise weights on the device. Returns arena bytes needed."""
        body = Configure(arch.sizes, int(params.strategy), params.learning_rate, params.momentum,
                         params.s_min, params.s_max, params.zeta, params.gate_threshold,
                         int(params.select_score), params.select_threshold, seed is not None,
                         seed or 0).encode()
        reply = self._call(Cmd.CONFIGURE, body)
        self.arch = arch
        return struct.unpack_from("<I", reply.body)[0]

    def load_weights(self, blob: bytes) -> None:
        chunk = self.max_body - 8
        requests = [(Cmd.LOAD_WEIGHTS, struct.pack("<II", off, len(blob)) + blob[off : off + chunk])
                    for off in range(0, len(blob), chunk)]
        for reply in self.link.exchange(requests):
            if reply is not None:
                self._check(Cmd.LOAD_WEIGHTS, reply)
        # a lost last reply hides the verdict on the whole blob: read it back
        if requests and (reply is None or not reply.body[4]):
            if self.read_weights() != blob:
                raise RuntimeError("LOAD_WEIGHTS: the device's weights differ from the blob sent")

    def read_weights(self) -> bytes:
        out = bytearray()
        total = None
        while total is None or len(out) < total:
            body = self._call(Cmd.READ_WEIGHTS, struct.pack("<IH", len(out), self.max_body - 8)).body
            total, _ = struct.unpack_from("<II", body)
            if len(body) == 8:
                break
            out += body[8:]
        return bytes(out)

    def _batches(self, x: np.ndarray, labelled: bool, quant: Quantization | None,
                 batch_size: int | None, default: int | None = None) -> list[slice]:
        """Slices of x per frame: batch_size samples, or as many as fit up to default."""
        x = np.atleast_2d(x)
        per_frame = (self.max_body - batch_header_bytes(quant is not None)) // batch_record_bytes(
            x.shape[1], labelled, quant is not None)
        if batch_size is not None:
            if batch_size > per_frame:
                raise ValueError(f"batch of {batch_size} samples does not fit the device's "
                                 f"{self.max_body}-byte frame (at most {per_frame})")
            per_frame = batch_size
        elif default is not None:
            per_frame = min(per_frame, default)
        return [slice(i, i + per_frame) for i in range(0, len(x), per_frame)]

    def train(self, x: np.ndarray, y: np.ndarray, *, batch_size: int | None = None,
              quant: Quantization | None = None, progress: Progress | None = None) -> TrainSummary:
        """Stream labelled samples; batch_size None sends 16 per frame, or fewer if 16 do not fit."""
        x, y = np.atleast_2d(np.asarray(x, np.float32)), np.asarray(y)
        # the reply (5 bytes a sample) bounds the batch when features are few
        per_reply = TrainReply.max_samples(self.max_body)
        if batch_size is not None and batch_size > per_reply:
            raise ValueError(f"batch of {batch_size} samples does not fit the device's "
                             f"{self.max_body}-byte TRAIN reply (at most {per_reply})")
        slices = self._batches(x, True, quant, batch_size, default=min(16, per_reply))
        requests = [(Cmd.TRAIN, encode_batch(x[s], y[s], quant)) for s in slices]
        payload = sum(len(body) - batch_header_bytes(quant is not None) for _, body in requests)
        done = [0]

        def tick(i: int, _frame) -> None:
            done[0] += len(range(*slices[i].indices(len(x))))
            if progress is not None:
                progress(done[0], len(x))

        replies = self.link.exchange(requests, on_reply=tick)
        self.link.stats.payload_bytes += payload
        parsed = [TrainReply.decode(self._check(Cmd.TRAIN, r).body) for r in replies if r is not None]
        return TrainSummary(len(x), sum(p.trained for p in parsed), sum(p.skipped for p in parsed),
                            sum(p.not_selected for p in parsed), sum(p.loss_sum for p in parsed),
                            sum(r is None for r in replies),
                            tuple(c for p in parsed for c in p.step_cycles),
                            tuple(o for p in parsed for o in p.outcomes))

    def _predict(self, cmd: Cmd, x: np.ndarray, y: np.ndarray | None, score_kind: ScoreKind,
                 quant: Quantization | None, batch_size: int | None) -> Predictions:
        x = np.atleast_2d(np.asarray(x, np.float32))
        labelled = y is not None
        # the reply, not the request, bounds the batch when features are few
        per_reply = (self.max_body - PREDICTIONS_HEAD_BYTES) // PREDICTION_BYTES
        size = min(batch_size or per_reply, per_reply)
        requests = [(cmd, encode_batch(x[s], y[s] if labelled else None, quant, int(score_kind)))
                    for s in self._batches(x, labelled, quant, None, default=size)]
        # pipelined like TRAIN; predicting changes nothing on the device, so a
        # batch whose reply was lost is simply asked again
        replies = [r if r is not None else self._call(*req)
                   for req, r in zip(requests, self.link.exchange(requests))]
        return Predictions.concat([Predictions.decode(self._check(cmd, r).body, labelled)
                                   for r in replies])

    def infer(self, x: np.ndarray, *, score_kind: ScoreKind = ScoreKind.ENTROPY,
              quant: Quantization | None = None, batch_size: int | None = None) -> Predictions:
        return self._predict(Cmd.INFER, x, None, score_kind, quant, batch_size)

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, quant: Quantization | None = None,
                 batch_size: int | None = None) -> Evaluation:
        merged = self._predict(Cmd.EVALUATE, x, np.asarray(y), ScoreKind.NONE, quant, batch_size)
        n = len(merged.predicted)
        return Evaluation(merged.correct / n, merged.loss_sum / n, merged)

    def metrics(self, reset: bool = False) -> Metrics:
        return Metrics.decode(self._call(Cmd.METRICS, bytes([int(reset)])).body)

    def reset(self, hard: bool = False) -> None:
        self._call(Cmd.RESET, bytes([int(hard)]))
        self.arch = None
