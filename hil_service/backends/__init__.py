"""Backends bring a device under test (DUT) to life and hand back a serial URL.

Every backend (QEMU, the POSIX host build, later Renode and real boards)
returns a `LiveTarget`: the rest of the service only needs the URL to open
with pyserial and a way to watch and end the target. Keeping that surface
this small is what lets one runner drive emulators and boards alike.

Modules: `registry` (which kinds exist; the `Backend` base class),
`entry` (the inventory fields all kinds share), `capabilities` (what some
targets can do beyond `LiveTarget`), `process` (a child process owned
safely, loopback ports), and one module per kind: `board`, `renode`,
`qemu`, `native`.
"""

from __future__ import annotations

import shutil
import socket
import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from hil_service.errors import TargetError

if TYPE_CHECKING:
    import serial

__all__ = ["BackendError", "Closing", "LiveTarget", "open_serial", "require_binary", "require_file"]


class BackendError(TargetError):
    """A DUT could not be started or died; the message names the culprit.

    One line first (which binary, which file, which exit code), then the
    last lines of the target's log where there is one, so a CI failure can
    be read without digging through temp folders.
    """


_C = TypeVar("_C", bound="Closing")


class Closing:
    """`with thing:` closes it: the context-manager half of targets and clients,
    written once. Subclasses define close(), safe to call twice."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def require_file(path: Path | str, what: str = "firmware image") -> Path:
    """The absolute path of an existing file; BackendError naming it otherwise."""
    path = Path(path).resolve()
    if not path.is_file():
        raise BackendError(f"{what} {path} does not exist")
    return path


def require_binary(name: str, install_hint: str) -> str:
    """Where `name` is on PATH; BackendError naming it and how to install it otherwise."""
    found = shutil.which(name)
    if found is None:
        raise BackendError(f"{name} not found on PATH; {install_hint}")
    return found


@runtime_checkable
class LiveTarget(Protocol):
    """A running DUT: where to connect, and how to watch and end it."""

    serial_url: str
    """For pyserial's serial_for_url: socket://host:port or a device path."""

    def alive(self) -> bool:
        """True while the target runs."""
        ...

    def exit_code(self) -> int | None:
        """The target's exit status once it ended (negative: killed by that signal)."""
        ...

    def wait_exit(self, timeout: float) -> int:
        """Wait for the target to end by itself; BackendError after timeout seconds."""
        ...

    def ensure_alive(self) -> None:
        """Raise BackendError (exit code and log tail) if the target died."""
        ...

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the target's own output (emulator or firmware stderr)."""
        ...

    def close(self) -> None:
        """End the target and free everything it holds; safe to call twice."""
        ...

    def __enter__(self) -> LiveTarget: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def open_serial(
    url: str, baudrate: int = 115200, timeout: float = 1.0, write_timeout: float | None = None
) -> serial.Serial:
    """Open a target's serial URL with pyserial, tuned for small request/response frames.

    For socket:// (QEMU's UART on TCP) Nagle's algorithm would hold back
    short frames for up to 40 ms, so TCP_NODELAY is set on the client side
    too. pyserial 3.5 keeps the connected socket in `Serial._socket`
    (serial/urlhandler/protocol_socket.py) and does not set the option itself.
    """
    import serial  # pyserial; imported here so the launchers work without it

    try:
        port = serial.serial_for_url(
            url, baudrate=baudrate, timeout=timeout, write_timeout=write_timeout
        )
    except (serial.SerialException, OSError) as exc:
        raise BackendError(f"cannot open serial port {url}: {exc}") from exc
    if url.startswith("socket://"):
        sock = getattr(port, "_socket", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            warnings.warn(
                "pyserial's socket:// handler has no _socket; TCP_NODELAY not set",
                RuntimeWarning,
                stacklevel=2,
            )
    return port
