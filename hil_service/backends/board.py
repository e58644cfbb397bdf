"""A physical board: flashed through its debug probe with pyOCD, reached on the probe's USB UART.

Why it is built this way:

- pyOCD's Python API, not the `pyocd flash` command: failures arrive as
  typed exceptions (`pyocd.core.exceptions`: ProbeError, TransferError,
  FlashFailure, ...), which become one BackendError line naming the board,
  the probe and the image, instead of a CLI exit status to parse.
- The probe is chosen with `ConnectHelper.session_with_chosen_probe(
  unique_id=..., blocking=False)`: never wait for a probe that is not
  there, never prompt. pyOCD matches unique_id as a case-insensitive
  *substring* (pyocd/probe/aggregator.py), and returns None when several
  probes match; we also refuse a session whose probe id is not the
  inventory's id itself, so a short or mistyped id cannot flash another
  board. A "type:" prefix ("jlink:600123456") selects pyOCD's probe class
  and is not part of the id.
- FileProgrammer (pyocd/flash/file_programmer.py, `_program_elf`) writes
  each PT_LOAD segment with file contents at its *physical* (load)
  address p_paddr: .data's initial values live in flash behind .text, not
  at their RAM address p_vaddr. pyOCD 0.46 reads nothing back
  ("#TODO: Verify code" in FlashLoader.commit) and only logs a warning for
  a segment outside every memory region, so we read every such segment
  back ourselves and compare. On a mismatch the board is not reset: a
  wrong image is not started by us.
- After programming the core is halted; `target.reset()` (not
  reset_and_halt) lets the new firmware run.
- The board's UART is the probe's USB CDC ACM port (DAPLink, ST-Link V2-1
  and V3, J-Link OB): pyserial's `comports()` reports the USB serial number
  of the device the port belongs to, which is the probe's unique id for
  those probes. See `find_serial_port` for the matching rules.
- The serial port is found and checked for other users *before* flashing:
  a port that someone holds means the board is in use, and flashing it
  under them would break their run. The probe's port does not re-enumerate
  when the target is flashed (it belongs to the probe, not the target MCU).

A board does not exit: `BoardTarget.exit_code()` is always None and
`close()` leaves the board running (there is nothing to stop). Whether the
board is still there is judged by its serial port's device path, which
disappears when the probe is unplugged.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import BackendError, Closing, LiveTarget
from .entry import DeviceEntry
from .registry import Availability, Backend, LatencyClock

if TYPE_CHECKING:
    from pyocd.core.session import Session
    from serial.tools.list_ports_common import ListPortInfo

__all__ = [
    "BoardBackend",
    "BoardEntry",
    "BoardSpec",
    "BoardTarget",
    "FlashReport",
    "check_port_free",
    "find_serial_port",
    "flash_image",
    "reset_board",
    "start_board",
]

#: A port's USB serial number and the probe id may match by prefix only when
#: the shorter one has at least this many characters (after normalising);
#: cheap USB serial adapters report serials such as "0001".
MIN_PREFIX_MATCH = 8

Progress = Callable[[float], None]
"""Called by pyOCD with the fraction done, 0.0 to 1.0 (erase, then program)."""


@dataclass(frozen=True, kw_only=True)
class BoardSpec:
    """One board of the inventory: which probe drives it, which target it is, where its UART is."""

    probe_uid: str
    """The probe's unique id as `pyocd list` shows it (optionally "type:id")."""
    target_type: str
    """pyOCD's target name, e.g. "nrf52840", "stm32f407vg" (`pyocd list --targets`)."""
    serial_port: str | None = None
    """The board's UART device; None: the probe's own USB serial port (`find_serial_port`)."""
    baud: int = 115200
    frequency_hz: int | None = None
    """SWD/JTAG clock; None: pyOCD's default (1 MHz)."""
    name: str
    """Inventory id, used in messages."""


