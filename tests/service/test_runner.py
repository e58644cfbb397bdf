"""The runner end to end on real firmware: the host build on a pty and the mps2
image in QEMU; a board through pyOCD faked at its API boundary. Every run's
run.json and junit.xml are read back and checked against what was measured."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from hil_service.backends import board as board_backend
from hil_service.backends.qemu import ICOUNT_SHIFT, instructions_from_ticks
from hil_service.image import inspect_image
from hil_service.inventory import load_inventory
from hil_service.locks import DeviceLock
from hil_service.plan import load_plan
from hil_service.runner import run_plan

from .conftest import PASSING_RUN, small_plan


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.progress: list[tuple[str, str, int, int]] = []

    def event(self, device: str, message: str) -> None:
        self.events.append((device, message))

    def stream(self, device: str, strategy: str, done: int, total: int) -> None:
        self.progress.append((device, strategy, done, total))


def devices(dut: str):
    return [load_inventory().get(dut)]


@pytest.mark.parametrize("dut", ["native", "qemu-an386"])
def test_run_records_everything(tmp_path: Path, dut: str) -> None:
    plan_path = small_plan(tmp_path)
    plan = load_plan(plan_path)
    rec = Recorder()
    outcome = run_plan(plan, plan_path, devices(dut), tmp_path / "run", rec)

    assert outcome.status == "failed"  # tinyprop's accuracy >= 0.999 is out of reach
    by_name = {s.strategy: s for s in outcome.summaries}
    assert by_name["last_layer"].status == "passed"
    tp = by_name["tinyprop"]
    assert tp.status == "failed"
    assert [v.metric for v in tp.verdicts if not v.passed] == ["accuracy"]

    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert data["status"] == "failed" and data["finished"]
    assert data["plan"]["sha256"] == plan.digest()
    image = inspect_image(Path(data["devices"][dut]["image"]["path"]))
    hello = data["devices"][dut]["hello"]
    assert hello["git_hash"] == image.build_id  # the runner checked it too
    base_sha = data["base_model"]["sha256"]
    for run in data["runs"]:
        m = run["metrics"]
        assert run["base_weights_sha256"] == base_sha
        assert len(run["final_weights_sha256"]) == 64 and run["final_weights_sha256"] != base_sha
        assert 0 <= m["accuracy_before"] <= 1 and 0 <= m["accuracy"] <= 1
        assert m["accuracy_gain"] == pytest.approx(m["accuracy"] - m["accuracy_before"])
        assert m["ram_bytes"] == image.ram_bytes and m["flash_bytes"] == image.flash_bytes
        assert m["arena_peak_bytes"] <= m["arena_bytes"] + 64
        assert m["stack_high_water_bytes"] > 0
        assert set(run["timings"]) >= {"configure", "load_weights", "evaluate_before", "stream",
                                       "evaluate_after", "read_weights"}
        cycles = sorted(run["step_cycles"])
        assert len(cycles) == m["samples_streamed"]
        hz = hello["cycles_hz"]
        assert m["train_step_us_max"] == pytest.approx(cycles[-1] / hz * 1e6)
        assert m["train_step_us_p50"] <= m["train_step_us_p95"] <= m["train_step_us_max"]
        assert [e["metric"] for e in run["expectations"]] == list(
            plan.strategies[[s.name for s in plan.strategies].index(run["strategy"])].expect)
    ll, tp_run = data["runs"]
    assert ll["metrics"]["samples_trained"] == 64 and ll["metrics"]["labels_used"] == 64
    assert ll["metrics"]["backward_macs_ratio"] < tp_run["metrics"]["backward_macs_ratio"] < 1
    if dut.startswith("qemu"):
        # emulated latency is an instruction count under -icount, and is reported as such
        assert data["devices"][dut]["latency"]["source"] == "icount"
        p95 = tp_run["metrics"]["train_step_cycles_p95"]
        assert tp_run["metrics"]["train_step_instructions_p95"] == pytest.approx(
            instructions_from_ticks(int(p95), ICOUNT_SHIFT))
    else:
        assert tp_run["metrics"]["train_step_instructions_p95"] is None

    suites = ET.parse(tmp_path / "run" / "junit.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == 6
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        (f"small.{dut}.tinyprop", "accuracy")]
    assert "misses >= 0.999" in failed[0].find("failure").get("message")
    assert ("last_layer" in {p[1] for p in rec.progress}) and rec.progress[-1][2:] == (48, 48)


def _qemu_children() -> list[int]:
    me = os.getpid()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            name, rest = stat.split("(", 1)[1].rsplit(")", 1)
            if name.startswith("qemu-system") and int(rest.split()[1]) == me:
                found.append(int(pid))
    return found


def test_emulator_dying_mid_stream_keeps_what_was_measured(tmp_path: Path) -> None:
    """QEMU is killed while the first strategy streams: that run is an error naming
    the death, with its before-accuracy kept; the next run restarts QEMU and passes."""
    runs = PASSING_RUN.replace("last_layer", "doomed", 1) + PASSING_RUN
    plan_path = small_plan(tmp_path, runs)
    killed = threading.Event()

    class Killer(Recorder):
        def stream(self, device: str, strategy: str, done: int, total: int) -> None:
            if strategy == "doomed" and not killed.is_set():
                killed.set()
                for pid in _qemu_children():
                    os.kill(pid, signal.SIGKILL)

    outcome = run_plan(load_plan(plan_path), plan_path, devices("qemu-an386"), tmp_path / "r", Killer())
    assert killed.is_set()
    doomed, fine = outcome.summaries
    assert doomed.status == "error" and fine.status == "passed"
    assert "\n" not in doomed.error
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["status"] == "error"
    first = data["runs"][0]
    assert first["status"] == "error" and first["error"] == doomed.error
    assert first["error"].startswith("qemu-system-arm") and "SIGKILL" in first["error"], first["error"]
    assert 0 < first["metrics"]["accuracy_before"] <= 1  # measured before the death, kept
    junit = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    errors = [c for c in junit.iter("testcase") if c.find("error") is not None]
    # a broken run keeps its expectation names (stable across nights), each an error
    assert [(c.get("classname"), c.get("name")) for c in errors] == [
        ("small.qemu-an386.doomed", m) for m in ("accuracy", "samples_trained", "labels_used")]
    assert {c.find("error").get("message") for c in errors} == {doomed.error}


def test_busy_device_is_an_error_not_a_wait(tmp_path: Path) -> None:
    plan_path = small_plan(tmp_path, PASSING_RUN)
    with DeviceLock("native"):
        outcome = run_plan(load_plan(plan_path), plan_path, devices("native"), tmp_path / "r")
    assert outcome.status == "error"
    (summary,) = outcome.summaries
    assert summary.error.startswith(f"device native is in use by pid {os.getpid()}")
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["errors"][0]["where"] == "native"


def test_parallel_devices_and_one_lock_each(tmp_path: Path) -> None:
    """Two devices run at once; each holds its own lock while it runs."""
    plan_path = small_plan(tmp_path, PASSING_RUN)
    seen_locked: list[str] = []

    class Probe(Recorder):
        def stream(self, device: str, strategy: str, done: int, total: int) -> None:
            other = "native" if device == "qemu-an386" else "qemu-an386"
            lock = DeviceLock(device)
            try:
                lock.acquire()
            except Exception:  # noqa: BLE001 - busy is what we want to see
                seen_locked.append(device)
            else:
                lock.release()
            del other

    inv = load_inventory()
    outcome = run_plan(load_plan(plan_path), plan_path, [inv.get("qemu-an386"), inv.get("native")],
                       tmp_path / "r", Probe())
    assert outcome.status == "passed"
    assert {s.device for s in outcome.summaries} == {"qemu-an386", "native"}
    assert set(seen_locked) == {"qemu-an386", "native"}


def test_board_through_fake_pyocd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A board entry runs the whole path: pyOCD (faked) flashes the mps2 image, the
    serial port is found by the probe's USB serial number, and the firmware on the
    other end (the host build on a pty: no board exists here) is checked, trained and
    measured. An image whose build id differs from the firmware's is refused."""
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    from hil_service.backends.native import start_native
    from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix

    from ..backends.fake_pyocd import FakeBoard, FakeProbe

    uid = "0240000034544e45001c00088e2c0000e7d1"
    board = FakeBoard([FakeProbe(uid)])
    board.install(monkeypatch)
    board_backend.connected_probes.cache_clear()
    monkeypatch.setattr(board_backend, "connected_probes", board_backend.connected_probes.__wrapped__)
    elf = build_firmware_mps2("an386")
    stale = tmp_path / "stale.elf"
    raw = bytearray(elf.read_bytes())
    build_id = inspect_image(elf).build_id
    assert build_id
    at = raw.find(build_id.encode() + b"\0")
    raw[at : at + len(build_id)] = b"0" * len(build_id)
    stale.write_bytes(bytes(raw))
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"""devices:
  - id: k64f-1
    backend: board
    board: nrf52840dk/nrf52840
    pyocd_target: nrf52840
    probe_uid: "{uid}"
    image: {elf}
  - id: k64f-stale
    backend: board
    board: nrf52840dk/nrf52840
    pyocd_target: nrf52840
    probe_uid: "{uid}"
    image: {stale}
""")
    with start_native(build_firmware_posix()) as firmware:
        port = ListPortInfo(firmware.serial_url, skip_link_detection=True)
        port.serial_number = uid
        monkeypatch.setattr(list_ports, "comports", lambda include_links=False: [port])
        inv = load_inventory(lab)
        from hil_service.plan import BackendKind, DeviceSelector
        from hil_service.selection import select_devices

        chosen = select_devices(inv, DeviceSelector(limit=1), BackendKind.AUTO)
        assert [d.id for d in chosen] == ["k64f-1"]  # auto prefers a connected board
        plan_path = small_plan(tmp_path, PASSING_RUN)
        outcome = run_plan(load_plan(plan_path), plan_path, chosen, tmp_path / "r")
        assert outcome.status == "passed", outcome.summaries
        names = board.names()
        assert names.index("program") < names.index("read_memory_block8") < names.index("reset")
        data = json.loads((tmp_path / "r" / "run.json").read_text())
        assert data["devices"]["k64f-1"]["latency"]["source"] == "cycle_counter"
        assert data["devices"]["k64f-1"]["image"]["sha256"] == hashlib.sha256(elf.read_bytes()).hexdigest()

        bad = run_plan(load_plan(plan_path), plan_path, [inv.get("k64f-stale")], tmp_path / "r2")
        assert bad.status == "error"
        assert "wrong or stale image" in bad.summaries[0].error
        assert build_id in bad.summaries[0].error


