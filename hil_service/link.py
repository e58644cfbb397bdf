"""Frames over a serial line: exactly once, windowed, surviving a noisy line.

The link sends a command's items (samples, blob bytes) in frames with
consecutive sequence numbers and keeps at most `window` wire bytes in flight,
never more than the device's RX ring holds (HELLO's rx_capacity, less a
margin for bytes a noisy line inserts). The device executes each sequence
number once, in order, and answers a resend of its last request from its
reply cache (docs/protocol.md, "Recovery").

Recovery never guesses. On anything unexpected (a transport error, a damaged
frame, a reply that does not come) the link stops sending and sends a
*marker*: a frame whose seq lies half the sequence space ahead, which the
device never executes and answers with SEQ_GAP carrying its next expected
seq. The line keeps order, so when the marker's answer arrives every copy
sent before it has been dealt with: the window is empty, the frames below the
expected seq ran and the others did not and are not on the wire any more.
The link then fetches the lost reply of the last frame that ran (an empty
frame with its seq gets the cached reply), frames the remaining items anew,
smaller if the line keeps failing, and carries on. Echoes of old copies
never count as failures; only a frame that had to be sent again does.

A command whose one-item frame does not fit the size the line allows any
more is sent as FRAGMENT pieces (protocol 5), each its own frame with its own
seq, recovered like any frame; the device reassembles them and runs the
command once, with the last piece (docs/protocol.md, "Fragments"). When the
line is clean again the size grows back and items go whole.

The link gives up when `budget` seconds pass without any frame settling (a
junk stream does not hold it: waits run from the last send or settle, not
from the last byte). A give-up leaves copies on the wire; the next exchange,
or `sync()`, first waits for the marker and so learns what the device ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hil_service import wire_gen as W
from hil_service.errors import HilError
from hil_service.protocol import (
    CRC_BYTES,
    DEFAULT_MAX_BODY,
    FLAG_STALE,
    HEADER_BYTES,
    REPLY,
    TRANSPORT_ERRORS,
    Cmd,
    ErrorCode,
    ErrorReply,
    Frame,
    FrameDecoder,
)
from hil_service.protocol import LinkStats as _ProtocolLinkStats

#: A marker's seq is this far ahead of the oldest seq that may not have run:
#: the device answers SEQ_GAP (it runs only `expected`, caches only
#: `expected - 1` and calls anything up to 0x7FFF behind stale).
MARKER_AHEAD = 0x8000
MARKER_CMD = 0x00
#: Distinct markers, so a late answer to an old one is told apart.
_MARKER_IDS = 0x1000
#: Smallest frame the link shrinks to, in wire bytes (a frame still carries one item).
MIN_FRAME_WIRE = 48
#: A lost marker is sent again after at most this many quiet times.
MAX_BACKOFF = 4.0
#: Frames that settle after a recovery before waits go back to clean-line length.
TROUBLE_FRAMES = 32
#: Frames that must settle cleanly in a row before frames grow again.
GROW_AFTER = 4
#: Fewest body bytes a FRAGMENT piece carries (below that its head and CRC dominate).
MIN_PIECE = 16


class SerialLike(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    @property
    def in_waiting(self) -> int: ...
    def close(self) -> None: ...


@dataclass
class LinkStats(_ProtocolLinkStats):
    syncs: int = 0  # markers sent to learn the device's position
    fetched: int = 0  # lost replies fetched from the device's reply cache
    lost_replies: int = 0  # frames that ran but whose reply could not be had
    shrinks: int = 0  # times the frame size was halved
    grows: int = 0  # times it was doubled back
    fragments: int = 0  # FRAGMENT frames sent (resends included)
    fragmented: int = 0  # reassemblies started: items sent in pieces


@dataclass(frozen=True)
class Job:
    """`count` items of one command, framed by the link.

    `body(lo, hi)` is the request body for items [lo, hi); `fit(n)` is how
    many items a frame may carry when request and reply bodies must stay
    within n bytes (at least 1)."""

    cmd: int
    count: int
    body: Callable[[int, int], bytes]
    fit: Callable[[int], int]
    #: HELLO: runs whatever seq it carries, so a lost reply is asked again
    #: and a device elsewhere in the sequence space is no error.
    opens_session: bool = False
    #: Running it again changes nothing (INFER, EVALUATE, READ_WEIGHTS): when
    #: its reply cannot be fetched twice in a row it settles as lost (None)
    #: and the caller asks again, in smaller frames by then.
    idempotent: bool = False

    @classmethod
    def single(cls, cmd: int, body: bytes = b"", idempotent: bool = False) -> Job:
        hello = cmd == Cmd.HELLO
        return cls(cmd, 1, lambda lo, hi: body, lambda n: 1, opens_session=hello,
                   idempotent=idempotent or hello)


@dataclass(frozen=True)
class Settled:
    """Items [lo, hi) ran on the device; frame is their reply (None: lost)."""

    lo: int
    hi: int
    frame: Frame | None


@dataclass(frozen=True)
class Interrupted:
    """What a give-up leaves: items up to `acknowledged` ran for sure; the
    frames (seq, lo, hi) may or may not have run (copies still on the wire)."""

    cmd: int
    count: int
    acknowledged: int
    frames: tuple[tuple[int, int, int], ...]

    @property
    def applied_at_most(self) -> int:
        return max((hi for _, _, hi in self.frames), default=self.acknowledged)

    def applied(self, expected_seq: int) -> int | None:
        """Items that ran, given the device's next expected seq (None: not ours)."""
        if not self.frames:
            return self.acknowledged
        d = (expected_seq - self.frames[0][0]) & 0xFFFF
        if d > len(self.frames):
            return None
        return self.frames[d - 1][2] if d else self.acknowledged


