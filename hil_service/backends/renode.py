"""Boot a Zephyr image in Renode (>= 1.14), UART on a TCP port, driven over the Monitor.

Why it is done this way (sources in docs/renode.md):

- `renode --disable-xwt --plain --port M --config <workdir>/renode.config`:
  headless, the Monitor served on TCP port M, no colour codes. Not
  `--console`: it wins over `--port` and puts the Monitor on stdio, which
  has no terminal here. Not `--disable-gui`: that spelling is an alias only
  since 1.15. A private config file keeps a user's settings (for example
  `number-format`) out of what we parse, and its `history-path` keeps the
  Monitor's command history (by default appended to ~/.config/renode/history)
  in the work folder; env TMPDIR=workdir keeps Renode's temp files there
  too. The folder is removed at close.
- A platform whose description applies an SVD file from a URL prints
  `Failed to download https://.../X.svd.gz, see log for details.` offline
  and carries on: the SVD only names registers in Renode's log. So that
  line is not an error; any other "Failed to download" is.
- The machine is described by a generated `dut.resc` (`resc_script`), run
  with `include @<workdir>/dut.resc` over the Monitor, followed by `start`.
  Starting from the Monitor rather than inside the script lets us see that
  every line of the script succeeded before any guest code runs.
- The UART is `emulation CreateServerSocketTerminal PORT "term" false`
  (`false`: raw bytes, no telnet negotiation for pyserial to choke on) and
  `connector Connect <uart> term`. Renode queues UART output until a client
  connects, so nothing the firmware prints at boot is lost. Renode binds
  both sockets to all interfaces (IPAddress.Any); there is no option for
  127.0.0.1 only, so we connect to 127.0.0.1 and say so in the docs.
- Readiness is never probed by connecting: Renode serves one client per
  socket and hands the queued output (the Monitor's first prompt, the UART's
  boot banner) to whoever connects first. We wait until /proc/net/tcp shows
  a listening socket owned by a process of Renode's process group (the
  packaged `renode` is a shell script that runs mono as a child).
- The Monitor speaks telnet: it sends IAC DO BINARY / WILL ECHO / WILL SGA /
  WONT LINEMODE (and DO NAWS in development versions after 1.16.1), echoes
  what we type, writes "\\n\\r" after the echo, and ends every reply with a
  prompt "(monitor) " or "(<machine>) ". Renode 1.14 to 1.15 read the
  client's answer to the negotiation as exactly 9 raw bytes before serving
  it; 1.16.0 and 1.16.1 drop only the first 3 bytes of a read that starts
  with IAC and pass the rest to the command line; later versions parse
  telnet properly. The one answer right for all of them: 9 backspaces (a
  no-op on an empty command line) and no telnet reply at all. Not even to
  DO NAWS: a window size makes the shell redraw its prompt, while without
  one the width stays 0, which means "never wrap".
- `sysbus.cpu ExecutedInstructions` reads the CPU's instruction count; the
  Monitor prints integers as 0x%016X by default (decimal or both if the
  number format was changed).
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import model_validator

from . import BackendError, Closing, LiveTarget, require_binary, require_file
from .entry import DeviceEntry
from .process import (
    PortTaken,
    ProcessTarget,
    listening_inodes,
    owns_socket,
    start_on_free_ports,
)
from .registry import Availability, Backend, LatencyClock
from .renode_models import (
    WORKAROUNDS_NAME,
    Workarounds,
    plan_workarounds,
    renode_version,
    write_workarounds,
)

__all__ = [
    "ERROR_MARKERS",
    "RENODE_BINARY",
    "RENODE_MACHINES",
    "RenodeCommandError",
    "RenodeLauncher",
    "RenodeMachine",
    "RenodeMonitor",
    "RenodeTarget",
    "RenodeBackend",
    "RenodeEntry",
    "clean_terminal_text",
    "renode_config",
    "parse_number",
    "renode_path",
    "resc_script",
    "start_renode",
]

RENODE_BINARY = "renode"
SCRIPT_NAME = "dut.resc"
CONFIG_NAME = "renode.config"
#: Name of the socket terminal inside Renode's emulation.
TERMINAL_NAME = "term"
#: Seconds `close()` gives Renode to exit after `quit`, before SIGTERM.
QUIT_TIMEOUT_S = 5.0

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_PERIPHERAL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class RenodeMachine:
    """One Renode platform standing in for a Zephyr board."""

    name: str
    """Machine name in Renode (`mach create "name"`); the Monitor prompt becomes "(name) "."""
    platform: str
    """Platform description as Renode wants it: "@platforms/boards/....repl"."""
    uart: str
    """Peripheral carrying Zephyr's console / protocol UART, e.g. "sysbus.usart2"."""
    cpu: str = "sysbus.cpu"
    cycles_hz: int | None = None
    """The real board's core clock; what the firmware reports as cycles_hz on hardware."""
    performance_mips: int | None = None
    """If set: `<cpu> PerformanceInMips N` (Renode's default is 100)."""
    systick_hz: int | None = None
    """If set: `<nvic> Frequency N`, the SysTick rate Zephyr was built for."""
    nvic: str = "sysbus.nvic"
    timer_hz: int | None = None
    """If set: the firmware's cycle counter under Renode is this slow timer, not the core clock."""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"Renode machine name {self.name!r} must match {_NAME_RE.pattern}")
        if not self.platform.startswith("@") or len(self.platform) < 2:
            raise ValueError(f"platform {self.platform!r} must be an @path")
        for field_name in ("uart", "cpu", "nvic"):
            value = getattr(self, field_name)
            if not _PERIPHERAL_RE.match(value):
                raise ValueError(f"{field_name} {value!r} is not a Renode peripheral path")