@dataclass(frozen=True)
class FlashReport:
    """What `flash_image` did: which image, onto which probe's target, how much, how long."""

    probe_uid: str
    target_type: str
    image: Path
    sha256: str
    bytes_programmed: int
    """Sum of the file sizes of the PT_LOAD segments written."""
    verified: bool
    """True if every segment was read back from the target and matched."""
    seconds: float
    """From connecting to the probe until the target was reset."""
    segments: tuple[tuple[int, int], ...] = ()
    """(physical address, size) of each segment written."""

    def summary_lines(self) -> list[str]:
        check = "verified by read-back" if self.verified else "not verified"
        lines = [
            f"flashed {self.image} onto {self.target_type} via probe {self.probe_uid}:"
            f" {self.bytes_programmed} bytes in {len(self.segments)} segment(s), {check},"
            f" {self.seconds:.2f} s",
            f"image sha256 {self.sha256}",
        ]
        lines += [f"segment 0x{addr:08x} {size} bytes" for addr, size in self.segments]
        return lines


# -- the image -----------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
    path: Path
    sha256: str
    segments: tuple[tuple[int, bytes], ...]
    """(p_paddr, contents) of each PT_LOAD segment with file contents, as pyOCD programs them."""


def _read_image(image: Path) -> _Image:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    path = Path(image).resolve()
    if not path.is_file():
        raise BackendError(f"firmware image {path} does not exist")
    data = path.read_bytes()
    try:
        elf = ELFFile(io.BytesIO(data))
        segments = tuple(
            (int(seg["p_paddr"]), seg.data())
            for seg in elf.iter_segments()
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] != 0
        )
    except ELFError as exc:
        raise BackendError(f"firmware image {path} is not an ELF file: {exc}") from exc
    if not segments:
        raise BackendError(f"firmware image {path} has no PT_LOAD segment with contents")
    return _Image(path, hashlib.sha256(data).hexdigest(), segments)


# -- pyOCD -------------------------------------------------------------------


def _pyocd_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the probe or target failed": pyOCD's own, and USB I/O errors."""
    from pyocd.core import exceptions

    return (exceptions.Error, OSError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _bare_uid(probe_uid: str) -> str:
    """The id without pyOCD's optional "probetype:" prefix."""
    return probe_uid.split(":", 1)[-1]


def _connected_probes(connect_helper: Any) -> tuple[list[Any], str]:
    """The connected probes and a listing of them for messages ("uid (description), ...")."""
    try:
        probes = list(connect_helper.get_all_connected_probes(blocking=False))
    except _pyocd_errors() as exc:
        return [], f"could not list them: {_one_line(exc)}"
    listing = ", ".join(f"{p.unique_id} ({p.description})" for p in probes)
    return probes, listing or "none"


def _open_session(spec: BoardSpec) -> Session:
    """A not yet opened pyOCD session on exactly spec's probe; BackendError if there is none."""
    from pyocd.core.helpers import ConnectHelper

    options: dict[str, Any] = {"hide_programming_progress": True}  # no bar on our stdout
    if spec.frequency_hz is not None:
        options["frequency"] = spec.frequency_hz
    session = ConnectHelper.session_with_chosen_probe(
        unique_id=spec.probe_uid,
        target_override=spec.target_type,
        blocking=False,
        auto_open=True,
        options=options,
    )
    want = _bare_uid(spec.probe_uid).lower()
    if session is None:
        probes, listing = _connected_probes(ConnectHelper)
        if sum(want in p.unique_id.lower() for p in probes) > 1:
            raise BackendError(
                f"probe {spec.probe_uid} is ambiguous: it is part of several probes' ids;"
                f" give the full unique id (connected probes: {listing})"
            )
        raise BackendError(f"probe {spec.probe_uid} not found (connected probes: {listing})")
    chosen = session.probe.unique_id if session.probe is not None else "?"
    if chosen.lower() != want:
        _, listing = _connected_probes(ConnectHelper)
        raise BackendError(
            f"probe {spec.probe_uid} not found; pyOCD's substring match chose probe {chosen},"
            f" give its full unique id if that is the one (connected probes: {listing})"
        )
    return session


def _verify(session: Session, spec: BoardSpec, image: _Image) -> None:
    """Read each segment back at its physical address; BackendError at the first difference."""
    target = session.target
    assert target is not None  # an open session has a target
    for addr, want in image.segments:
        got = bytes(target.read_memory_block8(addr, len(want)))
        if got == want:
            continue
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), len(got))
        found = f"0x{got[at]:02x}" if at < len(got) else "nothing (short read)"
        raise BackendError(
            f"verify of {image.path} via probe {spec.probe_uid} failed: byte at"
            f" 0x{addr + at:08x} reads {found}, the image has 0x{want[at]:02x}"
            f" (segment 0x{addr:08x}, {len(want)} bytes); board {spec.name} was not reset"
        )