@dataclass(frozen=True)
class SyncResult:
    """The device's position after every copy on the wire was dealt with."""

    expected_seq: int | None  # None: the device answered as if it were elsewhere (reset?)
    interrupted: Interrupted | None  # the exchange a give-up left, if any
    applied: int | None  # items of it that ran (None: unknown or no interruption)


class LinkError(HilError, RuntimeError):
    """The link could not deliver a request; names the command and sequence number."""

    def __init__(self, message: str, interrupted: Interrupted | None = None) -> None:
        super().__init__(message)
        self.interrupted = interrupted


class LinkTimeout(LinkError):
    """Nothing usable came back within the budget."""


class PortError(LinkError):
    """The serial port itself failed (the target's end went away)."""


def _cmd_name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"0x{cmd:02x}"


def wire_bytes(body: int) -> int:
    """Wire bytes of a frame with `body` body bytes, COBS worst case and delimiter."""
    n = HEADER_BYTES + body + CRC_BYTES
    return n + n // 254 + 2


def body_within(wire: int) -> int:
    """The largest body whose frame takes at most `wire` wire bytes."""
    body = max(0, wire - HEADER_BYTES - CRC_BYTES - 2)
    while body and wire_bytes(body) > wire:
        body -= 1
    return body


@dataclass
class _Sent:
    kind: str  # "frame", "fetch" or "marker"
    seq: int
    nbytes: int


@dataclass(frozen=True)
class _Piece:
    """Body bytes [offset, end) of total of the reassembly opened by first_seq."""

    first_seq: int
    offset: int
    end: int
    total: int

    @property
    def last(self) -> bool:
        return self.end == self.total


@dataclass
class _Out:
    seq: int
    lo: int
    hi: int
    sent_at: float
    fetching: bool = False
    fetches: int = 0
    piece: _Piece | None = None

    @property
    def items(self) -> bool:
        """Its reply settles items (a whole frame or a last piece)."""
        return self.piece is None or self.piece.last


