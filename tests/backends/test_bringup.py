"""BringUp: one object takes a device from off to ready, reuses it, restarts it, says why it died.

Real firmware on real targets: the protocol firmware's host build on a pty,
and its bare-metal build in QEMU mps2-an386.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hil_service.backends import LiveTarget
from hil_service.backends.native import NativeBackend, NativeEntry
from hil_service.backends.process import ProcessTarget
from hil_service.backends.qemu import QemuEntry
from hil_service.bringup import BringUp, StaleImage
from hil_service.errors import TargetError
from hil_service.image import inspect_image
from hil_service.link import LinkError

NATIVE = NativeEntry(id="host-1", backend="native", board="native_sim")
AN386 = QemuEntry(id="an386-1", backend="qemu", board="mps2/an386", machine="mps2-an386")


def _pid(target: LiveTarget) -> int:
    assert isinstance(target, ProcessTarget)
    return target.pid


def test_native_up_reuse_restart_close() -> None:
    events: list[str] = []
    bring = BringUp(NATIVE, events=events.append)
    with bring:
        assert bring.lock_key == "host-1"
        live = bring.up()
        assert live.target.alive() and live.entry is NATIVE
        assert live.hello.git_hash == live.image.build_id and live.image.build_id
        assert live.clock.source == "host_clock"
        assert events == [f"starting native with {live.image.path.name}"]
        first_pid, first_hello = _pid(live.target), live.hello

        again = bring.up()  # the same target, a new protocol session
        assert again is live and _pid(again.target) == first_pid
        assert again.hello is not first_hello
        assert (again.hello.device_id, again.hello.git_hash) == (first_hello.device_id,
                                                                 first_hello.git_hash)
        assert len(events) == 1

        fresh = bring.restart()
        assert _pid(fresh.target) != first_pid
        assert not live.target.alive()  # the old one was closed
        assert fresh.hello.git_hash == live.image.build_id
    assert not fresh.target.alive()
    bring.close()  # safe twice


def test_up_starts_again_after_the_target_died() -> None:
    with BringUp(NATIVE) as bring:
        live = bring.up()
        os.kill(_pid(live.target), signal.SIGKILL)
        live.target.wait_exit(5)
        again = bring.up()
        assert again is not live and again.target.alive()
        assert again.device.hello().git_hash == again.image.build_id


class _OtherBuild(NativeBackend):
    """Starts another program than the image BringUp inspected: a board with stale firmware."""

    def __init__(self, program: Path) -> None:
        self.program = program

    def start(self, entry: object, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        return super().start(NATIVE, self.program, progress)


def _patched_copy(image: Path, build_id: str, out: Path) -> Path:
    """A copy of the firmware whose build id string has its last character changed."""
    old = build_id.encode()
    new = old[:-1] + (b"x" if old[-1:] != b"x" else b"y")
    data = image.read_bytes()
    assert old in data
    out.write_bytes(data.replace(old, new))
    shutil.copymode(image, out)
    return out


def test_stale_build_id_is_refused(tmp_path: Path) -> None:
    image = NativeBackend().firmware_image(NATIVE)
    info = inspect_image(image)
    assert info.build_id
    other = _patched_copy(image, info.build_id, tmp_path / "odl_fw_old")
    bring = BringUp(NATIVE, image, backend=_OtherBuild(other))
    with pytest.raises(StaleImage) as err:
        bring.up()
    assert isinstance(err.value, TargetError)
    message = str(err.value)
    assert message.startswith(f"device host-1 runs firmware '{info.build_id[:-1]}")
    assert f"but image {info.path} is {info.build_id!r}: wrong or stale image" in message
    assert bring.live is None  # nothing left running
    assert bring.diagnose(err.value) == message


def test_qemu_an386_up_and_a_sigkilled_qemu_is_named() -> None:
    with BringUp(AN386) as bring:
        assert bring.lock_key == "an386-1"
        live = bring.up()
        assert live.clock.source == "icount" and live.clock.instructions_per_cycle == 40 / 64
        assert live.hello.cycles_hz == 25_000_000 and live.hello.git_hash == live.image.build_id
        assert bring.up() is live  # reused, with a fresh HELLO

        # a live target: the diagnosis is the error itself
        assert bring.diagnose(LinkError("HELLO: no reply")) == "HELLO: no reply"

        os.kill(_pid(live.target), signal.SIGKILL)
        # the link sees the death as a timeout or a reset connection (pyserial's OSError)
        with pytest.raises((LinkError, OSError)) as err:
            live.device.hello()
        line = bring.diagnose(err.value)
        assert line.startswith("qemu-system-arm died with exit code -9 (SIGKILL)"), line
        assert line.endswith(f"{str(err.value).splitlines()[0]})")
        assert "\n" not in line

        again = bring.up()  # the dead target is replaced
        assert again.target.alive() and again is not live


def test_diagnose_a_target_that_dies_while_coming_up(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    crash.write_text("#!/bin/sh\necho 'boot: out of cheese' >&2\nkill -SEGV $$\n")
    crash.chmod(0o755)
    bring = BringUp(NATIVE, NativeBackend().firmware_image(NATIVE), backend=_OtherBuild(crash))
    with pytest.raises(TargetError) as err:
        bring.up()
    line = bring.diagnose(err.value)
    assert "SIGSEGV" in line and "out of cheese" in line and "\n" not in line


def test_stripped_image_warns_that_its_build_id_cannot_be_checked(tmp_path: Path) -> None:
    image = NativeBackend().firmware_image(NATIVE)
    stripped = tmp_path / "odl_fw_stripped"
    subprocess.run(["strip", "-o", str(stripped), str(image)], check=True)
    events: list[str] = []
    assert BringUp(NATIVE, stripped, events=events.append).image.build_id is None
    assert events == [f"warning: {stripped} has no build id (symbol odl_fw_git_hash; stripped?): "
                      f"cannot check that host-1 runs this image"]
    events.clear()
    assert BringUp(NATIVE, image, events=events.append).image.build_id
    assert events == []
