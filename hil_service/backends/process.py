"""A DUT that is a local child process (QEMU, the POSIX firmware), owned safely.

Why a class of its own: an emulator left running after a failed test keeps
a CPU core and a TCP port busy and confuses the next run. So the child runs
in its own process group (Ctrl-C in the terminal reaches only Python, which
then tears the child down in order), and teardown is bound three ways:
`close()` / the context manager, a `weakref.finalize` that fires when the
target is garbage-collected, and the same finalizer at interpreter exit
(finalize registers itself with atexit), which also covers KeyboardInterrupt
and failing tests. A SIGKILL of the Python process itself is covered by
hil_service.procs (PR_SET_PDEATHSIG and a watchdog).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from hil_service.procs import spawn

from . import BackendError, Closing

T = TypeVar("T")

#: Seconds between SIGTERM and SIGKILL at teardown.
TERM_GRACE_S = 2.0
LOG_NAME = "console.log"


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after grace seconds, reap it."""
    if proc.returncode is not None:
        return  # already reaped: its group id may belong to someone else now
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(grace)
    except BaseException:  # TimeoutExpired, or Ctrl-C during the grace period
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        if proc.returncode is None:  # pragma: no cover - wait() always sets it
            raise


def _teardown(proc: subprocess.Popen[bytes], workdir: Path, grace: float) -> None:
    """Finalizer body; must not reference the target object itself."""
    try:
        _stop_group(proc, grace)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            return b"".join(deque(f, maxlen=lines)).decode("utf-8", "replace").rstrip()
    except OSError:
        return ""


def _append_log(log: Path, keep: Path, header: str) -> None:
    """Append log to keep under a header line; a full disk must not stop the teardown."""
    try:
        keep.parent.mkdir(parents=True, exist_ok=True)
        with keep.open("ab") as out, log.open("rb") as src:
            out.write(f"=== {header} ===\n".encode())
            shutil.copyfileobj(src, out)
    except OSError:
        pass


def describe_exit(code: int) -> str:
    """'exit code 3' or 'exit code -9 (SIGKILL)'."""
    if code < 0:
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exit code {code}"


class ProcessTarget(Closing):
    """A started child process with its private work folder and log.

    The launcher sets `serial_url` once the target is reachable. The work
    folder (log, pty link, ...) is removed at close; `log_tail()` keeps
    answering from a copy of the tail taken just before.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.log_path = workdir / LOG_NAME
        self.serial_url = ""
        #: where close() appends the child's log before the work folder goes (a run directory)
        self.keep_log: Path | None = None
        self._closed_tail: str | None = None
        with self.log_path.open("wb") as log:
            # The child holds its own copy of the log fd.
            # spawn(): the child dies with us even if we are SIGKILLed (hil_service.procs)
            self._proc: subprocess.Popen[bytes] = spawn(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                start_new_session=True,
                cleanup=workdir,
            )
        self._finalizer = weakref.finalize(self, _teardown, self._proc, workdir, TERM_GRACE_S)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def console_path(self) -> Path:
        """The child's own output (stdout and stderr), while the target lives."""
        return self.log_path

    def alive(self) -> bool:
        return self._proc.poll() is None

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def wait_exit(self, timeout: float) -> int:
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"{self.name} (pid {self.pid}) still running after {timeout:g} s"
            ) from None

    def death_message(self, when: str = "") -> str:
        """One line naming the exit status, then the log's last lines."""
        code = self._proc.poll()
        status = "is still running" if code is None else f"died with {describe_exit(code)}"
        text = f"{self.name} {status}{' ' + when if when else ''}"
        tail = self.log_tail()
        return f"{text}; last lines of its log:\n{tail}" if tail else f"{text} (its log is empty)"

    def ensure_alive(self) -> None:
        if not self.alive():
            raise BackendError(self.death_message())

    def log_tail(self, lines: int = 20) -> str:
        if self._closed_tail is not None:
            return "\n".join(self._closed_tail.splitlines()[-lines:])
        return _tail(self.log_path, lines)

    def close(self) -> None:
        if not self._finalizer.alive:
            return
        try:
            _stop_group(self._proc, TERM_GRACE_S)
            self._closed_tail = _tail(self.log_path, 200)
            if self.keep_log is not None:
                _append_log(self.log_path, self.keep_log, f"{self.name} pid {self.pid}, "
                            f"{describe_exit(self._proc.returncode)}")
        finally:
            self._finalizer()  # removes the work folder (and stops, if the above was cut short)

    def __repr__(self) -> str:
        state = "alive" if self.alive() else f"exited {self.exit_code()}"
        return f"<{type(self).__name__} {self.name} pid={self.pid} {state} {self.serial_url}>"


# -- loopback TCP ports for emulators that serve a socket -------------------------------------


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_inodes(port: int) -> set[int]:
    """Socket inodes listening on 127.0.0.1:port or 0.0.0.0:port (IPv4)."""
    inodes: set[int] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if int(hexport, 16) == port and fields[3] == "0A" and addr in ("0100007F", "00000000"):
                inodes.add(int(fields[9]))
    return inodes


def owns_socket(pid: int, inodes: set[int]) -> bool:
    """True if process pid holds one of these socket inodes."""
    wanted = {f"socket:[{i}]" for i in inodes}
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                if fd.readlink().as_posix() in wanted:
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


class PortTaken(Exception):
    """The emulator could not bind a port we picked (another process won the race); retry."""


def start_on_free_ports(name: str, count: int, attempt: Callable[[tuple[int, ...]], T],
                        attempts: int = 3) -> T:
    """Run attempt(ports) with `count` distinct free loopback ports until it does not raise PortTaken.

    A free port is only free when picked: an emulator binding it later can
    lose it to another process. attempt() cleans up after itself before
    raising PortTaken; anything else it raises ends the start.
    """
    for _ in range(attempts):
        ports: list[int] = []
        while len(ports) < count:
            port = free_loopback_port()
            if port not in ports:
                ports.append(port)
        try:
            return attempt(tuple(ports))
        except PortTaken:
            continue
    what = "a loopback TCP port" if count == 1 else "loopback TCP ports"
    raise BackendError(f"{name} could not bind {what} in {attempts} attempts")
