"""The C unit tests of the core, built with AddressSanitizer and UBSan."""

from __future__ import annotations

import re
import subprocess

from hil_service.firmware_build import FIRMWARE_DIR, build_dir


def test_core_unit_tests_pass_under_sanitizers():
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir()}", "host-test"],
        capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    m = re.search(r"(\d+) passed, (\d+) failed", out)
    assert m, out[-2000:]
    passed, failed = int(m.group(1)), int(m.group(2))
    assert failed == 0 and passed > 500, out[-2000:]
    assert "runtime error" not in out and "AddressSanitizer" not in out
