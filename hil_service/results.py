"""The run directory: run.json written as the run goes, and junit.xml.

run.json is rewritten whole (to a temporary file, then renamed) after every
step, so a crash, a dead emulator or Ctrl-C leaves a complete, parseable
record of everything measured until then. Runs on several devices report
from several threads; one lock orders their writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import tempfile
import threading
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from hil_service.errors import ConfigError, HilError

__all__ = ["JournalError", "RunFileError", "RunJournal", "boot_id", "case_seconds", "effective_status",
           "load_run", "new_run_dir", "process_start", "write_junit"]

SCHEMA = 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def boot_id() -> str:
    """This boot's id: a pid recorded under another boot names no process of ours."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """When pid started (clock ticks since boot), None if no such process: tells a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def effective_status(data: dict[str, Any]) -> str:
    """run.json's status, or "abandoned" for a run left "running" by a process that is gone.

    A run is abandoned when it was recorded under another boot, or its pid no
    longer runs (or runs a later process). A record from another host, or one
    without pid and boot id (older run.json), cannot be judged and keeps its status.
    """
    status = str(data.get("status", "error"))
    if status != "running":
        return status
    pid, boot = data.get("pid"), data.get("boot_id")
    if not isinstance(pid, int) or not boot:
        return status
    if data.get("host", {}).get("node") != platform.node():
        return status
    if boot != boot_id():
        return "abandoned"
    started = process_start(pid)
    if started is None or started != data.get("pid_start", started):
        return "abandoned"
    return status


def _file_mode() -> int:
    """0666 under the process umask, as open() creates the other outputs (mkstemp's is 0600)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def new_run_dir(root: Path, plan_name: str) -> Path:
    """root/<plan>-<UTC time>[-n]: a fresh directory for one `hil run`."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", plan_name)
    for n in range(1000):
        path = root / (f"{safe}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {root}")


_FILE_MODE = _file_mode()


class JournalError(HilError, OSError):
    """run.json could not be written (disk full, directory gone); names the file."""


class RunJournal:
    """The record of one `hil run`; every method persists before it returns."""

    def __init__(self, directory: Path, plan: dict[str, Any]) -> None:
        self.directory = directory
        self.path = directory / "run.json"
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "status": "running",
            "started": _now(),
            "finished": None,
            "host": {"python": platform.python_version(), "machine": platform.machine(),
                     "node": platform.node()},
            # who writes this record: effective_status() tells a run whose writer died
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "boot_id": boot_id(),
            "plan": plan,
            "base_model": None,
            "devices": {},
            "runs": [],
            "errors": [],
        }
        self._flush()

    def _flush(self) -> None:
        data = json.dumps(self.data, indent=1, allow_nan=True).encode("utf-8")
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".run.", suffix=".json")
            try:
                os.fchmod(fd, _FILE_MODE)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            # a full disk must not leave .run.*.json files behind, nor hide which file failed
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise JournalError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self.data[key] = value
            self._flush()

    def device(self, device_id: str, **fields: Any) -> None:
        with self._lock:
            self.data["devices"].setdefault(device_id, {}).update(fields)
            self._flush()

    def start_run(self, device_id: str, strategy: str, **fields: Any) -> int:
        with self._lock:
            self.data["runs"].append({"device": device_id, "strategy": strategy,
                                      "status": "running", "started": _now(), "finished": None,
                                      "metrics": {}, "expectations": [], "timings": {},
                                      "error": None, **fields})
            self._flush()
            return len(self.data["runs"]) - 1

    def update_run(self, index: int, **fields: Any) -> None:
        with self._lock:
            run = self.data["runs"][index]
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(run.get(key), dict):
                    run[key].update(value)
                else:
                    run[key] = value
            self._flush()

    def finish_run(self, index: int, status: str, **fields: Any) -> None:
        self.update_run(index, status=status, finished=_now(), **fields)

    def error(self, where: str, message: str) -> None:
        with self._lock:
            self.data["errors"].append({"where": where, "message": message, "time": _now()})
            self._flush()

    def stopped(self, why: str) -> None:
        """The run was cancelled (a signal, Ctrl-C): finish() records it as "stopped"."""
        with self._lock:
            self.data.setdefault("stopped", {"why": why, "time": _now()})
            self._flush()

    def finish(self) -> str:
        with self._lock:
            runs = self.data["runs"]
            missing = self.data.get("skipped_devices") and self.data.get("require_all_devices")
            if self.data.get("stopped"):
                status = "stopped"
            elif (self.data["errors"] or missing
                  or any(r["status"] in ("error", "running") for r in runs)):
                status = "error"
            elif self.data.get("fail_on_regression") and self.data.get("regressions"):
                status = "failed"  # `hil run --fail-on-regression` (history.py)
            elif runs and all(r["status"] == "passed" for r in runs):
                status = "passed"
            else:
                status = "failed"
            self.data["status"] = status
            self.data["finished"] = _now()
            self._flush()
        write_junit(self.data, self.directory / "junit.xml")
        return status


class RunFileError(ConfigError):
    """A run directory without a readable run.json."""


