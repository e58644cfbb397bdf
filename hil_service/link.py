"""Frames over a serial line: sequence numbers, a send window, retries.

The link sends requests with consecutive sequence numbers and keeps at most
`window` wire bytes unacknowledged (the device's RX buffer size from HELLO),
so the device's buffer never overflows whatever the baud rate. Replies come
back in order. When the device reports a frame it could not use (bad CRC,
overrun, sequence gap) or a reply does not come in time, the link goes back
to the first unacknowledged request and resends from there with the same
sequence numbers; the device executes each sequence number once and answers
a resend of its last request from its reply cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from hil_service.protocol import (
    FLAG_STALE,
    REPLY,
    TRANSPORT_ERRORS,
    Cmd,
    ErrorCode,
    ErrorReply,
    Frame,
    FrameDecoder,
    LinkStats,
)


class SerialLike(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    @property
    def in_waiting(self) -> int: ...
    def close(self) -> None: ...


class LinkError(RuntimeError):
    """The link could not deliver a request; names the command and sequence number."""


class LinkTimeout(LinkError):
    """No usable reply within the timeout, after every retry."""


def _cmd_name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"0x{cmd:02x}"


class Link:
    def __init__(self, port: SerialLike, *, timeout: float = 5.0, retries: int = 4,
                 window: int = 1024) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.window = window
        self.stats = LinkStats()
        self._decoder = FrameDecoder()
        self._pending: list[Frame] = []
        self._next_seq = 0

    def close(self) -> None:
        self.port.close()

    # -- I/O ---------------------------------------------------------------
    def _write(self, wire: bytes) -> None:
        self.port.write(wire)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(wire)

    def _read_frame(self, deadline: float) -> Frame | None:
        while not self._pending:
            if time.monotonic() >= deadline:
                return None
            data = self.port.read(max(1, self.port.in_waiting))
            if data:
                self.stats.bytes_received += len(data)
                self._pending.extend(self._decoder.feed(data))
        self.stats.frames_received += 1
        return self._pending.pop(0)

    def _error(self, kind: str) -> None:
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1

    # -- exchanges -----------------------------------------------------------
    def request(self, cmd: int, body: bytes = b"", timeout: float | None = None) -> Frame:
        """One request, its reply (a reply frame or an ERROR frame)."""
        reply = self.exchange([(cmd, body)], timeout=timeout)[0]
        if reply is None:
            raise LinkError(f"{_cmd_name(cmd)}: the device executed it but its reply was lost")
        return reply

    def resync(self, seq: int) -> None:
        """Next request carries seq (HELLO tells the device to expect it)."""
        self._next_seq = seq & 0xFFFF
        self._pending.clear()

    def exchange(self, requests: Sequence[tuple[int, bytes]], timeout: float | None = None,
                 on_reply: Callable[[int, Frame | None], None] | None = None) -> list[Frame | None]:
        """Send requests pipelined within the window; replies in request order.

        An entry is None when the device executed the request but its reply was
        lost (a later reply proves execution): the caller can ask METRICS."""
        timeout = self.timeout if timeout is None else timeout
        n = len(requests)
        seqs = [(self._next_seq + i) & 0xFFFF for i in range(n)]
        self._next_seq = (self._next_seq + n) & 0xFFFF
        wires = [Frame(cmd, seq, body).wire() for (cmd, body), seq in zip(requests, seqs)]
        results: list[Frame | None] = [None] * n
        base = nxt = in_flight = 0
        failures = 0
        ignore_gap_for: int | None = None

        def go_back(reason: str) -> None:
            nonlocal nxt, in_flight, failures
            failures += 1
            self._error(reason)
            if failures > self.retries:
                cmd, _ = requests[base]
                kind = LinkTimeout if reason == "timeout" else LinkError
                raise kind(f"{_cmd_name(cmd)} (seq {seqs[base]}): {reason}, "
                           f"{self.retries} resends did not help")
            self.stats.resent += nxt - base
            nxt, in_flight = base, 0

        def settle(upto: int, frame: Frame | None) -> None:
            nonlocal base, in_flight, failures, ignore_gap_for
            for i in range(base, upto):
                if on_reply is not None:
                    on_reply(i, None)
            results[upto] = frame
            if on_reply is not None:
                on_reply(upto, frame)
            base = upto + 1
            in_flight = sum(len(w) for w in wires[base:nxt])
            failures = 0
            ignore_gap_for = None

        while base < n:
            while nxt < n and (nxt == base or in_flight + len(wires[nxt]) <= self.window):
                self._write(wires[nxt])
                in_flight += len(wires[nxt])
                nxt += 1
            frame = self._read_frame(time.monotonic() + timeout)
            if frame is None:
                go_back("timeout")
                continue
            if frame.cmd == Cmd.ERROR:
                err = ErrorReply.decode(frame.body)
                if err.code in TRANSPORT_ERRORS:
                    if err.code == ErrorCode.SEQ_GAP and err.expected_seq == ignore_gap_for:
                        continue  # an echo of frames already being resent
                    ahead = (err.expected_seq - seqs[base]) & 0xFFFF
                    if 0 < ahead <= nxt - base:
                        # the device ran requests whose replies got lost
                        for i in range(base, base + ahead):
                            results[i] = None
                        base += ahead
                        if base >= n:
                            break
                    go_back(ErrorCode(err.code).name.lower())
                    ignore_gap_for = err.expected_seq
                    continue
            offset = (frame.seq - seqs[base]) & 0xFFFF
            if offset >= nxt - base:
                self._error("unexpected_reply")
                continue  # a late duplicate of something already settled
            idx = base + offset
            cmd = requests[idx][0]
            if frame.cmd not in (cmd | REPLY, Cmd.ERROR):
                self._error("mismatched_reply")
                continue
            settle(idx, None if frame.flags & FLAG_STALE else frame)
        return results