#: Zephyr board name -> Renode machine. Platform files and peripheral names
#: are those of Renode 1.14 (platforms/boards/stm32f4_discovery-kit.repl,
#: platforms/cpus/nrf52840.repl; the nrf52840dk_nrf52840.repl board file
#: only exists since 1.15, and adds LEDs and buttons we do not need).
RENODE_MACHINES: dict[str, RenodeMachine] = {
    # Zephyr: console on USART2, SYSCLK 168 MHz from the PLL, SysTick at
    # the CPU clock. Renode's stm32f4.repl sets the NVIC's SysTick to 72 MHz.
    "stm32f4_disco": RenodeMachine(
        name="stm32f4_disco",
        platform="@platforms/boards/stm32f4_discovery-kit.repl",
        uart="sysbus.usart2",
        cycles_hz=168_000_000,
        performance_mips=168,
        systick_hz=168_000_000,
    ),
    # Zephyr: console on UART0 (0x40002000, Renode's uart0); system timer
    # is the 32768 Hz RTC1, which Renode models, so no SysTick fix.
    "nrf52840dk_nrf52840": RenodeMachine(
        name="nrf52840dk_nrf52840",
        platform="@platforms/cpus/nrf52840.repl",
        uart="sysbus.uart0",
        cycles_hz=64_000_000,
        performance_mips=64,
        # no DWT in Renode's nrf52840.repl: the firmware falls back to the RTC
        timer_hz=32_768,
    ),
}
# Zephyr's hardware model v2 spelling of the same board.
RENODE_MACHINES["nrf52840dk/nrf52840"] = RENODE_MACHINES["nrf52840dk_nrf52840"]


def renode_path(path: Path | str) -> str:
    """`path` as a Monitor path token: "@" and the path with each space escaped as "\\ ".

    Renode's tokenizer reads @ followed by non-blanks or "\\ " and stops at
    ";" (Tokenizer.cs); PathToken strips every leading "@" and turns "\\ "
    back into " ". A path with ";" or another blank (tab, newline) cannot be
    written, so it is refused; a relative one starting with "@" gets "./".
    """
    text = str(path)
    if not text:
        raise BackendError("empty path for Renode")
    bad = sorted({c for c in text if c == ";" or (c.isspace() and c != " ")})
    if bad:
        raise BackendError(f"Renode cannot take the path {text!r}: it contains {bad!r}")
    if text.startswith("@"):
        text = "./" + text
    return "@" + text.replace(" ", "\\ ")