def load_run(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "run.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist: not a run directory") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{path} is not valid JSON: {exc}") from None


def _seconds(start: str | None, end: str | None) -> float:
    try:
        return max(0.0, (dt.datetime.fromisoformat(str(end))
                         - dt.datetime.fromisoformat(str(start))).total_seconds())
    except ValueError:
        return 0.0


def _case_name(check: dict[str, Any]) -> str:
    # a group run judges per-device metrics on each member: metric[member]
    return str(check["metric"]) + (f"[{check['device']}]" if check.get("device") else "")


def _case_names(run: dict[str, Any]) -> list[str]:
    """A strategy run's junit cases: its planned checks, then any other verdict it has."""
    planned = [_case_name(c) for c in run.get("checks", [])]
    return planned + [n for n in (_case_name(v) for v in run["expectations"]) if n not in planned]


def case_seconds(data: dict[str, Any]) -> dict[tuple[str, str], float]:
    """Each case's time by (device or group label, strategy): its run's wall time shared
    evenly by the run's cases, as junit.xml gives it (the pytest plugin reports the same)."""
    out: dict[tuple[str, str], float] = {}
    for run in data["runs"]:
        seconds = _seconds(run.get("started"), run.get("finished") or data.get("finished"))
        out[(run["device"], run["strategy"])] = seconds / max(1, len(_case_names(run)))
    return out


def _properties(parent: ET.Element, values: dict[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def write_junit(data: dict[str, Any], path: Path) -> None:
    """One testcase per (device, strategy, expectation), named alike whatever happened.

    A run that broke (or was stopped) keeps its expectation names, each case an
    error with the run's message; a run recorded without its list of checks
    (an older run.json) is one `run` error case. Each run's wall time is shared
    evenly by its cases, so a suite's time is what its runs took. A device the
    selection could not use is a skipped `setup` case with the reason. A group
    run is one suite under its label (`a+b`), its per-device verdicts named
    `metric[member]`. Thresholds and measured values are case properties.
    """
    from hil_service.history import add_junit_regressions

    plan = data["plan"].get("name", "plan")
    suites = ET.Element("testsuites", name=plan)
    by_device: dict[str, list[dict[str, Any]]] = {}
    for run in data["runs"]:
        by_device.setdefault(run["device"], []).append(run)
    for error in data.get("errors", []):
        by_device.setdefault(error["where"], [])
    skipped_devices = {s["device"]: s["reason"] for s in data.get("skipped_devices", [])}
    for device in skipped_devices:
        by_device.setdefault(device, [])
    strict = bool(data.get("require_all_devices"))
    for device, runs in by_device.items():
        suite = ET.SubElement(suites, "testsuite", name=f"{plan}.{device}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        total = 0.0

        def case(cls: str, name: str, seconds: float = 0.0,
                 suite: ET.Element = suite, counts: dict[str, int] = counts) -> ET.Element:
            counts["tests"] += 1
            return ET.SubElement(suite, "testcase", classname=cls, name=name,
                                 time=f"{seconds:.3f}")

        if device in skipped_devices:
            reason = skipped_devices[device]
            c = case(f"{plan}.{device}", "setup")
            if strict:
                ET.SubElement(c, "error", message=f"device unavailable: {reason} "
                                                  f"(all devices are required)")
                counts["errors"] += 1
            else:
                ET.SubElement(c, "skipped", message=f"device unavailable: {reason}")
                counts["skipped"] += 1
        for error in (e for e in data.get("errors", []) if e["where"] == device):
            ET.SubElement(case(f"{plan}.{device}", "setup"), "error", message=error["message"])
            counts["errors"] += 1
        for run in runs:
            cls = f"{plan}.{device}.{run['strategy']}"
            seconds = _seconds(run.get("started"), run.get("finished") or data.get("finished"))
            total += seconds
            broken = run["status"] in ("error", "running")
            message = run.get("error") or "run did not finish"
            judged = {_case_name(v): v for v in run["expectations"]}
            names = _case_names(run)
            if broken and not names:
                ET.SubElement(case(cls, "run", seconds), "error", message=message)
                counts["errors"] += 1
                continue
            share = seconds / max(1, len(names))
            thresholds = {_case_name(c): c.get("threshold") for c in run.get("checks", [])}
            for name in names:
                c = case(cls, name, share)
                v = judged.get(name)
                _properties(c, {"threshold": v["expected"] if v else thresholds.get(name),
                                "actual": v["actual"] if v else None})
                if v is None:
                    ET.SubElement(c, "error", message=message if broken else "not judged")
                    counts["errors"] += 1
                    continue
                if not v["passed"]:
                    ET.SubElement(c, "failure", message=v["reason"])
                    counts["failures"] += 1
                ET.SubElement(c, "system-out").text = v["reason"]
            add_junit_regressions(data, run, suite, cls, case, counts)  # history.py
        for key, value in counts.items():
            suite.set(key, str(value))
        suite.set("time", f"{total:.3f}")
    ET.indent(suites)
    tmp = path.with_suffix(".xml.tmp")
    try:
        ET.ElementTree(suites).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise JournalError(f"cannot write {path}: {exc.strerror or exc}") from exc
