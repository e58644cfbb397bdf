"""Build the firmware's host and bare-metal targets with make (firmware_zephyr/Makefile)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware_zephyr"


class BuildError(RuntimeError):
    """A firmware build failed; the message carries make's output tail."""


def build_dir() -> Path:
    return Path(os.environ.get("HIL_BUILD_DIR", FIRMWARE_DIR / "build")).resolve()


def make(target: str, **variables: str) -> None:
    """Run one make target; make itself decides whether anything is stale."""
    if not (FIRMWARE_DIR / "Makefile").is_file():
        raise BuildError(f"no firmware sources at {FIRMWARE_DIR} (is this a source checkout?)")
    args = ["make", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir()}", target]
    args += [f"{k}={v}" for k, v in variables.items()]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"make {target} failed in {FIRMWARE_DIR}:\n{tail}")


def host_core_library() -> Path:
    """Path of libodl.so, the core built for this host; built when stale."""
    make("host-lib")
    return build_dir() / "host" / "libodl.so"
