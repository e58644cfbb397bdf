"""One run per device at a time, across threads and processes.

A lock is `flock` on a file named after the device. flock belongs to the
open file description, so two opens in one process exclude each other as
well as two processes do, and the kernel drops the lock when its holder
dies: a crashed run never leaves a device locked.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Generic, TypeVar

from hil_service.errors import TargetError

__all__ = ["DeviceBusy", "DeviceLock", "DevicePool", "lock_dir"]

T = TypeVar("T")


class DeviceBusy(TargetError):
    """Another run holds the device; the message names it and the holder."""


def lock_dir() -> Path:
    base = os.environ.get("HIL_LOCK_DIR") or os.path.join(
        os.environ.get("XDG_RUNTIME_DIR") or "/tmp", f"hil-locks-{os.getuid()}")
    return Path(base)


class DeviceLock:
    def __init__(self, device_id: str, directory: Path | None = None) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", device_id)
        self.device_id = device_id
        self.path = (directory or lock_dir()) / f"{safe}.lock"
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, poll: float = 0.05) -> None:
        """Take the lock, waiting up to timeout seconds; DeviceBusy after that."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise DeviceBusy(f"device {self.device_id} is in use by {holder} "
                                     f"(lock {self.path})") from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            text = os.pread(fd, 64, 0).decode().strip()
        except OSError:
            text = ""
        return text or "another run"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> DeviceLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class DevicePool(Generic[T]):
    """One run's devices and spares: a busy device is swapped for any free spare.

    Each device session claims a device: its own first, else a spare nobody
    else holds (try-lock each, so a free one is taken at once). Only when none
    is free does it wait, up to the lock timeout, for whichever frees first.
    Without spares a claim is a plain `DeviceLock.acquire(timeout)`.
    """

    def __init__(self, spares: Sequence[T], key: Callable[[T], str], poll: float = 0.05) -> None:
        self._spares = list(spares)
        self._key = key
        self._poll = poll
        self._taken: set[str] = set()
        self._mutex = threading.Lock()

    def claim(self, preferred: T, timeout: float = 0.0) -> tuple[T, DeviceLock]:
        """A held lock on preferred or on a free spare (which is then taken for this run)."""
        if not self._spares:
            lock = DeviceLock(self._key(preferred))
            lock.acquire(timeout=timeout)
            return preferred, lock
        deadline = time.monotonic() + timeout
        while True:
            busy: list[str] = []
            with self._mutex:
                spares = [s for s in self._spares if self._key(s) not in self._taken]
            for entry in (preferred, *spares):
                lock = DeviceLock(self._key(entry))
                try:
                    lock.acquire(timeout=0.0)
                except DeviceBusy as exc:
                    busy.append(str(exc))
                    continue
                with self._mutex:
                    self._taken.add(self._key(entry))
                return entry, lock
            if time.monotonic() >= deadline:
                raise DeviceBusy(f"every device of the pool is in use: {'; '.join(busy)}")
            time.sleep(self._poll)