def _decimal(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    if seconds <= 0 or text == "0":
        raise ValueError(f"quantum must be at least 1 ns, got {seconds!r}")
    return text


def resc_script(
    machine: RenodeMachine,
    elf: Path,
    uart_port: int,
    *,
    quantum_s: float | None = None,
    terminal: str = TERMINAL_NAME,
    workarounds_script: Path | None = None,
) -> str:
    """The Renode script that builds the machine, wires its UART to TCP and loads `elf`.

    It does not `start`: the launcher sends `start` over the Monitor once
    the whole script ran without error.
    """
    if not 0 < uart_port < 65536:
        raise ValueError(f"uart_port {uart_port} out of range")
    if not _NAME_RE.match(terminal):
        raise ValueError(f"terminal name {terminal!r} must match {_NAME_RE.pattern}")
    lines = [
        "# generated by hil_service.backends.renode",
        f'mach create "{machine.name}"',
        f"machine LoadPlatformDescription {machine.platform}",
    ]
    if machine.performance_mips is not None:
        lines.append(f"{machine.cpu} PerformanceInMips {machine.performance_mips}")
    if machine.systick_hz is not None:
        lines.append(f"{machine.nvic} Frequency {machine.systick_hz}")
    if quantum_s is not None:
        lines.append(f'emulation SetGlobalQuantum "{_decimal(quantum_s)}"')
    if workarounds_script is not None:
        # written by the launcher once Renode's version is known (renode_models):
        # corrected peripheral models replace broken stock ones before the UART is wired
        lines.append(f"include {renode_path(workarounds_script)}")
    lines += [
        f'emulation CreateServerSocketTerminal {uart_port} "{terminal}" false',
        f"connector Connect {machine.uart} {terminal}",
        f"sysbus LoadELF {renode_path(Path(elf))}",
    ]
    return "\n".join(lines) + "\n"


# --- the Monitor client ---------------------------------------------------------------------

_IAC, _SB, _SE = 255, 250, 240
_WILL, _WONT, _DO, _DONT = 251, 252, 253, 254
#: Sent on connect: consumed as "the 9 negotiation bytes" by Renode 1.14-1.15,
#: and a no-op on an empty command line for every version.
_HANDSHAKE = b"\x08" * 9

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PROMPT_RE = re.compile(r"(?:^|\n)(\([^()\n]*\) )\Z")
_NUMBER_RE = re.compile(r"0x([0-9A-Fa-f]+)(?:\s*\((\d+)\))?|(\d+)")

#: Texts Renode's Monitor writes (in red, unless --plain) when a command fails
#: (Monitor.cs, MonitorCommands.cs and the commands under UserInterface/).
ERROR_MARKERS = (
    "There was an error executing command",
    "No such command or device",
    "Could not find file",
    "Could not tokenize here",
    "Bad parameters for command",
    "Errors during compilation or loading",
    "Failed to download",
    "No such variable",
    "No machine selected",
    "Could not find emulation element or backend",
    "Could not find device",
    "No device found",
    "Peripheral not found",
    "No backend found for",
    "No such file",
)


def clean_terminal_text(text: str) -> str:
    """Drop ANSI escape sequences, carriage returns and other control characters."""
    return _CONTROL_RE.sub("", _ANSI_RE.sub("", text))


class _TelnetFilter:
    """Removes telnet commands (negotiations, subnegotiations) from the Monitor's output."""

    _DATA, _COMMAND, _OPTION, _SUB, _SUB_IAC = range(5)

    def __init__(self) -> None:
        self._state = self._DATA

    def feed(self, data: bytes) -> bytes:
        """The payload bytes of one received chunk; a command may span chunks."""
        out = bytearray()
        for b in data:
            if self._state == self._DATA:
                if b == _IAC:
                    self._state = self._COMMAND
                else:
                    out.append(b)
            elif self._state == self._COMMAND:
                if b == _IAC:
                    out.append(b)  # IAC IAC: a data byte 255
                    self._state = self._DATA
                elif b in (_WILL, _WONT, _DO, _DONT):
                    self._state = self._OPTION
                elif b == _SB:
                    self._state = self._SUB
                else:
                    self._state = self._DATA  # NOP, GA, ...
            elif self._state == self._OPTION:
                self._state = self._DATA  # the option byte; we answer nothing
            elif self._state == self._SUB:
                if b == _IAC:
                    self._state = self._SUB_IAC
            else:  # _SUB_IAC
                self._state = self._DATA if b == _SE else self._SUB
        return bytes(out)


class RenodeCommandError(BackendError):
    """A Monitor command failed: Renode printed an error for it."""

    def __init__(self, message: str, command: str, reply: str) -> None:
        super().__init__(message)
        self.command = command
        self.reply = reply


#: Lines with an error marker that are not errors: the offline SVD download
#: of a platform description (Renode goes on; the SVD only names registers).
HARMLESS_LINES = (re.compile(r"Failed to download \S+\.svd(?:\.gz)?\b", re.IGNORECASE),)


def _error_line(reply: str) -> str | None:
    for line in reply.splitlines():
        if any(marker in line for marker in ERROR_MARKERS) and not any(
            h.search(line) for h in HARMLESS_LINES
        ):
            return line.strip()
    return None


def parse_number(reply: str) -> int:
    """The integer in a Monitor reply: "0x000000000001E240", "123456" or "0x1E240 (123456)"."""
    for line in reversed(reply.splitlines()):
        m = _NUMBER_RE.fullmatch(line.strip())
        if m is None:
            continue
        if m.group(2) is not None:
            return int(m.group(2))
        if m.group(1) is not None:
            return int(m.group(1), 16)
        return int(m.group(3))
    raise BackendError(f"no number in the Renode Monitor's reply {reply!r}")


class RenodeMonitor(Closing):
    """A line client for Renode's telnet Monitor on a loopback TCP port.

    `execute` sends one command line and returns what Renode printed before
    the next prompt, with the echo, telnet commands, ANSI escapes and
    carriage returns removed.
    """

    def __init__(self, sock: socket.socket, name: str = RENODE_BINARY) -> None:
        self.name = name
        self.prompt = ""
        self.last_reply = ""
        #: What Renode printed before its first prompt ("Renode, version X.Y.Z.B (...)").
        self.banner = ""
        self._sock = sock
        self._telnet = _TelnetFilter()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def connect(
        cls, port: int, host: str = "127.0.0.1", timeout: float = 30.0, name: str = RENODE_BINARY
    ) -> RenodeMonitor:
        """Connect, answer the telnet negotiation and wait for the first prompt."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise BackendError(
                f"cannot connect to the {name} Monitor on {host}:{port}: {exc}"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        monitor = cls(sock, name)
        try:
            monitor._send(_HANDSHAKE)
            monitor.banner = monitor._read_until_prompt(
                time.monotonic() + timeout, "its first prompt", timeout)
        except BaseException:
            monitor.close()
            raise
        return monitor

    def execute(self, command: str, timeout: float = 30.0) -> str:
        """Run one Monitor command; its output (without echo and prompt).

        BackendError naming the command if no prompt comes back within
        timeout seconds or the connection ends; RenodeCommandError (a
        BackendError) if Renode printed an error for it.
        """
        if "\n" in command or "\r" in command or not command.strip():
            raise ValueError(f"one non-empty command line expected, got {command!r}")
        with self._lock:
            if self._closed:
                raise BackendError(
                    f"{self.name} Monitor connection is closed; cannot run {command!r}"
                )
            self._drain()
            self._send(command.encode("utf-8") + b"\n")
            text = self._read_until_prompt(time.monotonic() + timeout, repr(command), timeout)
        reply = self._reply_body(text, command)
        self.last_reply = reply
        error = _error_line(reply)
        if error is not None:
            raise RenodeCommandError(
                f"{self.name} Monitor: {command!r} failed: {error}\n{reply}", command, reply
            )
        return reply

    def executed_instructions(self, cpu: str = "sysbus.cpu", timeout: float = 30.0) -> int:
        """Instructions the CPU executed since the machine was created."""
        command = f"{cpu} ExecutedInstructions"
        reply = self.execute(command, timeout)
        try:
            return parse_number(reply)
        except BackendError:
            raise BackendError(f"{self.name} Monitor: no number in the reply to {command!r}: "
                               f"{reply!r}") from None

    def quit(self, timeout: float = QUIT_TIMEOUT_S) -> bool:
        """Send `quit`; True if Renode then closed the Monitor connection within timeout."""
        with self._lock:
            if self._closed:
                return False
            self._drain()
            self._send(b"quit\n")
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._sock.settimeout(remaining)
                try:
                    chunk = self._sock.recv(4096)
                except TimeoutError:
                    return False
                except OSError:
                    chunk = b""  # reset by a Renode that is gone
                if not chunk:
                    self._closed = True
                    self._sock.close()
                    return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    # -- internals

    def _send(self, data: bytes) -> None:
        if self._closed:
            raise BackendError(f"{self.name} Monitor connection is closed")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise BackendError(f"{self.name} Monitor: cannot send: {exc}") from exc

    def _take(self, chunk: bytes) -> str:
        return self._decoder.decode(self._telnet.feed(chunk))

    def _drain(self) -> None:
        """Discard output that arrived after the last prompt (nothing is expected)."""
        try:
            self._sock.settimeout(0)
            while True:
                chunk = self._sock.recv(4096)
                if not chunk:
                    return
                self._take(chunk)
        except OSError:  # BlockingIOError: nothing (more) to read
            return

    def _read_until_prompt(self, deadline: float, what: str, timeout: float) -> str:
        raw = ""
        while True:
            text = clean_terminal_text(raw)
            m = _PROMPT_RE.search(text)
            if m is not None:
                self.prompt = m.group(1)
                return text[: m.start(1)]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError(
                    f"{self.name} Monitor: no prompt after {what} within {timeout:g} s; "
                    f"it printed: {_tail(text)!r}"
                )
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                raise BackendError(
                    f"{self.name} Monitor: connection failed while waiting for {what}: {exc}"
                ) from exc
            if not chunk:
                raise BackendError(
                    f"{self.name} Monitor closed the connection while waiting for {what}; "
                    f"it printed: {_tail(text)!r}"
                )
            raw += self._take(chunk)

    @staticmethod
    def _reply_body(text: str, command: str) -> str:
        lines = text.split("\n")
        if lines and lines[0].strip() == command.strip():
            lines = lines[1:]  # the echo of what we typed
        return "\n".join(line.rstrip() for line in lines).strip("\n")


def _tail(text: str, chars: int = 400) -> str:
    return text if len(text) <= chars else "..." + text[-chars:]


# --- the target ------------------------------------------------------------------------------


class RenodeTarget(Closing):
    """A running Renode: its process (ProcessTarget), its Monitor, the UART's URL."""

    def __init__(
        self,
        process: ProcessTarget,
        monitor: RenodeMonitor,
        machine: RenodeMachine,
        monitor_port: int,
        uart_port: int,
        quit_timeout: float = QUIT_TIMEOUT_S,
        workarounds: Workarounds | None = None,
    ) -> None:
        self.process = process
        #: Renode's version and the corrected models swapped in (renode_models).
        self.workarounds = workarounds or Workarounds(None, ())
        self.monitor = monitor
        self.machine = machine
        self.monitor_port = monitor_port
        self.uart_port = uart_port
        self.quit_timeout = quit_timeout
        self.serial_url = f"socket://127.0.0.1:{uart_port}"
        process.serial_url = self.serial_url
        self._closed = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def workdir(self) -> Path:
        return self.process.workdir

    def alive(self) -> bool:
        return self.process.alive()

    def exit_code(self) -> int | None:
        return self.process.exit_code()

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait_exit(timeout)

    def ensure_alive(self) -> None:
        self.process.ensure_alive()

    def log_tail(self, lines: int = 20) -> str:
        return self.process.log_tail(lines)

    @property
    def console_path(self) -> Path:
        """Renode's own output (its log), while the target lives."""
        return self.process.console_path

    def execute(self, command: str, timeout: float = 30.0) -> str:
        """One Monitor command; a dead Renode is reported with its exit code and log."""
        self.ensure_alive()
        try:
            return self.monitor.execute(command, timeout)
        except BackendError as exc:
            if not self.process.alive():
                raise BackendError(self.process.death_message(f"during {command!r}")) from exc
            raise

    def executed_instructions(self) -> int:
        """Instructions the machine's CPU executed so far (`<cpu> ExecutedInstructions`)."""
        self.ensure_alive()
        try:
            return self.monitor.executed_instructions(self.machine.cpu)
        except BackendError as exc:
            if not self.process.alive():
                message = self.process.death_message("during ExecutedInstructions")
                raise BackendError(message) from exc
            raise

    def close(self) -> None:
        """`quit` over the Monitor, wait for Renode to exit, then tear the process group down."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.process.alive():
                try:
                    quitted = self.monitor.quit(self.quit_timeout)
                except (OSError, BackendError):
                    quitted = False
                if quitted:
                    try:
                        self.process.wait_exit(self.quit_timeout)
                    except BackendError:
                        pass  # SIGTERM below
        finally:
            try:
                self.monitor.close()
            finally:
                self.process.close()

    @property
    def run_notes(self) -> dict[str, object]:
        """What run.json records about this target: Renode's version, workarounds, timer."""
        notes = self.workarounds.to_json()
        if self.machine.timer_hz is not None:
            notes["timer_hz"] = self.machine.timer_hz
        return notes

    def __repr__(self) -> str:
        state = "alive" if self.alive() else f"exited {self.exit_code()}"
        return (f"<{type(self).__name__} {self.machine.name} pid={self.pid} {state} "
                f"monitor={self.monitor_port} {self.serial_url}>")


# --- the launcher ----------------------------------------------------------------------------


def _group_pids(pgid: int) -> list[int]:
    """Pids of the processes in process group pgid (the leader first)."""
    pids = [pgid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pgid:
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def _group_owns_socket(pgid: int, inodes: set[int]) -> bool:
    return any(owns_socket(pid, inodes) for pid in _group_pids(pgid))


def renode_config(workdir: Path) -> str:
    """The private Renode config (Nini INI): the Monitor's history stays in workdir."""
    return f"[general]\nhistory-path = {workdir / 'history'}\n"


def _bind_failed(text: str) -> bool:
    """Renode's text when it could not bind a port (SocketException, Linux errno 98)."""
    return "address already in use" in text.lower()


@dataclass(frozen=True)
class RenodeLauncher:
    """How to start Renode for one machine; `start(elf)` boots one image."""

    machine: RenodeMachine
    binary: str = RENODE_BINARY
    extra_args: tuple[str, ...] = ()
    #: `emulation SetGlobalQuantum` in virtual seconds; None keeps Renode's
    #: default (100 us), well under one byte time at 115200 baud.
    quantum_s: float | None = None
    #: Renode (mono or .NET) needs seconds to come up; the first
    #: LoadPlatformDescription compiles the platform.
    start_timeout: float = 60.0
    command_timeout: float = 60.0
    quit_timeout: float = QUIT_TIMEOUT_S
    bind_attempts: int = 3
    #: False: the machine is built but not started; open serial_url first,
    #: then `target.execute("start")`, to see everything the firmware prints
    #: from its first instruction on (docs/renode.md, "Boot output").
    autostart: bool = True

    def command(self, renode: str, monitor_port: int, config: Path | None = None) -> list[str]:
        argv = [renode, "--disable-xwt", "--plain", "--port", str(monitor_port)]
        if config is not None:
            argv += ["--config", str(config)]
        return [*argv, *self.extra_args]

    def start(self, elf: Path) -> RenodeTarget:
        elf = require_file(elf)
        renode = require_binary(self.binary, "install Renode >= 1.14 (https://renode.io)")

        def attempt(ports: tuple[int, ...]) -> RenodeTarget:
            monitor_port, uart_port = ports
            workdir = Path(tempfile.mkdtemp(prefix="hil-renode-"))
            try:
                script = workdir / SCRIPT_NAME
                script.write_text(
                    resc_script(self.machine, elf, uart_port, quantum_s=self.quantum_s,
                                workarounds_script=workdir / WORKAROUNDS_NAME)
                )
                (workdir / CONFIG_NAME).write_text(renode_config(workdir))
            except BaseException:
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            env = {**os.environ, "TMPDIR": str(workdir)}
            argv = self.command(renode, monitor_port, workdir / CONFIG_NAME)
            process = ProcessTarget(self.binary, argv, workdir, env=env)
            monitor: RenodeMonitor | None = None
            try:
                self._wait_listening(process, monitor_port, "Monitor")
                monitor = self._connect(process, monitor_port)
                return self.attach(process, monitor, script, uart_port, monitor_port)
            except BaseException:
                if monitor is not None:
                    monitor.close()
                process.close()
                raise

        return start_on_free_ports(self.binary, 2, attempt, self.bind_attempts)

    def attach(
        self,
        process: ProcessTarget,
        monitor: RenodeMonitor,
        script: Path,
        uart_port: int,
        monitor_port: int = 0,
    ) -> RenodeTarget:
        """Run `script` and (autostart) `start` over `monitor`; wait for the UART socket.

        On failure the caller still owns process and monitor.
        """
        # Fixes for this Renode version's broken models, in the file dut.resc includes.
        workarounds = plan_workarounds(self.machine.name, renode_version(monitor.banner))
        write_workarounds(workarounds, script.parent)
        commands = [f"include {renode_path(script)}"] + (["start"] if self.autostart else [])
        for command in commands:
            try:
                monitor.execute(command, self.command_timeout)
            except RenodeCommandError as exc:
                if _bind_failed(exc.reply):
                    raise PortTaken from exc
                raise BackendError(
                    f"{exc}\nlast lines of the {self.binary} log:\n{process.log_tail()}"
                ) from exc
            except BackendError as exc:
                if not process.alive():
                    raise BackendError(process.death_message(f"during {command!r}")) from exc
                raise
        self._wait_listening(process, uart_port, "UART socket")
        return RenodeTarget(process, monitor, self.machine, monitor_port, uart_port,
                            workarounds=workarounds,
                            quit_timeout=self.quit_timeout)

    def _connect(self, process: ProcessTarget, port: int) -> RenodeMonitor:
        try:
            return RenodeMonitor.connect(port, timeout=self.start_timeout, name=self.binary)
        except BackendError as exc:
            if not process.alive():
                message = process.death_message("before its first Monitor prompt")
                raise BackendError(message) from exc
            raise

    def _wait_listening(self, process: ProcessTarget, port: int, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            inodes = listening_inodes(port)
            if inodes and _group_owns_socket(process.pid, inodes):
                return
            if not process.alive():
                if _bind_failed(process.log_tail(50)):
                    raise PortTaken
                message = process.death_message(f"before its {what} listened on port {port}")
                raise BackendError(message)
            time.sleep(0.01)
        raise BackendError(
            f"{self.binary} did not listen for its {what} on port {port} within "
            f"{self.start_timeout:g} s; last lines of its log:\n{process.log_tail()}"
        )


def start_renode(elf: Path, board: str | RenodeMachine) -> RenodeTarget:
    """Boot `elf` on the Renode machine for Zephyr `board`; serial_url is socket://127.0.0.1:PORT.

    Close the target (or use it as a context manager) to stop Renode.
    """
    if isinstance(board, RenodeMachine):
        machine = board
    else:
        try:
            machine = RENODE_MACHINES[board]
        except KeyError:
            raise BackendError(
                f"no Renode machine for board {board!r}; known boards: {', '.join(RENODE_MACHINES)}"
            ) from None
    return RenodeLauncher(machine).start(elf)


# --- the registered backend ----------------------------------------------------------------


class RenodeEntry(DeviceEntry):
    """A Renode machine running a Zephyr image; `machine` defaults to the board's name."""

    machine: str | None = None

    @model_validator(mode="after")
    def _known_machine(self) -> RenodeEntry:
        if self.machine_key() not in RENODE_MACHINES:
            raise ValueError(f"no Renode machine {self.machine_key()!r}; known: "
                             f"{', '.join(RENODE_MACHINES)}")
        return self

    def machine_key(self) -> str:
        return self.machine or self.board


class RenodeBackend(Backend):
    """Renode: boards nobody has on the desk, with the guest's instruction count."""

    kind = "renode"
    auto_rank = 20
    entry_model = RenodeEntry

    def availability(self, entry: DeviceEntry) -> Availability:
        self.own(entry, RenodeEntry)
        if shutil.which(RENODE_BINARY) is None:
            return Availability(False, "renode not on PATH")
        return self.image_availability(entry)

    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        target = start_renode(image, self.own(entry, RenodeEntry).machine_key())
        if progress is not None:
            for line in target.workarounds.lines():
                progress(f"workaround: {line}")
        return target

    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        machine = RENODE_MACHINES[self.own(entry, RenodeEntry).machine_key()]
        note = "Renode virtual time from its instruction count at the CPU's PerformanceInMips"
        if machine.timer_hz is not None:
            note += (f"; no cycle counter in Renode's {machine.name} (no DWT): the firmware "
                     f"times with the {machine.timer_hz} Hz RTC, {1e6 / machine.timer_hz:.1f} us "
                     f"per tick, so step latencies are coarse")
        return LatencyClock("renode_virtual", note, None)