def _flash(
    spec: BoardSpec, image: _Image, verify: bool, progress: Progress | None
) -> FlashReport:
    from pyocd.flash.file_programmer import FileProgrammer

    start = time.monotonic()
    try:
        session = _open_session(spec)
        with session:
            FileProgrammer(session, progress=progress).program(str(image.path), file_format="elf")
            if verify:
                _verify(session, spec, image)
            assert session.target is not None
            session.target.reset()
    except _pyocd_errors() as exc:
        raise BackendError(
            f"flashing {image.path} onto board {spec.name} ({spec.target_type})"
            f" via probe {spec.probe_uid} failed: {_one_line(exc)}"
        ) from exc
    return FlashReport(
        probe_uid=spec.probe_uid,
        target_type=spec.target_type,
        image=image.path,
        sha256=image.sha256,
        bytes_programmed=sum(len(data) for _, data in image.segments),
        verified=verify,
        seconds=time.monotonic() - start,
        segments=tuple((addr, len(data)) for addr, data in image.segments),
    )


def flash_image(
    spec: BoardSpec,
    image: Path,
    *,
    verify: bool = True,
    progress: Progress | None = None,
) -> FlashReport:
    """Program the ELF `image` through spec's probe, read it back (if verify), reset the target.

    BackendError when the image is missing or not an ELF, the probe is not
    connected (the message lists the connected ones), pyOCD fails (one line:
    board, probe, image, pyOCD's exception), or the read-back differs (the
    address of the first differing byte).
    """
    return _flash(spec, _read_image(image), verify, progress)


def reset_board(spec: BoardSpec) -> None:
    """Reset spec's target through its probe (hardware or core reset, as pyOCD's target prefers)."""
    try:
        session = _open_session(spec)
        with session:
            assert session.target is not None
            session.target.reset()
    except _pyocd_errors() as exc:
        raise BackendError(
            f"resetting board {spec.name} ({spec.target_type}) via probe {spec.probe_uid}"
            f" failed: {_one_line(exc)}"
        ) from exc


# -- the serial port ------------------------------------------------------------


def _norm_serial(text: str) -> str:
    """Lower case, without "type:" prefix and leading zeros.

    J-Link: pyOCD formats the serial number as an integer ("600123456"),
    the USB descriptor pads it ("000600123456").
    """
    bare = _bare_uid(text).lower()
    return bare.lstrip("0") or bare


def _prefix_match(a: str, b: str) -> bool:
    short, long_ = sorted((a, b), key=len)
    return len(short) >= MIN_PREFIX_MATCH and long_.startswith(short)


#: pyserial's `location` of one interface of a composite USB device:
#: "1-1.4:1.2" on Linux (bus-ports:config.interface), "1-1.4:x.2" on Windows.
_LOCATION = re.compile(r"^(?P<device>.+):(?:\d+|x)\.(?P<interface>\d+)$")


def _lowest_interface(ports: Sequence[ListPortInfo]) -> ListPortInfo | None:
    """The port on the lowest USB interface if all ports are interfaces of one device, else None."""
    parsed = [(_LOCATION.match(p.location or ""), p) for p in ports]
    if any(m is None for m, _ in parsed):
        return None
    if len({m.group("device") for m, _ in parsed if m}) != 1:
        return None
    numbered = sorted((int(m.group("interface")), p.device) for m, p in parsed if m)
    if len({n for n, _ in numbered}) != len(numbered):
        return None
    first = numbered[0][1]
    return next(p for p in ports if p.device == first)


