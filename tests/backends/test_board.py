"""The physical-board backend, with pyOCD faked only at ConnectHelper and FileProgrammer.

The image is the real mps2 protocol firmware ELF, pyOCD's exceptions and
pyserial are real, and port discovery is faked only at
serial.tools.list_ports.comports(). In the end-to-end test the "board's"
serial side is the real POSIX firmware on its pty, so the host really
talks to firmware on the port start_board() found.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from elftools.elf.elffile import ELFFile
from pyocd.core import exceptions as pyocd_exc
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from hil_service.backends import BackendError, LiveTarget
from hil_service.backends import board as board_backend
from hil_service.backends.board import (
    BoardSpec,
    BoardTarget,
    check_port_free,
    find_serial_port,
    flash_image,
    reset_board,
    start_board,
)
from hil_service.backends.native import start_native
from hil_service.device import Device
from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix

from .fake_pyocd import FakeBoard, FakeProbe

UID = "0240000032044e4500257009997b00386781000097969900"
OTHER_UID = "066DFF535155878281142236"


@pytest.fixture(scope="session")
def fw_elf() -> Path:
    return build_firmware_mps2("an386")


@pytest.fixture(scope="session")
def fw_posix() -> Path:
    return build_firmware_posix()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBoard:
    board = FakeBoard([FakeProbe(UID), FakeProbe(OTHER_UID, "STM32 STLink")])
    board.install(monkeypatch)
    return board


@pytest.fixture
def native(fw_posix: Path) -> Iterator[LiveTarget]:
    with start_native(fw_posix) as target:
        yield target


def spec(**overrides: object) -> BoardSpec:
    fields: dict = dict(name="nrf-01", probe_uid=UID, target_type="nrf52840")
    fields.update(overrides)
    return BoardSpec(**fields)


def load_segments(elf: Path) -> list[tuple[int, bytes]]:
    with elf.open("rb") as f:
        return [
            (s["p_paddr"], s.data())
            for s in ELFFile(f).iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_filesz"]
        ]


def port_info(device: str, serial_number: str | None, location: str | None = None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = 0x0D28, 0x0204
    info.serial_number = serial_number
    info.location = location
    info.manufacturer, info.product, info.interface = "ARM", "DAPLink CMSIS-DAP", "mbed Serial Port"
    info.apply_usb_info()
    return info


def fake_ports(monkeypatch: pytest.MonkeyPatch, *ports: ListPortInfo) -> None:
    monkeypatch.setattr(list_ports, "comports", lambda include_links=False: list(ports))


# -- flashing ---------------------------------------------------------------------------


def test_flash_calls_pyocd_exactly_and_verifies_each_segment(fake: FakeBoard, fw_elf: Path) -> None:
    segments = load_segments(fw_elf)
    # .data is loaded behind .text in flash (p_paddr), not at its RAM address (p_vaddr)
    assert len(segments) >= 2 and all(addr < 0x2000_0000 for addr, _ in segments)
    fractions: list[float] = []

    report = flash_image(spec(frequency_hz=4_000_000), fw_elf, progress=fractions.append)

    assert fake.calls[0] == (
        "session_with_chosen_probe",
        (),
        dict(
            unique_id=UID,
            target_override="nrf52840",
            blocking=False,
            auto_open=True,
            options={"hide_programming_progress": True, "frequency": 4_000_000},
        ),
    )
    assert fake.calls[1:3] == [("open",), ("FileProgrammer", (), {"progress": fractions.append})]
    assert fake.calls[3] == ("program", (str(fw_elf.resolve()),), {"file_format": "elf"})
    reads = [("read_memory_block8", addr, len(data)) for addr, data in segments]
    assert fake.calls[4:] == [*reads, ("reset", (), {}), ("close",)]

    for addr, data in segments:
        assert fake.memory[addr : addr + len(data)] == data
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)

    assert report.probe_uid == UID and report.target_type == "nrf52840"
    assert report.image == fw_elf.resolve()
    assert report.sha256 == hashlib.sha256(fw_elf.read_bytes()).hexdigest()
    assert report.bytes_programmed == sum(len(d) for _, d in segments)
    assert report.segments == tuple((a, len(d)) for a, d in segments)
    assert report.verified is True
    assert 0 <= report.seconds < 10
    assert f"image sha256 {report.sha256}" in report.summary_lines()


def test_default_frequency_is_left_to_pyocd(fake: FakeBoard, fw_elf: Path) -> None:
    flash_image(spec(), fw_elf)
    assert fake.calls[0][2]["options"] == {"hide_programming_progress": True}
    assert fake.calls[2] == ("FileProgrammer", (), {"progress": None})


def test_verify_mismatch_names_image_and_first_differing_address(
    fake: FakeBoard, fw_elf: Path
) -> None:
    data_addr, data = load_segments(fw_elf)[1]
    fake.corrupt_at = data_addr + 3
    with pytest.raises(BackendError) as err:
        flash_image(spec(), fw_elf)
    message = str(err.value)
    assert str(fw_elf.resolve()) in message and UID in message
    assert f"byte at 0x{data_addr + 3:08x} reads 0x{data[3] ^ 0x5A:02x}" in message
    assert f"the image has 0x{data[3]:02x}" in message
    assert "reset" not in fake.names()  # a wrong image is not started
    assert fake.names()[-1] == "close"


def test_no_verify_reads_nothing_back(fake: FakeBoard, fw_elf: Path) -> None:
    fake.corrupt_at = 0
    report = flash_image(spec(), fw_elf, verify=False)
    assert report.verified is False
    assert "read_memory_block8" not in fake.names()
    assert fake.names()[-2:] == ["reset", "close"]
    assert "not verified" in report.summary_lines()[0]


def test_probe_not_found_lists_connected_probes(fake: FakeBoard, fw_elf: Path) -> None:
    with pytest.raises(BackendError) as err:
        flash_image(spec(probe_uid="E6614103E7"), fw_elf)
    assert str(err.value) == (
        "probe E6614103E7 not found (connected probes: "
        f"{UID} (ARM DAPLink CMSIS-DAP), {OTHER_UID} (STM32 STLink))"
    )
    assert ("get_all_connected_probes", (), {"blocking": False}) in fake.calls
    assert "open" not in fake.names()

    fake.probes.clear()
    with pytest.raises(BackendError, match=r"not found \(connected probes: none\)$"):
        reset_board(spec())


def test_partial_uid_does_not_flash_another_board(fake: FakeBoard, fw_elf: Path) -> None:
    """pyOCD matches a substring; a session on a probe with a longer id is refused unopened."""
    with pytest.raises(BackendError) as err:
        flash_image(spec(probe_uid="32044e45002570"), fw_elf)
    assert f"pyOCD's substring match chose probe {UID}" in str(err.value)
    assert "open" not in fake.names()

    fake.probes.append(FakeProbe(UID.replace("0386", "0387"), "ARM DAPLink CMSIS-DAP"))
    with pytest.raises(BackendError, match="ambiguous"):
        flash_image(spec(probe_uid="32044e45002570"), fw_elf)


def test_uid_case_and_probe_type_prefix(fake: FakeBoard, fw_elf: Path) -> None:
    flash_image(spec(probe_uid="cmsisdap:" + UID.upper()), fw_elf)
    assert fake.names()[-2:] == ["reset", "close"]


@pytest.mark.parametrize(
    "error",
    [
        pyocd_exc.FlashProgramFailure("flash algo returned error", address=0x1000, result_code=1),
        pyocd_exc.TransferFaultError("SWD ack FAULT\nretry", fault_address=0x3598, length=4),
        pyocd_exc.ProbeDisconnected("the probe was disconnected"),
        pyocd_exc.ProbeError("no ack from target"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pyocd_errors_become_one_line_naming_probe_and_image(
    fake: FakeBoard, fw_elf: Path, error: Exception
) -> None:
    fake.program_error = error
    with pytest.raises(BackendError) as err:
        flash_image(spec(), fw_elf)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        f"flashing {fw_elf.resolve()} onto board nrf-01 (nrf52840) via probe {UID} failed: "
        f"{type(error).__name__}: "
    )
    assert err.value.__cause__ is error
    assert fake.names()[-1] == "close" and "reset" not in fake.names()


def test_unknown_target_type_fails_at_open(fake: FakeBoard, fw_elf: Path) -> None:
    expected = r"\(nrf99\) via probe .* TargetSupportError: Target type 'nrf99'"
    with pytest.raises(BackendError, match=expected):
        flash_image(spec(target_type="nrf99"), fw_elf)


def test_missing_or_non_elf_image_touches_no_probe(fake: FakeBoard, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        flash_image(spec(), tmp_path / "nothing.elf")
    bogus = tmp_path / "fw.elf"
    bogus.write_bytes(b"\x7fELF not really")
    with pytest.raises(BackendError, match=f"{re.escape(str(bogus))} is not an ELF file"):
        flash_image(spec(), bogus)
    assert fake.calls == []


def test_reset_board(fake: FakeBoard) -> None:
    reset_board(spec(target_type="stm32f407vg", probe_uid=OTHER_UID))
    assert fake.calls[0][2]["unique_id"] == OTHER_UID
    assert fake.calls[0][2]["target_override"] == "stm32f407vg"
    assert fake.names() == ["session_with_chosen_probe", "open", "reset", "close"]

    fake.open_error = pyocd_exc.ProbeError("unable to open probe")
    expected = f"resetting board nrf-01 .* via probe {UID} failed: ProbeError"
    with pytest.raises(BackendError, match=expected):
        reset_board(spec())


# -- finding the probe's serial port ---------------------------------------------------------


def test_port_found_by_serial_number_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ports(
        monkeypatch,
        port_info("/dev/ttyS0", None),
        port_info("/dev/ttyACM1", OTHER_UID),
        port_info("/dev/ttyACM0", UID.upper()),
    )
    assert find_serial_port(UID) == "/dev/ttyACM0"
    assert find_serial_port("stlink:" + OTHER_UID.lower()) == "/dev/ttyACM1"


def test_port_found_by_prefix_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ports(monkeypatch, port_info("/dev/ttyACM0", UID[:20]), port_info("/dev/ttyACM1", "0001"))
    assert find_serial_port(UID) == "/dev/ttyACM0"  # the port reports a prefix of the probe id
    fake_ports(monkeypatch, port_info("/dev/ttyACM2", UID + "01"))
    assert find_serial_port(UID) == "/dev/ttyACM2"  # the probe id is a prefix of the port's
    # J-Link: pyOCD says 600123456, the USB descriptor 000600123456
    fake_ports(monkeypatch, port_info("/dev/ttyACM3", "000600123456"))
    assert find_serial_port("600123456") == "/dev/ttyACM3"


def test_exact_match_wins_over_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ports(monkeypatch, port_info("/dev/ttyACM0", UID + "77"), port_info("/dev/ttyACM1", UID))
    assert find_serial_port(UID) == "/dev/ttyACM1"


def test_no_port_lists_ports_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ports(
        monkeypatch,
        port_info("/dev/ttyUSB0", "0001", "1-2"),  # too short to count as a prefix
        port_info("/dev/ttyACM0", OTHER_UID, "1-1.4:1.1"),
    )
    with pytest.raises(BackendError) as err:
        find_serial_port("00010203040506")
    assert str(err.value) == (
        "no serial port belongs to probe 00010203040506; ports seen: "
        "/dev/ttyUSB0 (serial 0001, location 1-2), "
        f"/dev/ttyACM0 (serial {OTHER_UID}, location 1-1.4:1.1)"
    )
    fake_ports(monkeypatch)
    with pytest.raises(BackendError, match="ports seen: none$"):
        find_serial_port(UID)


def test_several_ports_of_one_device_pick_the_lowest_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A J-Link OB with two virtual COM ports: VCOM0 (interface 0) is the console."""
    fake_ports(
        monkeypatch,
        port_info("/dev/ttyACM1", "000683412345", "3-2:1.2"),
        port_info("/dev/ttyACM0", "000683412345", "3-2:1.0"),
    )
    assert find_serial_port("683412345") == "/dev/ttyACM0"


