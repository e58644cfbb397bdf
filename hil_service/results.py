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

__all__ = ["JournalError", "RunFileError", "RunJournal", "load_run", "new_run_dir", "write_junit"]

SCHEMA = 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


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

    def finish(self) -> str:
        with self._lock:
            runs = self.data["runs"]
            if self.data["errors"] or any(r["status"] in ("error", "running") for r in runs):
                status = "error"
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


def write_junit(data: dict[str, Any], path: Path) -> None:
    """One testcase per (device, strategy, expectation); a run that broke is one error case.

    A group run is one suite under its label (`a+b`), its per-device verdicts
    named `metric[member]`.
    """
    plan = data["plan"].get("name", "plan")
    suites = ET.Element("testsuites", name=plan)
    by_device: dict[str, list[dict[str, Any]]] = {}
    for run in data["runs"]:
        by_device.setdefault(run["device"], []).append(run)
    for error in data.get("errors", []):
        by_device.setdefault(error["where"], [])
    for device, runs in by_device.items():
        suite = ET.SubElement(suites, "testsuite", name=f"{plan}.{device}")
        tests = failures = errors = 0
        for error in (e for e in data.get("errors", []) if e["where"] == device):
            case = ET.SubElement(suite, "testcase", classname=f"{plan}.{device}", name="setup")
            ET.SubElement(case, "error", message=error["message"])
            tests += 1
            errors += 1
        for run in runs:
            cls = f"{plan}.{device}.{run['strategy']}"
            if run["status"] in ("error", "running"):
                case = ET.SubElement(suite, "testcase", classname=cls, name="run")
                ET.SubElement(case, "error", message=run.get("error") or "run did not finish")
                tests += 1
                errors += 1
            for v in run["expectations"]:
                # a group run judges per-device metrics on each member: metric[member]
                name = v["metric"] + (f"[{v['device']}]" if v.get("device") else "")
                case = ET.SubElement(suite, "testcase", classname=cls, name=name)
                tests += 1
                if not v["passed"]:
                    ET.SubElement(case, "failure", message=v["reason"])
                    failures += 1
                ET.SubElement(case, "system-out").text = v["reason"]
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    ET.indent(suites)
    tmp = path.with_suffix(".xml.tmp")
    try:
        ET.ElementTree(suites).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise JournalError(f"cannot write {path}: {exc.strerror or exc}") from exc
