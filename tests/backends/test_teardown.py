"""A Python process that ends without closing its targets leaves no emulator behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .helpers import gone

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from hil_service.backends.native import start_native
    from hil_service.backends.qemu import start_qemu

    native = start_native(sys.argv[1])
    emulator = start_qemu(sys.argv[2])
    port = emulator.serial_url.rsplit(":", 1)[1]
    print(native.pid, native.workdir, emulator.pid, port, flush=True)
    {ending}
    """
)


ENDINGS = ["raise KeyboardInterrupt", "sys.exit(0)", "raise RuntimeError('test failed')"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_interpreter_exit_stops_targets(posix_echo: Path, mps2_echo_elf: Path, ending: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(ending=ending), str(posix_echo), str(mps2_echo_elf)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    fields = proc.stdout.split()
    assert len(fields) == 4, proc.stdout + proc.stderr
    native_pid, workdir, qemu_pid, port = fields
    assert gone(int(native_pid), workdir)
    assert gone(int(qemu_pid), f"tcp:127.0.0.1:{port}")
    assert not Path(workdir).exists()
