"""A device under test, driven by typed calls over the wire protocol."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hil_service.backends import open_serial
from hil_service.errors import HilError, TargetError
from hil_service.link import Job, Link, LinkError, Settled, _cmd_name
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


class DeviceError(HilError, RuntimeError):
    """The device refused a command; names the command and the reason."""

    def __init__(self, command: str, error: ErrorReply) -> None:
        super().__init__(f"device refused {error.describe()}")
        self.command = command
        self.error = error
        self.code = error.code


class ProtocolMismatch(TargetError):
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
    # per TRAIN reply that arrived, in stream order: (samples, predicted right
    # before the update, loss_sum) -- the training curve (train_curve.py)
    batches: tuple[tuple[int, int, float], ...] = ()
    # train_unlabelled(): int16 pseudo label per sample whose reply arrived, in
    # stream order, -1 = not confident (not trained); None for labelled TRAIN
    pseudo_labels: np.ndarray | None = None


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    predictions: Predictions


@dataclass(frozen=True)
class ResyncInfo:
    """Where the device stands after Device.resync()."""

    expected_seq: int | None  # the seq it would run next (None: it answered as if reset)
    last_seq: int | None  # HELLO's: the last request it ran before the new session
    hello: Hello
    interrupted: str | None  # the command a give-up interrupted, if any
    acknowledged: int | None  # its items whose replies had come
    applied: int | None  # its items that ran (None: unknown); >= acknowledged


Progress = Callable[[int, int], None]

#: Replies of an idempotent request lost in a row before the device layer gives up.
LOST_REPLIES_MAX = 100


def _byte_time(url: str, baudrate: int) -> float:
    """Seconds a byte takes on the line at most: 8N1 at the baud rate; an
    emulator's TCP socket has no baud rate (QEMU's mps2 UART takes 30-50 KiB/s)."""
    return 1 / 20_000 if url.startswith("socket://") else 10 / baudrate


def _shifted(body: Callable[[int, int], bytes], at: int, lo: int, hi: int) -> bytes:
    return body(at + lo, at + hi)


class Device:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.info: Hello | None = None
        self.arch: Arch | None = None

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, timeout: float = 5.0,
             budget: float = 30.0) -> Device:
        """timeout: the longest one reply may take; budget: how long the link keeps
        trying without progress before it gives up (see resync())."""
        return cls(Link(open_serial(url, baudrate=baudrate, timeout=0.02, write_timeout=10.0),
                        timeout=timeout, budget=budget, byte_time=_byte_time(url, baudrate)))

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
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
        """The device's largest body (HELLO); frames the host sends are also capped by
        its RX ring (link.max_body) and by the line's state (link.body_limit)."""
        if self.info is None:
            raise RuntimeError("call hello() first")
        return self.info.max_body

    # -- commands ------------------------------------------------------------
    def hello(self) -> Hello:
        """Open a session and size frames and window to the device's buffers."""
        info = Hello.decode(self._call(Cmd.HELLO).body)
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolMismatch(f"device speaks protocol {info.protocol_version}, "
                                   f"this host {PROTOCOL_VERSION}")
        self.info = info
        # never more unacknowledged bytes than the device's RX buffer holds
        self.link.set_limits(rx_capacity=info.rx_capacity, max_body=info.max_body,
                             frag_max=info.frag_max)
        return info

    def resync(self) -> ResyncInfo:
        """After a LinkError: learn what the device ran, then open a fresh session.

        Call it first thing after the error. When the interrupted command was
        a TRAIN, `applied` is how many of its samples trained (in order), so
        `train(x[applied:], y[applied:])` resumes without training any twice."""
        sync = self.link.sync()
        hello = self.hello()
        gone = sync.interrupted
        return ResyncInfo(sync.expected_seq, hello.last_seq, hello,
                          None if gone is None else _cmd_name(gone.cmd),
                          None if gone is None else gone.acknowledged, sync.applied)

    def configure(self, arch: Arch, params: TrainParams, seed: int | None = None) -> int:
        """Lay out the model; with seed, initialise weights on the device. Returns arena bytes needed."""
        body = Configure(arch.sizes, int(params.strategy), params.learning_rate, params.momentum,
                         params.s_min, params.s_max, params.zeta, params.gate_threshold,
                         int(params.select_score), params.select_threshold, seed is not None,
                         seed or 0, int(params.pseudo_score), params.pseudo_threshold,
                         params.l2sp_lambda).encode()
        reply = self._call(Cmd.CONFIGURE, body)
        self.arch = arch
        return int(struct.unpack_from("<I", reply.body)[0])

    def load_weights(self, blob: bytes) -> None:
        total = len(blob)
        job = Job(Cmd.LOAD_WEIGHTS, total,
                  lambda lo, hi: struct.pack("<II", lo, total) + blob[lo:hi],
                  lambda n: max(1, n - 8))
        settled = self.link.stream(job) if blob else []
        for s in settled:
            if s.frame is not None:
                self._check(Cmd.LOAD_WEIGHTS, s.frame)
        # a lost last reply hides the verdict on the whole blob: read it back
        last = settled[-1].frame if settled else None
        if settled and (last is None or not last.body[4]):
            if self.read_weights() != blob:
                raise RuntimeError("LOAD_WEIGHTS: the device's weights differ from the blob sent")

    def read_weights(self) -> bytes:
        out = bytearray()
        total = None
        lost = 0
        while total is None or len(out) < total:
            # the reply's size follows the line's state like any frame's
            want = max(1, self.link.body_limit - 8)
            job = Job.single(Cmd.READ_WEIGHTS, struct.pack("<IH", len(out), want), idempotent=True)
            frame = self.link.stream(job)[0].frame
            if frame is None:  # lost on the way: ask again, in a smaller reply by now
                lost += 1
                if lost > LOST_REPLIES_MAX:
                    raise LinkError(f"READ_WEIGHTS (offset {len(out)}): {lost} replies lost "
                                    "in a row")
                continue
            lost = 0
            body = self._check(Cmd.READ_WEIGHTS, frame).body
            total, _ = struct.unpack_from("<II", body)
            if len(body) == 8:
                break
            out += body[8:]
        return bytes(out)

    def _per_frame(self, n_features: int, labelled: bool, quant: Quantization | None,
                   batch_size: int | None, per_reply: Callable[[int], int],
                   default: int | None, reply: str) -> Callable[[int], int]:
        """How many samples a frame whose bodies stay within n bytes carries.

        batch_size (or default) caps it; the link shrinks frames below it on
        a noisy line. A batch_size larger than the device's largest frame is an error."""
        head = batch_header_bytes(quant is not None)
        record = batch_record_bytes(n_features, labelled, quant is not None)
        device_body = self.max_body
        by_request, by_reply = (device_body - head) // record, per_reply(device_body)
        largest = min(by_request, by_reply)
        if batch_size is not None and batch_size > largest:
            what = "frame" if by_request <= by_reply else reply
            raise ValueError(f"batch of {batch_size} samples does not fit the device's "
                             f"{device_body}-byte {what} (at most {largest})")
        # frames are cut smaller where the RX ring (link.max_body) or the line asks for it
        cap = batch_size or min(largest, default or largest)
        return lambda n: max(1, min(cap, (n - head) // record, per_reply(n)))

    def train(self, x: np.ndarray, y: np.ndarray, *, batch_size: int | None = None,
              quant: Quantization | None = None, progress: Progress | None = None) -> TrainSummary:
        """Stream labelled samples, each trained once and in order.

        batch_size caps the samples per frame (None: 16, or fewer if 16 do not
        fit); on a noisy line the link sends fewer. Frames only carry samples,
        so the result does not depend on how they were cut. On a LinkError see
        resync()."""
        x, y = np.atleast_2d(np.asarray(x, np.float32)), np.asarray(y)
        settled = self._stream_samples(Cmd.TRAIN, x, y, quant, batch_size, TrainReply.max_samples,
                                       "TRAIN reply", progress)
        parsed = [TrainReply.decode(self._check(Cmd.TRAIN, s.frame).body)
                  for s in settled if s.frame is not None]
        return TrainSummary(len(x), sum(p.trained for p in parsed), sum(p.skipped for p in parsed),
                            sum(p.not_selected for p in parsed), sum(p.loss_sum for p in parsed),
                            sum(s.frame is None for s in settled),
                            tuple(c for p in parsed for c in p.step_cycles),
                            tuple(o for p in parsed for o in p.outcomes),
                            tuple((p.count, p.correct, p.loss_sum) for p in parsed))

    def _stream_samples(self, cmd: Cmd, x: np.ndarray, y: np.ndarray | None,
                        quant: Quantization | None, batch_size: int | None,
                        reply_max: Callable[[int], int],
                        reply: str, progress: Progress | None) -> list[Settled]:
        """Stream a training batch command over the link; every settled frame, in order."""
        fit = self._per_frame(x.shape[1], y is not None, quant, batch_size, reply_max, 16, reply)
        job = Job(cmd, len(x), lambda lo, hi: encode_batch(x[lo:hi], None if y is None else y[lo:hi],
                                                           quant), fit)
        done = [0]

        def tick(s: Settled) -> None:
            done[0] += s.hi - s.lo
            if progress is not None:
                progress(done[0], len(x))

        settled = self.link.stream(job, on_reply=tick)
        self.link.stats.payload_bytes += len(x) * batch_record_bytes(x.shape[1], y is not None,
                                                                     quant is not None)
        return settled

    def train_unlabelled(self, x: np.ndarray, *, batch_size: int | None = None,
                         quant: Quantization | None = None,
                         progress: Progress | None = None) -> TrainSummary:
        """Stream unlabelled samples (TRAIN_UNLABELLED, protocol 5): the device labels
        each with its own prediction when params.pseudo_score is confident under
        params.pseudo_threshold and trains on it, and skips the others.

        The summary's pseudo_labels holds, per sample, the label used or -1; its
        skipped counts the gate's skips only (not confident: pseudo_labels == -1).
        Frames and a LinkError behave as in train(); the twin is Mlp.train_unlabelled()."""
        from hil_service.pseudo_wire import TrainUnlabelledReply

        x = np.atleast_2d(np.asarray(x, np.float32))
        settled = self._stream_samples(Cmd.TRAIN_UNLABELLED, x, None, quant, batch_size,
                                       TrainUnlabelledReply.max_samples, "TRAIN_UNLABELLED reply",
                                       progress)
        parsed = [TrainUnlabelledReply.decode(self._check(Cmd.TRAIN_UNLABELLED, s.frame).body)
                  for s in settled if s.frame is not None]
        labels = (np.concatenate([p.pseudo_labels for p in parsed]) if parsed
                  else np.zeros(0, np.int16))
        return TrainSummary(len(x), sum(p.trained for p in parsed), sum(p.skipped for p in parsed),
                            sum(p.not_selected for p in parsed), sum(p.loss_sum for p in parsed),
                            sum(s.frame is None for s in settled),
                            tuple(c for p in parsed for c in p.step_cycles),
                            tuple(o for p in parsed for o in p.outcomes), (), labels)

    def _predict(self, cmd: Cmd, x: np.ndarray, y: np.ndarray | None, score_kind: ScoreKind,
                 quant: Quantization | None, batch_size: int | None) -> Predictions:
        x = np.atleast_2d(np.asarray(x, np.float32))
        labelled = y is not None

        # the reply, not the request, bounds the batch when features are few
        def per_reply(n: int) -> int:
            return (n - PREDICTIONS_HEAD_BYTES) // PREDICTION_BYTES

        fit = self._per_frame(x.shape[1], labelled, quant, None, per_reply, batch_size,
                              f"{cmd.name} reply")

        def body(lo: int, hi: int) -> bytes:
            return encode_batch(x[lo:hi], y[lo:hi] if y is not None else None, quant,
                                int(score_kind))

        parts: dict[int, Predictions] = {}
        todo = [(0, len(x))]
        # predicting changes nothing on the device, so a batch whose reply was
        # lost is simply asked again
        lost = 0
        while todo:
            lo0, hi0 = todo.pop()
            job = Job(cmd, hi0 - lo0, functools.partial(_shifted, body, lo0), fit,
                      idempotent=True)
            for s in self.link.stream(job):
                if s.frame is None:
                    lost += 1
                    if lost > LOST_REPLIES_MAX * max(1, len(x)):
                        raise LinkError(f"{cmd.name}: {lost} replies lost")
                    todo.append((lo0 + s.lo, lo0 + s.hi))
                else:
                    parts[lo0 + s.lo] = Predictions.decode(self._check(cmd, s.frame).body,
                                                           labelled)
        return Predictions.concat([parts[k] for k in sorted(parts)])

    def infer(self, x: np.ndarray, *, score_kind: ScoreKind = ScoreKind.ENTROPY,
              quant: Quantization | None = None, batch_size: int | None = None) -> Predictions:
        return self._predict(Cmd.INFER, x, None, score_kind, quant, batch_size)

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, quant: Quantization | None = None,
                 batch_size: int | None = None) -> Evaluation:
        merged = self._predict(Cmd.EVALUATE, x, np.asarray(y), ScoreKind.NONE, quant, batch_size)
        n = len(merged.predicted)
        assert merged.correct is not None and merged.loss_sum is not None  # labelled
        return Evaluation(merged.correct / n, merged.loss_sum / n, merged)

    def metrics(self, reset: bool = False) -> Metrics:
        return Metrics.decode(self._call(Cmd.METRICS, bytes([int(reset)])).body)

    def reset(self, hard: bool = False) -> None:
        self._call(Cmd.RESET, bytes([int(hard)]))
        self.arch = None

    # -- continual learning (protocol 4; docs/protocol.md "Continual learning") --
    def configure_continual(self, arch: Arch, params: TrainParams, *, max_arch: Arch,
                            replay_capacity: int, seed: int | None = None) -> int:
        """CONFIGURE with the arena sized for max_arch (GROW's limit) plus replay_capacity
        bytes of replay memory. Returns arena bytes needed (model at max_arch + replay)."""
        from hil_service.continual_wire import encode_configure_continual

        conf = Configure(arch.sizes, int(params.strategy), params.learning_rate, params.momentum,
                         params.s_min, params.s_max, params.zeta, params.gate_threshold,
                         int(params.select_score), params.select_threshold, seed is not None,
                         seed or 0, int(params.pseudo_score), params.pseudo_threshold,
                         params.l2sp_lambda)
        reply = self._call(Cmd.CONFIGURE, encode_configure_continual(conf, max_arch.sizes,
                                                                     replay_capacity))
        self.arch = arch
        return int(struct.unpack_from("<I", reply.body)[0])

    def load_replay(self, x: np.ndarray, y: np.ndarray, *, ratio: int,
                    quant: Quantization | None = None) -> int:
        """Load the replay memory (replacing the old one), `ratio` replay steps after
        each TRAIN sample; an empty x empties it. Returns the memory's bytes."""
        from hil_service.continual_wire import LoadReplayReply, ReplayHead, replay_records

        y = np.asarray(y)
        if len(y) == 0:
            if self.arch is None:
                raise RuntimeError("call configure() first")
            empty = ReplayHead(0, self.arch.sizes[0], ratio, quant)
            return LoadReplayReply.decode(self._call(Cmd.LOAD_REPLAY, empty.encode(0, b"")).body).replay_bytes
        recs = replay_records(x, y, quant)
        head = ReplayHead(len(recs), np.atleast_2d(x).shape[1], ratio, quant)
        record = recs.shape[1]
        job = Job(Cmd.LOAD_REPLAY, len(recs), lambda lo, hi: head.encode(lo, recs[lo:hi].tobytes()),
                  lambda n: max(1, (n - head.head_bytes) // record))
        settled = self.link.stream(job)
        replies = [LoadReplayReply.decode(self._check(Cmd.LOAD_REPLAY, s.frame).body)
                   for s in settled if s.frame is not None]
        if settled[-1].frame is None or not replies[-1].complete:
            raise LinkError("LOAD_REPLAY: the reply to the last chunk was lost; load again")
        return replies[-1].replay_bytes

    def grow(self, to: Arch, seed: int) -> int:
        """Grow the model to `to` (function-preserving, docs/core.md "Growth"). Returns
        its parameter count."""
        from hil_service.continual_wire import GrowReply, encode_grow

        reply = GrowReply.decode(self._call(Cmd.GROW, encode_grow(to.sizes, seed)).body)
        self.arch = to
        return reply.n_params