def _describe_ports(ports: Sequence[ListPortInfo]) -> str:
    if not ports:
        return "none"
    return ", ".join(
        f"{p.device} (serial {p.serial_number or '-'}, location {p.location or '-'})"
        for p in ports
    )


def find_serial_port(probe_uid: str) -> str:
    """The device path of the USB serial port that belongs to probe `probe_uid`.

    A port belongs to the probe when its USB serial number, compared
    case-insensitively and without leading zeros, equals the probe id; if
    no port's does, when one of the two is a prefix of the other (some
    probes report a shortened or lengthened id on one of their interfaces),
    provided the shorter has at least MIN_PREFIX_MATCH characters.

    Several matching ports (a J-Link OB or an ST-Link V3 with two virtual
    COM ports): if they are interfaces of one USB device, the one on the
    lowest interface number is the board's console (VCOM0 on Nordic DKs,
    the first VCP on ST-Link V3); otherwise BackendError listing them. Put
    `serial_port` in the board's inventory entry where that rule is wrong.
    """
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    want = _norm_serial(probe_uid)
    with_serial = [(p, _norm_serial(p.serial_number)) for p in ports if p.serial_number]
    matches = [p for p, sn in with_serial if sn == want]
    if not matches:
        matches = [p for p, sn in with_serial if _prefix_match(sn, want)]
    if not matches:
        raise BackendError(
            f"no serial port belongs to probe {probe_uid}; ports seen: {_describe_ports(ports)}"
        )
    if len(matches) == 1:
        return str(matches[0].device)
    chosen = _lowest_interface(matches)
    if chosen is None:
        raise BackendError(
            f"several serial ports belong to probe {probe_uid}: {_describe_ports(matches)};"
            " set serial_port in the board's inventory entry"
        )
    return str(chosen.device)


def _holders(port: str) -> list[str]:
    """'pid N (name)' of the processes with `port` open (Linux /proc; best effort)."""
    try:
        real = os.path.realpath(port)
        pids = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == real for fd in fds):
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                found.append(f"pid {pid} ({comm})")
        except OSError:
            continue
    return found


def check_port_free(port: str, baudrate: int = 115200) -> None:
    """BackendError if another process holds `port`: opens it once with exclusive=True, closes it.

    pyserial's exclusive=True takes flock(LOCK_EX | LOCK_NB) on the port, so
    this sees holders that lock the port the same way (other HIL runs, any
    pyserial user with exclusive=True) or that made it exclusive with
    TIOCEXCL (the open fails with EBUSY). A terminal program that opened
    the port without either goes unnoticed; the message names the
    processes that have the port open where /proc tells.
    """
    import serial

    try:
        handle = serial.Serial(port, baudrate=baudrate, exclusive=True)
    except serial.SerialException as exc:
        busy = exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "lock" in str(exc)
        if busy:
            holders = _holders(port)
            by = f": {', '.join(holders)}" if holders else ""
            raise BackendError(
                f"serial port {port} is busy (held by another process{by})"
            ) from exc
        raise BackendError(f"cannot open serial port {port}: {exc}") from exc
    handle.close()


# -- the target --------------------------------------------------------------------