def test_several_ports_that_cannot_be_told_apart_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ports(
        monkeypatch,
        port_info("/dev/ttyACM0", UID, "1-1:1.1"),
        port_info("/dev/ttyACM1", UID, "1-2:1.1"),  # another USB device with the same serial
    )
    with pytest.raises(BackendError) as err:
        find_serial_port(UID)
    message = str(err.value)
    assert message.startswith(f"several serial ports belong to probe {UID}: /dev/ttyACM0 ")
    assert "/dev/ttyACM1" in message
    assert message.endswith("set serial_port in the board's inventory entry")
    fake_ports(monkeypatch, port_info("/dev/cu.a", UID), port_info("/dev/cu.b", UID))  # no location
    with pytest.raises(BackendError, match="several serial ports"):
        find_serial_port(UID)


# -- a board whose serial side is real: the POSIX firmware on its pty ------------------------------


def test_start_board_flashes_finds_the_port_and_talks_to_firmware(
    fake: FakeBoard, fw_elf: Path, native: LiveTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    pty = native.serial_url
    fake_ports(
        monkeypatch,
        port_info("/dev/ttyACM7", OTHER_UID, "1-3:1.1"),
        port_info(pty, UID, "1-1.4:1.1"),
    )
    with start_board(spec(), fw_elf) as target:
        assert isinstance(target, LiveTarget) and isinstance(target, BoardTarget)
        assert target.serial_url == pty and target.baudrate == 115200
        assert fake.names()[-2:] == ["reset", "close"]  # flashed, verified, running
        assert target.report.verified

        with Device.open(target.serial_url, baudrate=target.baudrate) as device:
            info = device.hello()
            assert info.max_body > 0
        assert target.alive() and target.exit_code() is None
        target.ensure_alive()
        tail = target.log_tail()
        assert f"image sha256 {target.report.sha256}" in tail
        assert tail.endswith(f"serial port {pty} at 115200 baud")
        assert target.log_tail(1) == f"serial port {pty} at 115200 baud"
        with pytest.raises(BackendError, match="does not exit"):
            target.wait_exit(0.1)

        native.close()  # the "probe" is unplugged: its port goes away
        deadline = time.monotonic() + 5
        while os.path.exists(pty) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not target.alive()
        with pytest.raises(BackendError) as err:
            target.ensure_alive()
        assert str(err.value).startswith(
            f"board nrf-01: serial port {pty} disappeared (probe unplugged?)"
        )
        assert "flashed" in str(err.value)
    target.close()  # twice is fine
    assert "reset" == fake.names()[-2]  # close() did not reset the board again


def test_configured_serial_port_skips_discovery(
    fake: FakeBoard, fw_elf: Path, native: LiveTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_discovery(include_links: bool = False) -> list[ListPortInfo]:
        raise AssertionError("comports() called although serial_port is configured")

    monkeypatch.setattr(list_ports, "comports", no_discovery)
    with start_board(spec(serial_port=native.serial_url, baud=57600), fw_elf) as target:
        assert target.serial_url == native.serial_url and target.baudrate == 57600
        with Device.open(target.serial_url, baudrate=target.baudrate) as device:
            device.hello()


def test_busy_port_is_refused_before_flashing(
    fake: FakeBoard, fw_elf: Path, native: LiveTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ports(monkeypatch, port_info(native.serial_url, UID))
    holder = serial.Serial(native.serial_url, exclusive=True)
    try:
        with pytest.raises(BackendError) as err:
            start_board(spec(), fw_elf)
        message = str(err.value)
        assert message.startswith(
            f"serial port {native.serial_url} is busy (held by another process"
        ), message
        assert f"pid {os.getpid()}" in message  # this test holds it
        assert fake.calls == []  # the board in use was not flashed
    finally:
        holder.close()
    check_port_free(native.serial_url)  # free again
    start_board(spec(), fw_elf).close()


def test_missing_configured_port(fake: FakeBoard, fw_elf: Path, tmp_path: Path) -> None:
    expected = f"board nrf-01: serial port {tmp_path}/ttyX does not exist"
    with pytest.raises(BackendError, match=expected):
        start_board(spec(serial_port=str(tmp_path / "ttyX")), fw_elf)
    assert fake.calls == []


def test_port_discovery_failure_touches_no_probe(
    fake: FakeBoard, fw_elf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ports(monkeypatch)
    with pytest.raises(BackendError, match=f"no serial port belongs to probe {UID}"):
        start_board(spec(), fw_elf)
    assert fake.calls == []


def test_spec_is_frozen_and_keyword_only() -> None:
    s = spec()
    assert (s.serial_port, s.baud, s.frequency_hz) == (None, 115200, None)
    with pytest.raises(AttributeError):
        s.baud = 9600  # type: ignore[misc]
    with pytest.raises(TypeError):
        BoardSpec("nrf-01", UID, "nrf52840")  # type: ignore[misc]


def test_module_does_not_import_pyocd_at_import_time() -> None:
    """pyOCD is imported where it is used, so hil_service.backends.board loads without it."""
    assert "ConnectHelper" not in vars(board_backend)
    assert "FileProgrammer" not in vars(board_backend)


def test_hil_flash_brings_a_board_up_through_bringup(
    fake: FakeBoard, fw_elf: Path, native: LiveTarget, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`hil flash` locks the probe, flashes (pyOCD faked), then HELLO and the build-id check;
    --no-verify only flashes (the Flasher capability), reading nothing back."""
    from hil_service.cli import main

    lab = tmp_path / "lab.yaml"
    lab.write_text(f"devices:\n  - id: nrf-01\n    backend: board\n    board: nrf52840dk/nrf52840\n"
                   f"    pyocd_target: nrf52840\n    probe_uid: \"{UID}\"\n"
                   f"    serial: {native.serial_url}\n    image: {fw_elf}\n")
    assert main(["flash", "nrf-01", "--inventory", str(lab)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"nrf-01: flashed {fw_elf} onto nrf52840 via probe {UID}: ")
    assert "verified by read-back" in lines[0]
    assert lines[-1].startswith(f"nrf-01: {fw_elf.name} boots on board: firmware ")
    assert "nrf-01: flashing odl_fw.elf with pyOCD" in err
    assert "read_memory_block8" in fake.names()

    fake.calls.clear()
    assert main(["flash", "nrf-01", "--inventory", str(lab), "--no-verify"]) == 0
    out, _ = capsys.readouterr()
    assert "not verified" in out.splitlines()[0] and "boots on" not in out
    assert "read_memory_block8" not in fake.names() and "program" in fake.names()
