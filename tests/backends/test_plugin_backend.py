"""A backend registered by another distribution through the `hil_service.backends` entry point.

The plugin (tests/backends/plugin/hil_hostwrap.py) is installed the way pip
leaves a package: the module plus a `<name>.dist-info` with METADATA and
entry_points.txt, in a folder on PYTHONPATH of a `hil` subprocess, where
importlib.metadata finds it. Nothing in hil_service names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugin"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    dist = site / "hil_hostwrap-0.1.dist-info"
    dist.mkdir(parents=True)
    shutil.copy(PLUGIN / "hil_hostwrap.py", site / "hil_hostwrap.py")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hil-hostwrap\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hil_service.backends]\nhostwrap = hil_hostwrap:HostWrapBackend\n")
    return site


def _hil(site: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([sys.executable, "-m", "hil_service.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_plugin_kind_is_listed_with_its_own_fields(site: Path) -> None:
    done = _hil(site, "list", "--inventory", str(PLUGIN / "lab.yaml"))
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:-1]}
    assert "hostwrap" in rows["wrapped-host"] and "yes: host build under nice 5" in rows["wrapped-host"]
    # its own field is validated by its own model: nice 42 is out of range
    assert "no: invalid entry:" in rows["wrapped-typo"] and "nice" in rows["wrapped-typo"]
    assert done.stdout.splitlines()[-1].endswith("2 devices in "
                                                  f"{PLUGIN / 'lab.yaml'}, 1 available, 1 invalid")


def test_plugin_kind_without_the_plugin_is_an_unknown_backend(tmp_path: Path) -> None:
    done = _hil(tmp_path, "list", "--inventory", str(PLUGIN / "lab.yaml"))
    assert done.returncode == 0, done.stderr
    assert "no backend 'hostwrap' is registered" in done.stdout


def test_smoke_plan_runs_on_a_plugin_backend(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _hil(site, "run", "test_plans/smoke.yaml", "--inventory", str(PLUGIN / "lab.yaml"),
                "--backend", "hostwrap", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("PASS wrapped-host last_layer: 4/4 expectations")
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "passed" and run["devices_selected"] == ["wrapped-host"]
    device = run["devices"]["wrapped-host"]
    assert device["entry"]["backend"] == "hostwrap" and device["entry"]["nice"] == 5


def test_a_broken_or_clashing_plugin_does_not_stop_the_others(site: Path) -> None:
    dist = site / "hil_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hil-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hil_service.backends]\nbroken = hil_not_there:Backend\n"
        "qemu = hil_hostwrap:HostWrapBackend\n")
    done = _hil(site, "list")
    assert done.returncode == 0, done.stderr
    assert "yes: QEMU mps2-an386" in done.stdout  # the built-in qemu kept its kind
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert any("backend plugin broken = hil_not_there:Backend (distribution hil-broken) failed "
               "to load: ModuleNotFoundError" in w for w in warnings), done.stderr
    assert any("backend kind 'qemu' of hil-broken (hil_hostwrap:HostWrapBackend) is already "
               "registered by built-in" in w for w in warnings), done.stderr