class BoardTarget(Closing):
    """A flashed, running board: its serial port, and the report of the flash.

    Nothing runs on this host for it, so there is nothing to stop: close()
    only marks it closed (and does not reset the board).
    """

    def __init__(self, spec: BoardSpec, serial_port: str, report: FlashReport) -> None:
        self.spec = spec
        self.name = spec.name
        self.serial_url = serial_port
        self.baudrate = spec.baud
        self.report = report
        self.closed = False

    def alive(self) -> bool:
        """True while the serial port's device path exists (the probe is plugged in)."""
        return os.path.exists(self.serial_url)

    def exit_code(self) -> int | None:
        return None  # a board does not exit

    def wait_exit(self, timeout: float) -> int:
        """Raises at once: a board runs until it is reset or powered off, it never exits."""
        raise BackendError(
            f"board {self.name} does not exit by itself (waited for up to {timeout:g} s)"
        )

    def ensure_alive(self) -> None:
        if not self.alive():
            raise BackendError(
                f"board {self.name}: serial port {self.serial_url} disappeared (probe unplugged?)"
                f"; last lines of its log:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        """The flash report's summary and the serial port; a board's own output is its UART."""
        port = f"serial port {self.serial_url} at {self.baudrate} baud"
        text = [*self.report.summary_lines(), port]
        return "\n".join(text[-lines:]) if lines > 0 else ""

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        state = "alive" if self.alive() else "port gone"
        probe = self.spec.probe_uid
        return f"<{type(self).__name__} {self.name} probe={probe} {state} {self.serial_url}>"


def start_board(
    spec: BoardSpec,
    image: Path,
    *,
    verify: bool = True,
    progress: Progress | None = None,
) -> BoardTarget:
    """Flash `image` onto spec's board and return it running, with serial_url its UART device.

    Order: read the image, find the serial port (spec.serial_port or the
    probe's own) and check nobody holds it, flash (`flash_image`), check
    the port is still there. Nothing touches the probe when the image or
    the port is not usable.
    """
    img = _read_image(image)
    port = spec.serial_port or find_serial_port(spec.probe_uid)
    if not os.path.exists(port):
        raise BackendError(f"board {spec.name}: serial port {port} does not exist")
    check_port_free(port, spec.baud)
    report = _flash(spec, img, verify, progress)
    target = BoardTarget(spec, port, report)
    target.ensure_alive()
    return target


# -- the registered backend ----------------------------------------------------------


class BoardEntry(DeviceEntry):
    """A physical board behind a debug probe that pyOCD drives."""

    probe_uid: str
    """The probe's unique id (`pyocd list`), optionally "type:id"."""
    pyocd_target: str
    """pyOCD's target type, e.g. "nrf52840" (`pyocd list --targets`)."""

    def spec(self) -> BoardSpec:
        return BoardSpec(probe_uid=self.probe_uid, target_type=self.pyocd_target,
                         serial_port=self.serial, baud=self.baud, name=self.id)


@lru_cache(maxsize=1)
def connected_probes() -> frozenset[str]:
    """Unique ids of the debug probes pyOCD sees now (empty without USB access)."""
    try:
        from pyocd.core.helpers import ConnectHelper

        probes = ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception:  # noqa: BLE001 - no libusb or no permission means no probes
        return frozenset()
    return frozenset(p.unique_id for p in probes)


def probe_connected(uid: str) -> bool:
    """The same matching as flashing: an optional "type:" prefix, any case."""
    want = _bare_uid(uid).lower()
    return any(p.lower() == want for p in connected_probes())


class BoardBackend(Backend):
    """Real boards, flashed with pyOCD; real hardware comes first for `auto`."""

    kind = "board"
    auto_rank = 10
    entry_model = BoardEntry

    def availability(self, entry: DeviceEntry) -> Availability:
        e = self.own(entry, BoardEntry)
        if not e.connected:
            return Availability(False, "marked not connected")
        if not probe_connected(e.probe_uid):
            return Availability(False, f"probe {e.probe_uid} not connected")
        return self.image_availability(e)

    def flash(self, entry: DeviceEntry, image: Path, *, verify: bool = True,
              progress: Callable[[str], None] | None = None) -> FlashReport:
        e = self.own(entry, BoardEntry)
        if progress is not None:
            progress(f"flashing {image.name} with pyOCD")
        return flash_image(e.spec(), image, verify=verify)

    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        e = self.own(entry, BoardEntry)
        if progress is not None:
            progress(f"flashing {image.name} with pyOCD")
        return start_board(e.spec(), image)

    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        return LatencyClock("cycle_counter", "the MCU's own cycle counter", None)

    def lock_key(self, entry: DeviceEntry) -> str:
        # one board can appear under two ids (lab.yaml and a Twister map): lock the probe
        return f"probe-{_bare_uid(self.own(entry, BoardEntry).probe_uid).lower()}"
