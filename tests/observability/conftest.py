"""Real Prometheus, Pushgateway and `hil serve` processes on loopback, and their clean-up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"


def tool(name: str) -> str:
    """A Prometheus tool from the Debian packages scripts/setup.sh installs; missing is a failure."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: scripts/setup.sh installs the Debian packages "
                    f"prometheus and prometheus-pushgateway", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return str(reply.read().decode("utf-8"))


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            http_get(url, timeout=2.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


class Processes:
    """Starts long-running processes each in a session of its own, and ends them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], ready_url: str | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append(proc)
        if ready_url is not None:
            wait_http(ready_url, proc, log)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.started):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()
    for proc in procs.started:
        assert proc.returncode is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # nothing of the group is left


def hil_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hil_service.cli", *args]


def promql(base: str, query: str) -> dict[str, Any]:
    """The answer of Prometheus' instant query API (status, data)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        data: dict[str, Any] = json.loads(http_get(url))
    except urllib.error.HTTPError as exc:  # a bad query answers 400 with a JSON error
        data = json.loads(exc.read().decode("utf-8"))
    return data
