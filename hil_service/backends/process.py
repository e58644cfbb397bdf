"""A DUT that is a local child process (QEMU, the POSIX firmware), owned safely.

Why a class of its own: an emulator left running after a failed test keeps
a CPU core and a TCP port busy and confuses the next run. So the child runs
in its own process group (Ctrl-C in the terminal reaches only Python, which
then tears the child down in order), and teardown is bound three ways:
`close()` / the context manager, a `weakref.finalize` that fires when the
target is garbage-collected, and the same finalizer at interpreter exit
(finalize registers itself with atexit), which also covers KeyboardInterrupt
and failing tests. Only a SIGKILL of the Python process itself escapes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import BackendError, Closing

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
        self._closed_tail: str | None = None
        with self.log_path.open("wb") as log:
            # The child holds its own copy of the log fd.
            self._proc: subprocess.Popen[bytes] = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        self._finalizer = weakref.finalize(self, _teardown, self._proc, workdir, TERM_GRACE_S)

    @property
    def pid(self) -> int:
        return self._proc.pid

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
        finally:
            self._finalizer()  # removes the work folder (and stops, if the above was cut short)

    def __repr__(self) -> str:
        state = "alive" if self.alive() else f"exited {self.exit_code()}"
        return f"<{type(self).__name__} {self.name} pid={self.pid} {state} {self.serial_url}>"
