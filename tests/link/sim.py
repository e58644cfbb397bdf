"""The firmware's sequencing (odl_server.c on_frame) in Python, behind a byte
ring of rx_capacity, as a SerialLike port for Link and Device.

The ring is filled the moment the host writes and drained only when the host
reads: the worst case for the ring (an emulator that hands a whole burst to
the UART at once, Renode's), so a host that sends more than rx_capacity
unacknowledged bytes loses bytes here. TRAIN records which samples trained,
in order (feature 0 carries the sample's id), so a test sees any sample lost
or trained twice. Faults come from the same ByteFaults as the TCP proxy.
FRAGMENT pieces are reassembled as odl_server.c's cmd_fragment does.
"""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np

from hil_service import wire_gen as W
from hil_service.protocol import (
    FLAG_STALE,
    PROTOCOL_VERSION,
    REPLY,
    Cmd,
    ErrorCode,
    FrameError,
    Hello,
    cobs_decode,
    cobs_encode,
    parse_frame,
)
from hil_service.testing.faultproxy import ByteFaults, FaultSpec

N_FEATURES = 4


def raw_frame(cmd: int, seq: int, body: bytes = b"", flags: int = 0) -> bytes:
    head = struct.pack("<BBH", cmd, flags, seq & 0xFFFF) + body
    return cobs_encode(head + struct.pack("<I", zlib.crc32(head)))


