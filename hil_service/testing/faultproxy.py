"""A serial line that fails on purpose: a TCP proxy between the host and an
emulator's UART socket (QEMU's `-serial tcp:...`), loopback only.

Each direction has its own seeded fault source. A fault strikes a byte with
probability `rate` (the gaps between faults are drawn geometrically, so a
rate costs nothing per clean byte):

- bitflip: one bit of the byte flips;
- drop: the byte is lost;
- duplicate: the byte arrives twice;
- garbage: 1..garbage_max random bytes (zeros included) follow the byte;
- stall: the line pauses `stall_s` before the byte (nothing is lost);
- outage: the line is dead for `outage_s`: that byte and all after it in
  that time are lost.

`ByteFaults` is the fault source alone (bytes in, pieces out), for
in-process fakes; `FaultProxy` runs two of them on a real socket pair.
"""

from __future__ import annotations

import math
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlparse

__all__ = ["ByteFaults", "FaultKind", "FaultProxy", "FaultSpec", "FaultTally"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class FaultKind(str, Enum):
    BITFLIP = "bitflip"
    DROP = "drop"
    DUPLICATE = "duplicate"
    GARBAGE = "garbage"
    STALL = "stall"
    OUTAGE = "outage"


@dataclass(frozen=True)
class FaultSpec:
    kind: FaultKind
    rate: float  # per byte
    stall_s: float = 0.02
    outage_s: float = 0.05
    garbage_max: int = 8

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"fault rate {self.rate} is not in [0, 1)")


@dataclass
class FaultTally:
    """What one direction did: bytes in and out, faults by kind."""

    bytes_in: int = 0
    bytes_out: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.faults.values())


#: A piece of output: bytes to pass on, or seconds to pause the line.
Piece = bytes | float


class ByteFaults:
    """One direction's faults, reproducible from the seed for the same byte stream."""

    def __init__(self, spec: FaultSpec | None, seed: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self.clock = clock
        self.tally = FaultTally()
        self._down_until = 0.0
        self._gap = self._next_gap()

    def _next_gap(self) -> int:
        """Clean bytes before the next fault."""
        if self.spec is None or self.spec.rate <= 0.0:
            return 1 << 62
        u = 1.0 - self.rng.random()  # (0, 1]
        return int(math.log(u) / math.log1p(-self.spec.rate))

    def apply(self, data: bytes) -> list[Piece]:
        self.tally.bytes_in += len(data)
        if self.spec is None or self.spec.rate <= 0.0:
            self.tally.bytes_out += len(data)
            return [data]
        out: list[Piece] = []
        buf = bytearray()
        i = 0
        spec = self.spec
        while i < len(data):
            if self._down_until and self.clock() < self._down_until:
                break  # the rest of this chunk is lost in the outage
            self._down_until = 0.0
            take = min(self._gap, len(data) - i)
            buf += data[i : i + take]
            self._gap -= take
            i += take
            if i >= len(data):
                break
            byte = data[i]
            i += 1
            kind = spec.kind
            self.tally.faults[kind.value] = self.tally.faults.get(kind.value, 0) + 1
            if kind is FaultKind.BITFLIP:
                buf.append(byte ^ (1 << self.rng.randrange(8)))
            elif kind is FaultKind.DUPLICATE:
                buf += bytes((byte, byte))
            elif kind is FaultKind.GARBAGE:
                n = self.rng.randint(1, spec.garbage_max)
                buf.append(byte)
                buf += bytes(self.rng.randrange(256) for _ in range(n))
            elif kind is FaultKind.STALL:
                if buf:
                    out.append(bytes(buf))
                    buf.clear()
                out.append(spec.stall_s)
                buf.append(byte)
            elif kind is FaultKind.OUTAGE:
                self._down_until = self.clock() + spec.outage_s
            # DROP: the byte is simply not passed on
            self._gap = self._next_gap()
        if buf:
            out.append(bytes(buf))
        self.tally.bytes_out += sum(len(p) for p in out if isinstance(p, bytes))
        return out


def _loopback_address(url_or_host: str, port: int | None = None) -> tuple[str, int]:
    if port is None:
        parsed = urlparse(url_or_host)
        host, port = parsed.hostname or "", parsed.port
    else:
        host = url_or_host
    if host not in _LOOPBACK or port is None:
        raise ValueError(f"fault proxy target {url_or_host!r} is not a loopback host:port")
    return host, port


class FaultProxy:
    """Listens on 127.0.0.1; the first client is joined to `target` through faults.

    `up` damages host-to-device bytes, `down` device-to-host ones. The target
    is connected when the client arrives (QEMU with `wait=on` starts the guest
    then). Use as a context manager; `url` is what the host opens."""

    def __init__(self, target: str, up: FaultSpec | None = None, down: FaultSpec | None = None,
                 seed: int = 0) -> None:
        self.target = _loopback_address(target)
        self.up = ByteFaults(up, seed * 2 + 1)
        self.down = ByteFaults(down, seed * 2 + 2)
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listen.getsockname()[1])
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.error: BaseException | None = None
        accept = threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def set_faults(self, up: FaultSpec | None, down: FaultSpec | None) -> None:
        """Change the faults from now on (e.g. a clean bring-up, then a noisy run)."""
        for faults, spec in ((self.up, up), (self.down, down)):
            faults.spec = spec
            faults._gap = faults._next_gap()

    def _accept(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._listen], [], [], 0.05)
                if ready:
                    break
            else:
                return
            client, _ = self._listen.accept()
            server = socket.create_connection(self.target, timeout=10.0)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            self._socks += [client, server]
            for src, dst, faults, name in ((client, server, self.up, "up"),
                                           (server, client, self.down, "down")):
                t = threading.Thread(target=self._pump, args=(src, dst, faults),
                                     name=f"faultproxy-{name}", daemon=True)
                t.start()
                self._threads.append(t)
        except OSError as exc:
            self.error = exc

    def _pump(self, src: socket.socket, dst: socket.socket, faults: ByteFaults) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready:
                    continue
                data = src.recv(4096)
                if not data:
                    break
                for piece in faults.apply(data):
                    if isinstance(piece, float):
                        self._stop.wait(piece)
                    else:
                        dst.sendall(piece)
        except OSError as exc:
            if not self._stop.is_set():
                self.error = exc
        finally:
            # one side closed: close the other so its reader sees the end too
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        for s in [*self._socks, self._listen]:
            s.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