class Link:
    def __init__(self, port: SerialLike, *, timeout: float = 5.0, retries: int | None = None,
                 window: int = 1024, budget: float = 30.0,
                 max_body: int = DEFAULT_MAX_BODY, byte_time: float = 10 / 115200) -> None:
        """timeout: the longest one reply may take on a clean line; budget: give up
        after this long without progress; retries (optional): also give up after
        that many resend rounds without progress; byte_time: seconds per byte on
        the line at most (8N1 at the baud rate), to wait for what is in flight."""
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.budget = budget
        self.byte_time = byte_time
        self.stats = LinkStats()
        self.interrupted: Interrupted | None = None
        self._decoder = FrameDecoder()
        self._pending: list[Frame] = []
        self._next_seq = 0
        self._pipe: list[_Sent] = []
        self._in_flight = 0
        self._markers = 0
        # reply time per command: a TRAIN frame takes longer than a METRICS one
        self._srtt: dict[int, float] = {}
        self._cmd = 0  # the command of the exchange under way
        self._trouble = 0  # frames to settle before the line counts as clean again
        self._clean_run = 0
        self._failed_in_row = 0
        self.set_limits(rx_capacity=window, max_body=max_body)  # no pieces before HELLO

    def close(self) -> None:
        self.port.close()

    # -- sizes -------------------------------------------------------------
    def set_limits(self, *, rx_capacity: int, max_body: int, frag_max: int = 0) -> None:
        """The device's RX ring, largest body and reassembly buffer (from HELLO);
        resets the adaptive sizes."""
        self.frag_max = frag_max
        # room for bytes a noisy line adds (duplicates, garbage) and for markers
        slack = min(1024, max(32, rx_capacity // 16))
        self.rx_window = max(2 * MIN_FRAME_WIRE, rx_capacity - slack)
        # issue 10: a frame must fit the ring even when the ring equals max_body
        self.max_body = min(max_body, body_within(self.rx_window))
        # two frames in flight at least, so the device works on one while the next arrives
        self._cap_max = min(wire_bytes(self.max_body), max(MIN_FRAME_WIRE, self.rx_window // 2))
        self.frame_cap = self._cap_max
        self.window = self.rx_window

    @property
    def body_limit(self) -> int:
        """The largest body to put in a frame now (request and reply alike)."""
        return min(self.max_body, body_within(self.frame_cap))

    def _failed(self) -> None:
        self._clean_run = 0
        self._failed_in_row += 1
        self.window = max(self.frame_cap, self.window // 2)
        if self._failed_in_row >= 2 and self.frame_cap > MIN_FRAME_WIRE:
            # halve, then quarter, ...: a line far worse than the frames fits fast
            factor = 1 << min(4, self._failed_in_row - 1)
            self.frame_cap = max(MIN_FRAME_WIRE, self.frame_cap // factor)
            self.window = max(self.frame_cap, min(self.window, 2 * self.frame_cap))
            self.stats.shrinks += 1

    def _succeeded(self) -> None:
        self._failed_in_row = 0
        self._clean_run += 1
        self.window = min(self.rx_window, self.window + self.frame_cap)
        if self._clean_run >= GROW_AFTER and self.frame_cap < self._cap_max:
            self.frame_cap = min(self._cap_max, self.frame_cap * 2)
            self.stats.grows += 1
            self._clean_run = 0

    def _quiet(self, max_wait: float, backoff: float = 1.0) -> float:
        """How long to wait for a reply before asking where the device is: a few
        reply times, and the time the device takes for what is in flight."""
        srtt = self._srtt.get(self._cmd)
        # a clean line loses a reply rarely, a busy host may stall a while: wait
        # longer there; once the line gave trouble, recover fast
        floor = 0.1 if self._trouble else 0.5
        if srtt is None:  # no reply time yet for this command: the line's speed bounds it
            other = max(self._srtt.values(), default=0.25)
            base = max(floor, 4 * other) + 2 * self._in_flight * self.byte_time
        else:
            frames = sum(s.kind != "marker" for s in self._pipe)
            base = max(floor, 4 * srtt) + frames * srtt
        return min(max_wait, backoff * base)

    # -- I/O ---------------------------------------------------------------
    def _write(self, wire: bytes) -> None:
        try:
            self.port.write(wire)
        except OSError as exc:  # pyserial's SerialException: the target's end went away
            raise PortError(f"serial port write failed: {exc}") from exc
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(wire)

    def _send(self, kind: str, frame: Frame) -> None:
        wire = frame.wire()
        if kind != "frame" or self.frame_cap < self._cap_max:
            # on a noisy line a delimiter may have been lost: a leading one ends
            # whatever came before as its own bad frame (an empty one is ignored)
            wire = b"\x00" + wire
        self._write(wire)
        self._pipe.append(_Sent(kind, frame.seq, len(wire)))
        self._in_flight += len(wire)

    def _confirm(self, kind: tuple[str, ...], seq: int) -> bool:
        """The device answered this pipe entry: it and all before it left its ring."""
        for i, s in enumerate(self._pipe):
            if s.kind in kind and s.seq == seq:
                gone = self._pipe[: i + 1]
                del self._pipe[: i + 1]
                self._in_flight -= sum(g.nbytes for g in gone)
                return True
        return False

    def _read_frame(self, deadline: float) -> Frame | None:
        """The next frame, or None at the deadline or when a damaged one came."""
        while not self._pending:
            if time.monotonic() >= deadline:
                return None
            dropped = self._decoder.dropped
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except OSError as exc:  # pyserial's SerialException: the target's end went away
                raise PortError(f"serial port read failed: {exc}") from exc
            if data:
                self.stats.bytes_received += len(data)
                self._pending.extend(self._decoder.feed(data))
            if self._decoder.dropped != dropped and not self._pending:
                self._error("damaged_reply")
                return None
        self.stats.frames_received += 1
        return self._pending.pop(0)

    def _error(self, kind: str) -> None:
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1

    def _marker(self, base: int) -> int:
        while True:
            seq = (base + MARKER_AHEAD - self._markers % _MARKER_IDS) & 0xFFFF
            self._markers += 1
            # base and the count can move in step (base + 1, count + 1): never reuse
            # the seq of a marker whose answer is still to come, or that late answer
            # (sent before the frames since) would pass for the new marker's
            if not any(s.kind == "marker" and s.seq == seq for s in self._pipe):
                break
        self.stats.syncs += 1
        self._send("marker", Frame(MARKER_CMD, seq))
        return seq

    def _marker_answer(self, frame: Frame) -> tuple[bool, int | None]:
        """(is it a marker's answer, the expected seq it reports)."""
        if not any(s.kind == "marker" and s.seq == frame.seq for s in self._pipe):
            return False, None
        if frame.cmd == Cmd.ERROR and len(frame.body) >= 8:
            err = ErrorReply.decode(frame.body)
            if err.code == ErrorCode.SEQ_GAP and err.cmd == MARKER_CMD:
                return True, err.expected_seq
        if frame.cmd == MARKER_CMD | REPLY and frame.flags & FLAG_STALE:
            return True, None  # the device's seq is nowhere near ours
        return False, None

    def _marker_tail(self) -> int:
        """Markers at the end of the pipe (sent after the last frame)."""
        tail = 0
        for s in reversed(self._pipe):
            if s.kind != "marker":
                break
            tail += 1
        return tail

    # -- exchanges -----------------------------------------------------------
    def request(self, cmd: int, body: bytes = b"", timeout: float | None = None) -> Frame:
        """One request, its reply (a reply frame or an ERROR frame)."""
        reply = self.stream(Job.single(cmd, body), timeout=timeout)[0].frame
        if reply is None:
            raise LinkError(f"{_cmd_name(cmd)}: the device executed it but its reply was lost")
        return reply

    def stream(self, job: Job, *, timeout: float | None = None,
               on_reply: Callable[[Settled], None] | None = None) -> list[Settled]:
        """Send job's items framed within the window; settled frames in item order."""
        if self.interrupted is not None or self._marker_tail() != len(self._pipe):
            self.sync(timeout)  # copies of an earlier exchange may still be on the wire
        return _Exchange(self, job, self.timeout if timeout is None else timeout, on_reply).run()

    def sync(self, timeout: float | None = None) -> SyncResult:
        """Wait until every copy on the wire has been dealt with; learn the device's position.

        After a give-up this tells how much of the interrupted exchange ran
        (`applied`) and puts the link's sequence where the device is."""
        max_wait = self.timeout if timeout is None else timeout
        start = time.monotonic()
        backoff = 1.0
        interrupted = self.interrupted
        base = interrupted.frames[0][0] if interrupted and interrupted.frames else self._next_seq
        markers = {self._marker(base)}
        wait_until = start + self._quiet(max_wait)
        while True:
            frame = self._read_frame(wait_until)
            now = time.monotonic()
            if frame is not None:
                is_marker, expected = self._marker_answer(frame)
                if is_marker:
                    self._confirm(("marker",), frame.seq)
                    if frame.seq in markers:
                        break
                continue  # answers to old copies: the exchange they belonged to is over
            if now - start > max(self.budget, max_wait):
                raise LinkTimeout(f"sync: no answer from the device in {now - start:.1f} s; "
                                  "the line or the device is down", interrupted)
            if now >= wait_until:
                backoff = min(MAX_BACKOFF, 2 * backoff)
                wait_until = now + self._quiet(max_wait, backoff)
            elif self._marker_tail() >= 3:
                continue
            markers.add(self._marker(base))
        self._pipe.clear()
        self._in_flight = 0
        applied = None
        if expected is not None:
            self._next_seq = expected
            if interrupted is not None:
                applied = interrupted.applied(expected)
        self.interrupted = None
        return SyncResult(expected, interrupted, applied)


class _Exchange:
    """One Link.stream call: its frames in flight and what has settled."""

    def __init__(self, link: Link, job: Job, max_wait: float,
                 on_reply: Callable[[Settled], None] | None) -> None:
        self.link, self.job, self.max_wait, self.on_reply = link, job, max_wait, on_reply
        link._cmd = job.cmd
        self.out: list[_Out] = []  # sent, not settled, oldest first
        self.pos = 0  # first item not in out nor settled
        # the item at pos in pieces: body bytes already sent, and its reassembly's first seq
        self.piece_at = 0
        self.piece_first = 0
        self.sent_upto = (0, 0)  # (item, piece offset) sent at least once: resends lie below
        self.done: list[Settled] = []
        self.syncing: set[int] = set()  # markers of the sync under way
        self.progress_at = self.last_reply_at = time.monotonic()
        self.rounds = 0
        self.backoff = 1.0
        self.wait_until = self.progress_at + link._quiet(max_wait)
        self.reason = ""
        # pos, seq, limit, piece_at -> frame, items, piece
        self._built: tuple[tuple[int, int, int, int], Frame, int, _Piece | None] | None = None

    def run(self) -> list[Settled]:
        try:
            return self._run()
        except PortError as exc:
            gone = self._interrupted()
            self.link.interrupted = gone
            seq = self.out[0].seq if self.out else self.link._next_seq
            raise PortError(f"{_cmd_name(self.job.cmd)} (seq {seq}): {exc}; the device ran "
                            f"items [0, {gone.acknowledged}) of {gone.count}", gone) from exc

    def _run(self) -> list[Settled]:
        link = self.link
        while self.pos < self.job.count or self.out:
            if not self.syncing:
                self._fill()
            frame = link._read_frame(self.wait_until)
            now = time.monotonic()
            if frame is not None:
                self._handle(frame, now)
            elif now >= self.wait_until:
                self._timed_out(now)
            else:
                self._damaged(now)
            if now - self.progress_at > max(link.budget, self.max_wait) or (
                    link.retries is not None and self.rounds > link.retries):
                self._give_up(now)
        return self.done

    # -- sending -------------------------------------------------------------
    def _next_frame(self) -> tuple[Frame, int, _Piece | None]:
        """The frame starting at pos under the current size limit, its item count,
        and which piece of the item's body it is when the item goes in pieces."""
        link, job = self.link, self.job
        limit = link.body_limit
        key = (self.pos, link._next_seq, limit, self.piece_at)
        if self._built is None or self._built[0] != key:
            n = max(1, min(job.fit(limit), job.count - self.pos))
            body = job.body(self.pos, self.pos + n)
            piece = None
            if self.piece_at or (n == 1 and len(body) > limit and self._may_split(len(body))):
                # not even one item fits the line's size: its body in pieces
                body = job.body(self.pos, self.pos + 1) if n > 1 else body
                first = self.piece_first if self.piece_at else link._next_seq
                end = min(len(body), self.piece_at + max(MIN_PIECE, limit - W.FRAGMENT.head_bytes))
                piece = _Piece(first, self.piece_at, end, len(body))
                frame = Frame(Cmd.FRAGMENT, link._next_seq, W.FRAGMENT.encode(
                    cmd=job.cmd, reserved=0, first_seq=first, total=len(body),
                    offset=self.piece_at, piece=body[self.piece_at : end]))
                n = 1
            else:
                frame = Frame(job.cmd, link._next_seq, body)
            self._built = (key, frame, n, piece)
        return self._built[1], self._built[2], self._built[3]

    def _may_split(self, body: int) -> bool:
        """The device reassembles a body this long (HELLO's frag_max), and the
        command may go in pieces (HELLO opens a session, which ends a reassembly)."""
        return not self.job.opens_session and 0 < body <= self.link.frag_max

    def _fill(self) -> None:
        link = self.link
        sent = False
        while self.pos < self.job.count:
            frame, n, piece = self._next_frame()
            if link._pipe and link._in_flight + len(frame.wire()) + 1 > link.window:
                break
            link._send("frame", frame)
            at = (self.pos, self.piece_at)
            if at < self.sent_upto:
                link.stats.resent += 1
            self.out.append(_Out(frame.seq, self.pos, self.pos + n, time.monotonic(), piece=piece))
            if piece is None or piece.last:
                self.pos += n
                self.piece_at = 0
            else:
                self.piece_at, self.piece_first = piece.end, piece.first_seq
            if piece is not None:
                link.stats.fragments += 1
                link.stats.fragmented += piece.offset == 0
            self.sent_upto = max(self.sent_upto, (self.pos, self.piece_at))
            link._next_seq = (link._next_seq + 1) & 0xFFFF
            sent = True
        if sent:
            self.wait_until = time.monotonic() + self.link._quiet(self.max_wait, self.backoff)

    def _start_sync(self, now: float) -> None:
        link = self.link
        link._trouble = TROUBLE_FRAMES
        base = self.out[0].seq if self.out else link._next_seq
        self.syncing.add(link._marker(base))
        self.wait_until = now + link._quiet(self.max_wait, self.backoff)

    def _anomaly(self, now: float, reason: str) -> None:
        """A transport error: some frame did not get through."""
        self.link._error(reason)
        if not self.syncing:
            self.reason = reason
            self.rounds += 1
            self._start_sync(now)
        elif self.link._marker_tail() < 3:
            self._start_sync(now)  # it may have been the marker that was spoilt

    def _damaged(self, now: float) -> None:
        """A damaged frame came: a reply, an echo, or the marker's answer."""
        if not self.syncing:
            self.reason = "damaged_reply"
            self.rounds += 1
            self._start_sync(now)
        elif self.link._marker_tail() < 3:
            self._start_sync(now)  # it may have been the marker's answer: ask again, cheaply

    def _timed_out(self, now: float) -> None:
        self.link._error("timeout")
        if self.syncing:
            self.backoff = min(MAX_BACKOFF, 2 * self.backoff)
        else:
            self.reason = "timeout"
        self.rounds += 1
        self._start_sync(now)

    # -- receiving -----------------------------------------------------------
    def _handle(self, frame: Frame, now: float) -> None:
        link = self.link
        is_marker, expected = link._marker_answer(frame)
        if is_marker:
            link._confirm(("marker",), frame.seq)
            if frame.seq in self.syncing:
                self.syncing.clear()
                self._reconcile(expected, now)
            return
        if frame.cmd == Cmd.ERROR and len(frame.body) >= 8:
            err = ErrorReply.decode(frame.body)
            if err.code in TRANSPORT_ERRORS:
                self._anomaly(now, ErrorCode(err.code).name.lower())
                return
        idx = next((i for i, o in enumerate(self.out) if o.seq == frame.seq), None)
        if idx is None:
            link._error("unexpected_reply")
            return
        out = self.out[idx]
        # a piece before the last is answered by FRAGMENT; the last by the command itself
        want = self.job.cmd if out.items else Cmd.FRAGMENT
        if frame.cmd not in (want | REPLY, Cmd.ERROR):
            link._error("mismatched_reply")
            return
        if not out.items and frame.cmd == Cmd.ERROR and not frame.flags & FLAG_STALE:
            self._refused_piece(out, ErrorReply.decode(frame.body))
        link._confirm(("fetch",) if out.fetching else ("frame",), out.seq)
        if out.fetching:
            link.stats.fetched += 1
        else:
            sample = now - max(out.sent_at, self.last_reply_at)
            old = link._srtt.get(self.job.cmd)
            link._srtt[self.job.cmd] = sample if old is None else 0.8 * old + 0.2 * sample
        self.last_reply_at = now
        self._settle(idx, None if frame.flags & FLAG_STALE else frame, now)

    def _settle(self, idx: int, frame: Frame | None, now: float) -> None:
        for i, o in enumerate(self.out[: idx + 1]):
            got = frame if i == idx else None
            if o.items:  # a piece before the last settles no item and its reply says nothing
                if got is None:
                    self.link.stats.lost_replies += 1
                settled = Settled(o.lo, o.hi, got)
                self.done.append(settled)
                if self.on_reply is not None:
                    self.on_reply(settled)
            self.link._succeeded()
            self.link._trouble = max(0, self.link._trouble - 1)
        del self.out[: idx + 1]
        self.progress_at = now
        self.rounds = 0
        self.backoff = 1.0
        if not self.syncing:
            self.wait_until = now + self.link._quiet(self.max_wait)

    def _reconcile(self, expected: int | None, now: float) -> None:
        """Every copy sent so far has been dealt with and the device expects `expected`."""
        link = self.link
        self.backoff = 1.0
        self.wait_until = now + link._quiet(self.max_wait)
        first = self.out[0].seq if self.out else link._next_seq
        ran = None if expected is None else (expected - first) & 0xFFFF
        if ran is None or ran > len(self.out):
            if not self.job.opens_session:
                where = "an unknown seq" if expected is None else f"seq {expected}"
                raise LinkError(
                    f"{_cmd_name(self.job.cmd)} (seq {first}): the device expects {where}, not "
                    f"{first}..{(first + len(self.out)) & 0xFFFF}: it was reset, or another host "
                    "spoke to it", self._interrupted())
            ran = 0  # HELLO runs at any seq: send it again
        if self.job.opens_session:
            ran = 0  # a HELLO whose reply was lost is simply asked again
        if ran < len(self.out):
            # these never ran and no copy of them is on the wire: frame them anew
            # (a piece goes on from its offset: the device holds the ones before it)
            first_lost = self.out[ran]
            self.pos = first_lost.lo
            piece = first_lost.piece
            self.piece_at = piece.offset if piece is not None else 0
            if piece is not None:
                self.piece_first = piece.first_seq
            link._next_seq = first_lost.seq
            del self.out[ran:]
            link._failed()
        if ran:
            # the last one that ran: its reply is in the device's cache
            if ran > 1:
                self._settle(ran - 2, None, now)
            last = self.out[0]
            if not last.items:
                self._settle(0, None, now)  # a piece's answer says only that it ran
                return
            if last.fetching:
                link._failed()  # its reply did not come through: smaller frames from now on
                if self.job.idempotent and last.fetches >= 2:
                    self._settle(0, None, now)
                    return
            last.fetching = True
            last.fetches += 1
            link._send("fetch", Frame(self.job.cmd, last.seq))

    def _interrupted(self) -> Interrupted:
        acknowledged = max((s.hi for s in self.done), default=0)
        # a piece before the last applies nothing even when it ran
        return Interrupted(self.job.cmd, self.job.count, acknowledged,
                           tuple((o.seq, o.lo, o.hi if o.items else o.lo) for o in self.out))

    def _refused_piece(self, out: _Out, err: ErrorReply) -> None:
        """The device refused a piece: the host and the device disagree about the
        reassembly; nothing of the item ran. Give up loudly rather than guess."""
        gone = self._interrupted()
        self.link.interrupted = gone
        piece = out.piece
        assert piece is not None
        raise LinkError(
            f"{_cmd_name(self.job.cmd)} (seq {out.seq}): the device refused piece "
            f"[{piece.offset}, {piece.end}) of {piece.total} body bytes of item {out.lo} "
            f"({err.describe()}, it holds {err.detail}); the device ran items "
            f"[0, {gone.acknowledged}) of {gone.count}", gone)

    def _give_up(self, now: float) -> None:
        link = self.link
        gone = self._interrupted()
        link.interrupted = gone
        name = _cmd_name(self.job.cmd)
        seqs = f"seq {self.out[0].seq}" if self.out else f"seq {link._next_seq}"
        reason = self.reason or "no reply"
        if gone.frames:
            state = (f"the device ran items [0, {gone.acknowledged}) of {gone.count} and may have "
                     f"run up to {gone.applied_at_most}; Device.resync() tells which")
        else:
            state = f"the device ran items [0, {gone.acknowledged}) of {gone.count}"
        kind = LinkTimeout if reason == "timeout" else LinkError
        raise kind(f"{name} ({seqs}): {reason}, no progress in {now - self.progress_at:.1f} s "
                   f"({self.rounds} resend rounds); {state}", gone)