class SimDevice:
    def __init__(self, *, rx_capacity: int = 16384, max_body: int = 8192,
                 up: FaultSpec | None = None, down: FaultSpec | None = None,
                 seed: int = 0, frag_max: int = 4113) -> None:
        self.rx_capacity, self.max_body, self.frag_max = rx_capacity, max_body, frag_max
        # the reassembly under way: (cmd, first_seq, total, body so far)
        self.frag: tuple[int, int, int, bytearray] | None = None
        self.up, self.down = ByteFaults(up, seed * 2 + 1), ByteFaults(down, seed * 2 + 2)
        self.ring = bytearray()
        self.overruns = self._overruns_seen = 0
        self._rx = bytearray()
        self._rx_overflow = False
        self.out = bytearray()
        self.expected = 0
        self.cached: bytes | None = None
        self.last_seq: int | None = None
        self.trained: list[int] = []  # sample ids, in training order
        self.blob = bytearray()
        self.blob_total = 0
        self.executed: list[tuple[int, int]] = []  # (cmd, seq) in order
        self.frames_bad = 0
        self.max_ring = 0
        self.deaf = False  # host-to-device bytes vanish
        self.mute = False  # device-to-host bytes vanish

    # -- SerialLike ----------------------------------------------------------
    def write(self, data: bytes) -> int:
        if self.deaf:
            return len(data)
        for piece in self.up.apply(data):
            if isinstance(piece, bytes):
                room = self.rx_capacity - len(self.ring)
                self.ring += piece[:room]
                self.overruns += max(0, len(piece) - room)
                self.max_ring = max(self.max_ring, len(self.ring))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self._run()
        if not self.out:
            time.sleep(0.001)
            return b""
        data, self.out = bytes(self.out[:size]), self.out[size:]
        if self.mute:
            return b""
        return b"".join(p for p in self.down.apply(data) if isinstance(p, bytes))

    @property
    def in_waiting(self) -> int:
        self._run()
        return len(self.out)

    def close(self) -> None:
        pass

    # -- the device ------------------------------------------------------------
    def _run(self) -> None:
        data, self.ring = bytes(self.ring), bytearray()
        for b in data:
            if b:
                self._rx.append(b)
                if len(self._rx) > self.max_body + 8 + (self.max_body + 8) // 254 + 1:
                    self._rx_overflow = True
                    self._rx.clear()
                continue
            if self._rx_overflow:
                self._transport_error(ErrorCode.FRAME_TOO_LONG, 0, self.expected)
            elif self._rx:
                self._on_frame(bytes(self._rx))
            self._rx.clear()
            self._rx_overflow = False

    def _send(self, cmd: int, seq: int, body: bytes = b"", flags: int = 0, cache: bool = True) -> None:
        wire = raw_frame(cmd, seq, body, flags)
        self.out += wire
        if cache:
            self.cached = wire

    def _transport_error(self, code: int, cmd: int, seq: int) -> None:
        self.frames_bad += 1
        self._send(Cmd.ERROR, seq, struct.pack("<BBhHH", code, cmd, 0, self.expected, 0),
                   cache=False)

    def _on_frame(self, enc: bytes) -> None:
        lost = self.overruns != self._overruns_seen
        self._overruns_seen = self.overruns
        try:
            f = parse_frame(cobs_decode(enc))
        except FrameError as exc:
            code = ErrorCode.BAD_CRC if "CRC" in str(exc) else ErrorCode.BAD_FRAME
            self._transport_error(ErrorCode.RX_OVERRUN if lost else code, 0, self.expected)
            return
        if f.cmd == Cmd.HELLO:
            self.expected = f.seq
        behind = (self.expected - f.seq) & 0xFFFF
        if f.seq == self.expected:
            self.expected = (self.expected + 1) & 0xFFFF
            if f.cmd != Cmd.FRAGMENT:
                self.frag = None  # another command ends an unfinished reassembly
            self._execute(f.cmd, f.seq, f.body)
            self.last_seq = f.seq
        elif behind == 1 and self.cached is not None:
            self.out += self.cached
        elif behind < 0x8000:
            self._send(f.cmd | REPLY, f.seq, flags=FLAG_STALE, cache=False)
        else:
            self._transport_error(ErrorCode.SEQ_GAP, f.cmd, f.seq)

    def _error(self, seq: int, code: int, cmd: int) -> None:
        self._send(Cmd.ERROR, seq, struct.pack("<BBhHH", code, cmd, 0, self.expected, 0))

    def _execute(self, cmd: int, seq: int, body: bytes) -> None:
        self.executed.append((cmd, seq))
        if cmd == Cmd.HELLO:
            hello = Hello(PROTOCOL_VERSION, 4, 256, 256, self.max_body, self.rx_capacity,
                          25_000_000, 65536, 4096, 7, 31, "sim", "sim", "sim", b"",
                          self.last_seq, self.frag_max)
            self._send(cmd | REPLY, seq, hello.encode())
        elif cmd == Cmd.FRAGMENT:
            self._fragment(seq, body)
        elif cmd == Cmd.LOAD_WEIGHTS:
            offset, total = struct.unpack_from("<II", body)
            if offset == 0:
                self.blob, self.blob_total = bytearray(), total
            if offset != len(self.blob) or total != self.blob_total:
                self._error(seq, ErrorCode.BAD_OFFSET, cmd)
                return
            self.blob += body[8:]
            self._send(cmd | REPLY, seq, struct.pack("<IB", len(self.blob),
                                                     int(len(self.blob) == total)))
        elif cmd == Cmd.READ_WEIGHTS:
            offset, want = struct.unpack_from("<IH", body)
            want = min(want, self.max_body - 8)
            chunk = bytes(self.blob[offset : offset + want])
            self._send(cmd | REPLY, seq, struct.pack("<II", len(self.blob), offset) + chunk)
        elif cmd == Cmd.TRAIN:
            _, _, count, n_features, _ = struct.unpack_from("<BBHHH", body)
            records = np.frombuffer(body, np.uint8, offset=8).reshape(count, 1 + 4 * n_features)
            ids = records[:, 1:5].copy().view("<f4")[:, 0]
            self.trained += [int(i) for i in ids]
            reply = struct.pack("<HHHHf", count, count, 0, 0, 0.0) + bytes(count)
            self._send(cmd | REPLY, seq, reply + struct.pack(f"<{count}I", *[100] * count))
        else:
            self._error(seq, ErrorCode.UNKNOWN_COMMAND, cmd)

    def _fragment(self, seq: int, body: bytes) -> None:
        m = W.FRAGMENT.decode(body)
        piece, total, offset = m["piece"], m["total"], m["offset"]
        if offset == 0:
            ok = (m["first_seq"] == seq and m["cmd"] not in (0, Cmd.HELLO, Cmd.FRAGMENT)
                  and 0 < len(piece) <= total <= self.frag_max)
        else:
            ok = (self.frag is not None and self.frag[:3] == (m["cmd"], m["first_seq"], total)
                  and offset == len(self.frag[3]) and 0 < len(piece) <= total - offset)
        if not ok:
            self._error(seq, ErrorCode.BAD_FRAGMENT, Cmd.FRAGMENT)
            return
        if offset == 0:
            self.frag = (m["cmd"], seq, total, bytearray())
        assert self.frag is not None
        self.frag[3].extend(piece)
        if len(self.frag[3]) < total:
            self._send(Cmd.FRAGMENT | REPLY, seq, struct.pack("<HH", len(self.frag[3]), total))
            return
        whole, self.frag = bytes(self.frag[3]), None
        self._execute(m["cmd"], seq, whole)


def samples(n: int, n_features: int = N_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """n samples whose feature 0 is their index."""
    x = np.zeros((n, n_features), np.float32)
    x[:, 0] = np.arange(n)
    return x, np.arange(n) % 10
