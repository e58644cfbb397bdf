"""Child processes that die with this process, even when it is SIGKILLed.

Emulators and Flower processes are started here (`spawn`, `owned_env`), never
with a bare `subprocess.Popen`, because a CI cancel often ends in SIGKILL and
an emulator left behind keeps a core and a port busy for the next run. Two
guards, because each alone has a hole:

- PR_SET_PDEATHSIG(SIGKILL) on every direct child: the kernel kills it when
  its parent dies. The kernel's "parent" is the forking *thread*, so every
  child is forked by one long-lived spawner thread, never by a worker thread
  that may end while its child should live on (a group's bring-up pool).
- A watchdog process (`_watchdog.py`, in a session of its own) reading a pipe
  whose write end only this process holds. When this process dies, however,
  the pipe reads EOF and the watchdog ends every process whose environment
  carries this process's token (`HIL_OWNER`), grandchildren included
  (Flower's SuperExec starts its apps in sessions of their own, out of reach
  of PDEATHSIG and of our process groups), then removes the work folders
  registered with `spawn(cleanup=...)`.

A process forked from this one (os.fork) gets its own token and watchdog.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["OWNER_ENV", "owned_env", "owner_token", "spawn"]

#: The environment variable that marks a process (and what it starts) as ours.
OWNER_ENV = "HIL_OWNER"
_PR_SET_PDEATHSIG = 1
_WATCHDOG = Path(__file__).with_name("_watchdog.py")
#: how long a normal exit waits for the watchdog's sweep (its grace is 2 s)
_WATCHDOG_EXIT_S = 10.0

try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the watchdog alone guards
    _prctl = None


class _State:
    """This process's token, watchdog pipe and spawner thread; reset in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token = f"{os.getpid()}-{secrets.token_hex(8)}"
        self.pipe: int | None = None  # write end; the watchdog holds the read end
        self.watchdog: subprocess.Popen[bytes] | None = None
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None


_state = _State()


def _forked() -> None:
    global _state
    old, _state = _state, _State()
    if old.pipe is not None:  # else our watchdog would wait for the child as well
        with contextlib.suppress(OSError):
            os.close(old.pipe)


os.register_at_fork(after_in_child=_forked)


def _end_watchdog() -> None:
    """At a normal exit, do now what the watchdog would do once we are gone, and reap it:
    left running, its Popen object warns "still running" as the interpreter shuts down."""
    s = _state
    with s.lock:
        pipe, dog = s.pipe, s.watchdog
        s.pipe = None
    if pipe is None:
        return
    with contextlib.suppress(OSError):
        os.close(pipe)  # EOF: it ends what still carries our token, then exits
    if dog is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            dog.wait(timeout=_WATCHDOG_EXIT_S)


atexit.register(_end_watchdog)


def owner_token() -> str:
    """The token this process's children carry in HIL_OWNER."""
    return _state.token


def owned_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """env (default: ours) marked with our token, with the watchdog running.

    For a child started some other way (`subprocess.run` of a short tool):
    the watchdog ends it if we die, without PDEATHSIG.
    """
    _ensure_watchdog()
    return {**(os.environ if env is None else env), OWNER_ENV: _state.token}


def _ensure_watchdog() -> None:
    s = _state
    with s.lock:
        if s.watchdog is not None and s.watchdog.poll() is None:
            return
        if s.pipe is not None:
            os.close(s.pipe)
        read, write = os.pipe()  # both ends close on exec: no other child inherits them
        env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
        try:
            # -I -S: the stdlib only, nothing of this venv or package; own session: a
            # signal to our process group (a CI runner's cancel) leaves it to do its job
            s.watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WATCHDOG), s.token],
                stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                start_new_session=True)  # holds none of our output pipes open after we die
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        s.pipe = write


def _tell_watchdog(line: str) -> None:
    s = _state
    with s.lock:
        if s.pipe is not None:
            with contextlib.suppress(OSError):
                os.write(s.pipe, (line + "\n").encode())


def _die_with_parent(parent: int) -> Callable[[], None]:
    prctl = _prctl

    def in_child() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would kill us
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def _spawner_loop(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
    while True:
        job, future = jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(job())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            future.set_exception(exc)


def _on_spawner(job: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    s = _state
    with s.lock:
        if s.jobs is None:
            s.jobs = queue.SimpleQueue()
            threading.Thread(target=_spawner_loop, args=(s.jobs,), name="hil-spawner",
                             daemon=True).start()
        jobs = s.jobs
    future: Future[subprocess.Popen[bytes]] = Future()
    jobs.put((job, future))
    return future.result()


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          cleanup: Path | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv, ...) for a child that must not outlive us.

    The child gets PR_SET_PDEATHSIG(SIGKILL) and our token in its environment;
    `cleanup` names a folder the watchdog removes if we die without doing so.
    Other keyword arguments go to Popen (start_new_session, stdout, cwd, ...).
    """
    if "preexec_fn" in popen:
        raise TypeError("spawn() sets preexec_fn itself")
    child_env = owned_env(env)
    if cleanup is not None:
        _tell_watchdog(f"dir {cleanup}")
    args = list(argv)
    hook = _die_with_parent(os.getpid())
    return _on_spawner(lambda: subprocess.Popen(args, env=child_env, preexec_fn=hook, **popen))
