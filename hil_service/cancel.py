"""SIGTERM and SIGHUP handled like Ctrl-C.

CI runners (GitLab, Jenkins), `timeout` and `docker stop` cancel a job with
SIGTERM; a closed terminal sends SIGHUP. Python's default for both is to die
at once, skipping every teardown: emulators left running, run.json at
"running", no junit.xml. Here both raise `Cancelled` (a KeyboardInterrupt) in
the main thread, so the one path Ctrl-C already takes tears the targets down
and the journal finishes the run as "stopped". A second signal while that
teardown runs is ignored (it would cut the teardown short); SIGKILL is the
hard stop, and hil_service.procs makes sure no child outlives it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["CANCEL_SIGNALS", "Cancelled", "cancel_on_signals", "stop_reason"]

CANCEL_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Cancelled(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP; handled as Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def stop_reason(exc: BaseException) -> str:
    """What run.json says stopped the run."""
    if isinstance(exc, Cancelled):
        return str(exc)
    return "interrupted (SIGINT)"


@contextmanager
def cancel_on_signals() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM and SIGHUP raise Cancelled once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            print(f"hil: {signal.Signals(signum).name} ignored: already stopping",
                  file=sys.stderr)
            return
        fired.append(signum)
        raise Cancelled(signum)

    # a signal ignored on purpose stays ignored: `nohup hil run ...` must survive a hangup
    previous = {s: signal.signal(s, handler) for s in CANCEL_SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
