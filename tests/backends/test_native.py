"""The native backend: the POSIX port's echo firmware on a pseudo-terminal."""

from __future__ import annotations

import gc
import os
import re
import select
import time
from pathlib import Path

import pytest

from hil_service.backends import BackendError, LiveTarget, open_serial
from hil_service.backends.native import start_native

from .helpers import BURST, gone, payload

BANNER = b"odl echo board=native_posix cycles_hz=1000000000 "


def _marker(target: LiveTarget) -> str:
    return str(target.workdir)  # type: ignore[attr-defined]  # in --pty-link's path


def test_banner_and_burst_echo(posix_echo: Path, record_property: pytest.RecordProperty) -> None:
    with start_native(posix_echo) as target:
        assert re.fullmatch(r"/dev/pts/\d+", target.serial_url)
        port = open_serial(target.serial_url, timeout=5)
        banner = port.readline()
        assert banner.startswith(BANNER), banner
        stack = int(re.search(rb"stack=(\d+)", banner).group(1))  # type: ignore[union-attr]
        assert 200_000 < stack <= 256 * 1024

        data = payload(BURST)
        start = time.perf_counter()
        port.write(data)
        echoed = port.read(BURST)
        elapsed = time.perf_counter() - start
        assert echoed == data
        record_property("pty_echo_bytes_per_second", round(BURST / elapsed))
        port.close()


def test_quit_reports_stack_and_float_loop(posix_echo: Path) -> None:
    with start_native(posix_echo) as target:
        port = open_serial(target.serial_url, timeout=5)
        banner = port.readline()
        stack = int(re.search(rb"stack=(\d+)", banner).group(1))  # type: ignore[union-attr]
        port.write(b"hello q")
        report = port.read_until(b"now=") + port.read_until(b"\r\n")
        assert report.startswith(b"hello "), report
        assert b"loop_result=0x40aa5165 overruns=0" in report  # bit-identical to the mps2 boards
        high_water = int(re.search(rb"high_water=(\d+)", report).group(1))  # type: ignore[union-attr]
        assert 0 < high_water < stack
        assert target.wait_exit(5) == 3
        port.close()


def test_hangup_and_reopen(posix_echo: Path) -> None:
    with start_native(posix_echo) as target:
        port = open_serial(target.serial_url, timeout=5)
        assert port.readline().startswith(BANNER)
        port.close()
        time.sleep(0.05)  # the firmware sees the hangup
        assert target.alive()
        for round_ in range(2):
            port = open_serial(target.serial_url, timeout=5)
            msg = f"ROUND {round_}".encode()
            port.write(msg)
            assert port.read(len(msg)) == msg
            port.close()
        target.ensure_alive()


def test_exit_on_hangup(posix_echo: Path) -> None:
    with start_native(posix_echo, ["--exit-on-hangup"]) as target:
        port = open_serial(target.serial_url, timeout=5)
        assert port.readline().startswith(BANNER)
        port.close()
        assert target.wait_exit(5) == 0


def test_reset_reexecs_on_the_same_pty(posix_echo: Path) -> None:
    with start_native(posix_echo) as target:
        port = open_serial(target.serial_url, timeout=5)
        first = port.readline()
        port.write(b"r")
        assert port.readline() == first  # same pid after exec, so the same id
        port.write(b"AFTER RESET")
        assert port.read(11) == b"AFTER RESET"
        target.ensure_alive()
        port.close()


def test_opener_that_does_not_flush_gets_the_banner(posix_echo: Path) -> None:
    """cat-like openers neither flush nor write: the banner comes after a short grace."""
    with start_native(posix_echo) as target:
        fd = os.open(target.serial_url, os.O_RDWR | os.O_NOCTTY)
        try:
            got = b""
            deadline = time.monotonic() + 5
            while b"\n" not in got and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.1)[0]:
                    got += os.read(fd, 256)
            assert got.startswith(BANNER), got
        finally:
            os.close(fd)


def test_close_and_gc_leave_no_process(posix_echo: Path) -> None:
    target = start_native(posix_echo)
    pid, marker = target.pid, _marker(target)  # type: ignore[attr-defined]
    assert not gone(pid, marker)
    target.close()
    assert gone(pid, marker)

    target = start_native(posix_echo)
    pid, marker = target.pid, _marker(target)  # type: ignore[attr-defined]
    del target
    gc.collect()
    assert gone(pid, marker, timeout=5)


def test_missing_program_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "echo"
    with pytest.raises(BackendError, match=re.escape(str(missing))):
        start_native(missing)


def test_program_dying_at_start_reports_exit_code_and_stderr(posix_echo: Path) -> None:
    with pytest.raises(BackendError) as err:
        start_native(posix_echo, ["--bogus"])
    message = str(err.value)
    assert message.startswith("echo died with exit code 2 before creating its pty"), message
    assert "unknown argument '--bogus'" in message


def test_sanitized_build(posix_echo_san: Path) -> None:
    with start_native(posix_echo_san) as target:
        port = open_serial(target.serial_url, timeout=5)
        assert port.readline().startswith(BANNER)
        data = payload(BURST, seed=2)
        port.write(data)
        assert port.read(BURST) == data
        port.write(b"r")
        assert port.readline().startswith(BANNER)
        port.write(b"q")
        report = port.read_until(b"now=") + port.read_until(b"\r\n")
        assert b"loop_result=0x40aa5165" in report
        assert target.wait_exit(10) == 3, target.log_tail()
        assert "Sanitizer" not in target.log_tail(200)
        port.close()
