"""Bring one device under test up: started -> HELLO -> build id checked -> ready.

One object owns a device's life for the runner, `hil flash` and the pytest
`dut` fixture alike (labgrid's strategy idea): `up()` hands back a ready
device, reusing a live target with a fresh HELLO (a new protocol session)
or starting one; `restart()` starts over; `diagnose(exc)` says in one line
why a run broke, putting the target's death (exit code, signal, last log
line) before the symptom the link saw; `close()` ends it all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hil_service.backends import BackendError, LiveTarget
from hil_service.backends.process import ProcessTarget
from hil_service.backends.registry import Backend, LatencyClock, backend_for
from hil_service.device import Device
from hil_service.errors import HilError, TargetError
from hil_service.image import FirmwareImage, inspect_image
from hil_service.inventory import DeviceEntry
from hil_service.link import LinkStats
from hil_service.protocol import Hello

__all__ = ["BringUp", "LiveDevice", "StaleImage"]

#: How long a target whose link just broke gets to finish dying before we judge it.
DEATH_GRACE_S = 1.0
_LOG_HEADER = "; last lines of its log:"


class StaleImage(TargetError):
    """The device answers with another build than the image it was given."""


@dataclass
class LiveDevice:
    entry: DeviceEntry
    target: LiveTarget
    device: Device
    hello: Hello
    image: FirmwareImage
    clock: LatencyClock
    #: where close() leaves the link's counters (<device>.link.jsonl), None: nowhere
    log_dir: Path | None = None

    def hello_json(self) -> dict[str, object]:
        h = self.hello
        return {"protocol_version": h.protocol_version, "fw_version": h.fw_version,
                "git_hash": h.git_hash, "board": h.board, "cycles_hz": h.cycles_hz,
                "arena_size": h.arena_size, "max_body": h.max_body,
                "device_id": h.device_id.hex()}

    def close(self) -> None:
        try:
            if self.log_dir is not None:
                keep_link_stats(self.entry.id, self.device.link.stats, self.target.serial_url,
                                self.log_dir)
            self.device.close()
        finally:
            self.target.close()


def keep_link_stats(device_id: str, stats: LinkStats, serial_url: str, log_dir: Path) -> None:
    """One JSON line per target session: the link's frame, resend and error counters."""
    record = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
              "serial_url": serial_url, **dataclasses.asdict(stats)}
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{device_id}.link.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError:
        pass  # a full disk must not stop the teardown


def _keep_console(target: LiveTarget, path: Path) -> None:
    """Have the target's process append its console/emulator log to path when it closes."""
    process = target if isinstance(target, ProcessTarget) else getattr(target, "process", None)
    if isinstance(process, ProcessTarget):
        process.keep_log = path


def death_line(target: LiveTarget) -> str | None:
    """One line on how the target ended (status and its last log line), None while it runs."""
    if target.alive():
        return None
    try:
        target.ensure_alive()
    except BackendError as exc:
        return _one_line(str(exc))
    return f"target ended with exit code {target.exit_code()}"


def _one_line(message: str) -> str:
    """A backend's "X died ...; last lines of its log:\n..." as one line with the last log line."""
    lines = [ln.strip() for ln in message.strip().splitlines()]
    if not lines:
        return ""
    if not lines[0].endswith(_LOG_HEADER):
        return lines[0]
    last = next((ln for ln in reversed(lines[1:]) if ln), None)
    head = lines[0].removesuffix(_LOG_HEADER)
    return f"{head}; last log line: {last}" if last else head


def _first_line(exc: BaseException) -> str:
    """Our errors say what broke in their first line; anything else gets its type named."""
    first = _one_line(str(exc))
    if isinstance(exc, HilError) and first:
        return first
    return f"{type(exc).__name__}: {first}".rstrip(": ")


class BringUp:
    """One device's bring-up; a context manager that closes what it started."""

    def __init__(self, entry: DeviceEntry, image: Path | None = None, *,
                 events: Callable[[str], None] | None = None,
                 backend: Backend | None = None, log_dir: Path | None = None) -> None:
        self.entry = entry
        #: a run directory's logs/: console logs and link counters kept there at close
        self.log_dir = log_dir
        self.backend = backend if backend is not None else backend_for(entry)
        self._image_path = image
        self._image: FirmwareImage | None = None
        self._events = events
        self._live: LiveDevice | None = None
        self._stale = False  # the live device failed a reuse: start afresh next time
        self._death: str | None = None  # how a target that failed to come up ended

    @property
    def lock_key(self) -> str:
        return self.backend.lock_key(self.entry)

    @property
    def image(self) -> FirmwareImage:
        """The image this device runs: resolved (or built) and inspected once."""
        if self._image is None:
            path = self._image_path or self.backend.firmware_image(self.entry)
            self._image = inspect_image(path)
            if self._image.build_id is None:
                # a stripped ELF has no symbols: say that the stale-image check is off
                self._event(f"warning: {path} has no build id (symbol odl_fw_git_hash; stripped?): "
                            f"cannot check that {self.entry.id} runs this image")
        return self._image

    @property
    def live(self) -> LiveDevice | None:
        return self._live

    def _event(self, message: str) -> None:
        if self._events is not None:
            self._events(message)

    # -- life cycle -----------------------------------------------------------------
    def up(self) -> LiveDevice:
        live = self._live
        if live is not None and not self._stale and live.target.alive():
            self._stale = True  # until the fresh session below succeeds
            live.hello = live.device.hello()
            self._check_build_id(live.hello)
            self._stale = False
            return live
        self.close()
        return self._start()

    def restart(self) -> LiveDevice:
        self.close()
        return self._start()

    def _start(self) -> LiveDevice:
        image = self.image
        self._death = None
        self._event(f"starting {self.entry.backend} with {image.path.name}")
        target = self.backend.start(self.entry, image.path, self._events)
        if self.log_dir is not None:
            _keep_console(target, self.log_dir / f"{self.entry.id}.console.log")
        device: Device | None = None
        try:
            device = Device.open(target.serial_url, baudrate=self.entry.baud)
            hello = device.hello()
            self._check_build_id(hello)
        except BaseException as exc:
            if not isinstance(exc, StaleImage | KeyboardInterrupt):
                self._death = death_line(target) if _settle(target) else None
            if device is not None:
                device.close()
            target.close()
            raise
        self._live = LiveDevice(self.entry, target, device, hello, image,
                                self.backend.latency_clock(self.entry), self.log_dir)
        self._stale = False
        return self._live

    def _check_build_id(self, hello: Hello) -> None:
        image = self.image
        if image.build_id is not None and hello.git_hash != image.build_id:
            raise StaleImage(f"device {self.entry.id} runs firmware {hello.git_hash!r} but image "
                             f"{image.path} is {image.build_id!r}: wrong or stale image")

    def diagnose(self, exc: BaseException) -> str:
        """One line: the target's death first (if it died), then the symptom."""
        symptom = _first_line(exc)
        death = self._death
        if self._live is not None and _settle(self._live.target):
            death = death_line(self._live.target)
        if death is None or death in symptom:
            return symptom
        return f"{death} ({symptom})"

    def close(self) -> None:
        live, self._live = self._live, None
        self._stale = False
        if live is not None:
            live.close()

    def __enter__(self) -> BringUp:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _settle(target: LiveTarget) -> bool:
    """True if the target is dead, after giving a dying one a moment.

    A dropped link is often the first sign of a dying target; the exit
    status arrives a little later.
    """
    if target.alive():
        try:
            target.wait_exit(DEATH_GRACE_S)
        except BackendError:
            return False
    return not target.alive()
