"""The Flower processes of one federation: a SuperLink, one SuperNode per device, `flwr run`.

Everything runs on loopback (or joins a SuperLink elsewhere), each process
with its own FLWR_HOME and ports, with Flower's network features off (update
check, telemetry, runtime dependency installation) so it works offline. Each
process gets its own process group, so closing ends the `flwr-clientapp` /
`flwr-serverapp` children too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hil_service.errors import TargetError
from hil_service.procs import owned_env, spawn

__all__ = ["FederationError", "Federation", "Node", "OFFLINE_ENV", "free_port"]

#: what Flower needs to stay off the network (else: update check, telemetry, a `uv sync`)
OFFLINE_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
               "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}
CONNECTION = "hil"
APP_TOML = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "hil-federation"
version = "1.0.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "hil-service"

[tool.flwr.app.components]
serverapp = "hil_service.federation.app:server_app"
clientapp = "hil_service.federation.app:client_app"

[tool.flwr.app.config]
settings = {settings}
"""


class FederationError(TargetError):
    """A Flower process would not start, died, or the run failed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str, log: Path,
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FederationError(f"{what} exited with code {proc.returncode}: {_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise FederationError(f"{what} did not listen on {host}:{port} within {timeout:g} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "empty log"


@dataclass
class Node:
    """One SuperNode: the device it owns and its private directory."""

    device_id: str
    partition_id: int
    state_dir: Path
    proc: subprocess.Popen[bytes]
    port: int

    def set_serial_url(self, url: str) -> None:
        """After the host restarted the device: the node's next message opens this URL."""
        tmp = self.state_dir / "serial_url.tmp"
        tmp.write_text(url)
        tmp.replace(self.state_dir / "serial_url")

    def journal(self) -> list[dict[str, Any]]:
        path = self.state_dir / "journal.jsonl"
        if not path.is_file():
            return []
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


@dataclass
class Federation:
    """One SuperLink (or the address of someone else's) and our SuperNodes."""

    workdir: Path
    superlink: str | None = None  # HOST:PORT of an existing SuperLink; None: start one here
    root_certificates: Path | None = None  # TLS towards an existing SuperLink; None: insecure
    nodes: list[Node] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def _env(self, home: Path) -> dict[str, str]:
        home.mkdir(parents=True, exist_ok=True)
        # Flower starts its helpers (flower-superexec, flwr-clientapp) by name from PATH
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        # owned_env: the watchdog ends Flower's apps too (own sessions) if `hil` is killed
        return owned_env({**os.environ, **OFFLINE_ENV, "FLWR_HOME": str(home), "PATH": path})

    def _spawn(self, name: str, argv: list[str], home: Path) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        out = log.open("ab")
        self._logs.append(out)
        proc = spawn(argv, env=self._env(home), stdout=out, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir)
        self._procs.append(proc)
        return proc, log

    @property
    def address(self) -> str:
        if self.superlink is None:
            raise RuntimeError("start() first")
        return self.superlink

    def start(self) -> str:
        """The SuperLink's address: ours, started now, or the one to join."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.superlink is not None:
            return self.superlink
        port = free_port()
        proc, log = self._spawn("superlink", [
            _bin("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(port),
            "--disable-runtime-dependency-installation"], self.workdir / "superlink-home")
        _wait_port("127.0.0.1", port, proc, "flower-superlink", log)
        self.superlink = f"127.0.0.1:{port}"
        return self.superlink

    def _tls(self) -> list[str]:
        if self.root_certificates is None:
            return ["--insecure"]
        return ["--root-certificates", str(self.root_certificates)]

    def add_node(self, device_id: str, partition_id: int, serial_url: str, baud: int) -> Node:
        state = self.workdir / "nodes" / device_id
        state.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cfg = {"device-id": device_id, "partition-id": partition_id, "serial-url": serial_url,
               "baud": baud, "state-dir": str(state)}
        node_config = " ".join(f"{k}={json.dumps(v)}" for k, v in cfg.items())
        proc, log = self._spawn(f"supernode-{device_id}", [
            _bin("flower-supernode"), *self._tls(), "--superlink", self.address,
            "--port", str(port), "--node-config", node_config,
            "--isolation", "subprocess",
        ], state / "home")
        _wait_port("127.0.0.1", port, proc, f"flower-supernode of {device_id}", log)
        node = Node(device_id, partition_id, state, proc, port)
        self.nodes.append(node)
        return node

    def submit(self, settings: Path) -> str:
        """Write the app and `flwr run` it on the SuperLink; the run id."""
        app = self.workdir / "app"
        app.mkdir(parents=True, exist_ok=True)
        (app / "pyproject.toml").write_text(APP_TOML.format(settings=json.dumps(str(settings))))
        (app / "hil_federation_app.py").write_text(
            '"""The components live in hil_service.federation.app."""\n')
        home = self.workdir / "cli-home"
        tls = ("insecure = true\n" if self.root_certificates is None
               else f"root-certificates = {json.dumps(str(self.root_certificates))}\n")
        self._env(home)
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f"address = {json.dumps(self.address)}\n{tls}")
        done = subprocess.run([_bin("flwr"), "run", str(app), CONNECTION, "--format", "json"],
                              env=self._env(home), capture_output=True, text=True, timeout=120,
                              cwd=self.workdir)
        (self.workdir / "flwr-run.log").write_text(done.stdout + done.stderr)
        try:
            reply = json.loads(done.stdout)
        except json.JSONDecodeError:
            reply = {}
        if done.returncode != 0 or not reply.get("success", False):
            last = (done.stdout + done.stderr).strip().splitlines()
            raise FederationError(f"flwr run failed (exit {done.returncode}): "
                                  f"{last[-1] if last else 'no output'}")
        return str(reply.get("run-id", ""))

    def run_status(self, run_id: str) -> str:
        """Flower's status of the run ('running', 'finished:completed', ...), '' if unknown."""
        home = self.workdir / "cli-home"
        done = subprocess.run([_bin("flwr"), "ls", CONNECTION, "--run-id", run_id, "--format", "json"],
                              env=self._env(home), capture_output=True, text=True, timeout=60,
                              cwd=self.workdir)
        try:
            runs = json.loads(done.stdout).get("runs", [])
        except json.JSONDecodeError:
            return ""
        return str(runs[0].get("status", "")) if runs else ""

    def check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None and proc.returncode != 0:
                args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
                raise FederationError(f"Flower process {Path(str(args[0])).name} exited with code "
                                      f"{proc.returncode}; logs in {self.workdir}")

    def close(self) -> None:
        """SIGTERM every process group and every descendant, SIGKILL what is left after 5 s;
        safe twice.

        Flower's SuperExec starts the ServerApp and ClientApps in sessions of their own,
        so killing our process groups alone leaves them running, re-parented to init:
        their pids are taken before anything dies."""
        strays = _descendants({proc.pid for proc in self._procs if proc.poll() is None})
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        _signal_all(strays, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5.0)
        while strays and time.monotonic() < deadline and any(_running(pid) for pid in strays):
            time.sleep(0.05)
        _signal_all([pid for pid in strays if _running(pid)], signal.SIGKILL)
        self._procs.clear()
        for f in self._logs:
            f.close()
        self._logs.clear()


def _descendants(roots: set[int]) -> list[int]:
    """Pids of every live descendant of roots, from /proc (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