def test_instruction_counter_of_the_target_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A target that counts guest instructions (Renode's monitor) prices each streamed
    sample. Renode cannot run here: the host build stands in, with a counter at the
    monitor boundary that advances by a known amount per TRAIN frame."""
    from hil_service.backends.native import NativeBackend
    from hil_service.device import Device

    real_start = NativeBackend.start
    per_frame = 1000

    class Counting:
        def __init__(self, target) -> None:
            self._t, self.frames = target, 0
            self.serial_url = target.serial_url

        def executed_instructions(self) -> int:
            return self.frames * per_frame

        def __getattr__(self, name: str):
            return getattr(self._t, name)

    counting: list[Counting] = []

    def start(self, entry, image, progress=None):
        counting.append(Counting(real_start(self, entry, image, progress)))
        return counting[0]

    real_train = Device.train

    def train(self, x, y, **kw):
        counting[0].frames += -(-len(x) // (kw.get("batch_size") or 16))
        return real_train(self, x, y, **kw)

    monkeypatch.setattr(NativeBackend, "start", start)
    monkeypatch.setattr(Device, "train", train)
    plan_path = small_plan(tmp_path, PASSING_RUN)
    outcome = run_plan(load_plan(plan_path), plan_path, devices("native"), tmp_path / "r")
    assert outcome.status == "passed"
    assert outcome.summaries[0].metrics["stream_instructions_per_sample"] == 4 * per_frame / 64
