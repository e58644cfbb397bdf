"""Build the firmware's host and bare-metal targets with make (firmware_zephyr/Makefile)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from hil_service.errors import TargetError
from hil_service.procs import owned_env

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware_zephyr"


class BuildError(TargetError):
    """A firmware build failed; the message carries make's output tail."""


def build_dir() -> Path:
    return Path(os.environ.get("HIL_BUILD_DIR", FIRMWARE_DIR / "build")).resolve()


@contextlib.contextmanager
def _exclusive_build() -> Iterator[None]:
    """One make at a time on the build tree, across threads and processes.

    Two runs that build the same image at once (a group's members, two test
    processes) would otherwise link one program while the other executes it
    (ETXTBSY) or take a half-written file as up to date. flock belongs to the
    open file description, so two threads exclude each other as processes do.
    """
    directory = build_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_make(args: list[str]) -> subprocess.CompletedProcess[str]:
    with _exclusive_build():
        # owned_env: if `hil` is killed mid-build, its watchdog stops make too
        return subprocess.run(args, capture_output=True, text=True, env=owned_env())


def make(target: str, **variables: str) -> None:
    """Run one make target; make itself decides whether anything is stale."""
    if not (FIRMWARE_DIR / "Makefile").is_file():
        raise BuildError(f"no firmware sources at {FIRMWARE_DIR} (is this a source checkout?)")
    args = ["make", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir()}", target]
    args += [f"{k}={v}" for k, v in variables.items()]
    proc = _run_make(args)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"make {target} failed in {FIRMWARE_DIR}:\n{tail}")


def host_core_library() -> Path:
    """Path of libodl.so, the core built for this host; built when stale."""
    make("host-lib")
    return build_dir() / "host" / "libodl.so"


def make_fragment(fragment: str, goal: str, **variables: str) -> None:
    """Run make on one of the build fragments in firmware_zephyr/mk/ (mps2.mk, posix.mk).

    The fragments put their objects in their own build folders (MPS2_BUILD,
    POSIX_BUILD), which the callers below place under build_dir().
    """
    if not (FIRMWARE_DIR / fragment).is_file():
        raise BuildError(f"no {fragment} in {FIRMWARE_DIR} (is this a source checkout?)")
    args = ["make", "-C", str(FIRMWARE_DIR), "-f", fragment, goal]
    args += [f"{k}={v}" for k, v in variables.items()]
    proc = _run_make(args)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"make -f {fragment} {goal} failed in {FIRMWARE_DIR}:\n{tail}")


def build_mps2(board: str, target: str = "echo") -> Path:
    """Path of <target>.elf for QEMU's mps2-<board> (an385, an386, an500); built when stale."""
    out = build_dir() / f"mps2_{board}"
    elf = out / f"{target}.elf"
    make_fragment("mk/mps2.mk", str(elf), BOARD=board, MPS2_BUILD=str(out))
    return elf


def build_posix(target: str = "echo", sanitize: bool = False) -> Path:
    """Path of the POSIX host program <target> (with ASan + UBSan if sanitize); built when stale."""
    out = build_dir() / ("posix_san" if sanitize else "posix")
    exe = out / target
    make_fragment("mk/posix.mk", str(exe), POSIX_BUILD=str(out), POSIX_SAN="1" if sanitize else "0")
    return exe


def build_firmware_mps2(board: str) -> Path:
    """The protocol firmware for QEMU's mps2-<board>; built when stale."""
    out = build_dir() / f"fw_mps2_{board}"
    make_fragment("mk/firmware.mk", "fw", PORT="mps2", BOARD=board, MPS2_BUILD=str(out))
    return out / "odl_fw.elf"


def build_firmware_posix(sanitize: bool = False) -> Path:
    """The protocol firmware as a host program on a pty (ASan + UBSan if sanitize)."""
    out = build_dir() / ("fw_posix_san" if sanitize else "fw_posix")
    make_fragment("mk/firmware.mk", "fw", PORT="posix", POSIX_BUILD=str(out),
                  POSIX_SAN="1" if sanitize else "0")
    return out / "odl_fw"
