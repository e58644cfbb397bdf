"""Inventory files, Twister hardware maps, availability and device selection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hil_service.backends.qemu import QemuEntry
from hil_service.backends.registry import Availability, availability, backend_for
from hil_service.cli import main
from hil_service.errors import ConfigError
from hil_service.inventory import (
    DEFAULT_INVENTORY,
    DeviceEntry,
    InvalidEntry,
    InventoryError,
    load_inventory,
)
from hil_service.plan import BackendKind, DeviceSelector
from hil_service.selection import SelectionError, select_devices

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

LAB = """\
devices:
  - id: qemu-a
    backend: qemu
    board: mps2/an386
    machine: mps2-an386
    tags: [emulator, fpu]
  - id: qemu-b
    backend: qemu
    board: mps2/an385
    machine: mps2-an385
    tags: [emulator]
  - id: host
    backend: native
    board: native_sim
  - id: nrf
    backend: board
    board: nrf52840dk/nrf52840
    pyocd_target: nrf52840
    probe_uid: "0006832"
    image: fw/zephyr.elf
"""


def lab(tmp_path: Path, text: str = LAB) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def test_shipped_lab_and_twister_map() -> None:
    inv = load_inventory(DEFAULT_INVENTORY)
    ids = [d.id for d in inv]
    assert ids[:4] == ["qemu-an386", "qemu-an385", "qemu-an500", "native"]
    kinds = {d.backend for d in inv}
    assert kinds == {"qemu", "native", "renode", "board"}
    board = inv.get("nrf52840dk-1")
    assert board.pyocd_target == "nrf52840" and board.probe_uid == "000683290670"
    assert board.image is not None and Path(board.image).is_absolute()
    twister = load_inventory(FIXTURES / "twister-map.yaml")
    by_id = {d.id: d for d in twister}
    nrf = by_id["000683290671"]  # leading zeros survive: ids are strings
    assert (nrf.backend, nrf.board, nrf.pyocd_target, nrf.serial) == (
        "board", "nrf52840dk/nrf52840", "nrf52840", "/dev/ttyACM1")
    assert "gpio_loopback" in nrf.tags and nrf.connected
    assert by_id["0240000034544e45001c00088e2c0000e7d1000097969900"].connected is False
    assert by_id["066CFF555071494867192448"].pyocd_target == "stm32f429zi"  # from runner_params


def test_lab_can_include_a_twister_map(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text((FIXTURES / "twister-map.yaml").read_text())
    inv = load_inventory(lab(tmp_path, LAB + "hardware_maps: [map.yaml]\n"))
    assert len(inv) == 7 and inv.get("000683290671").backend == "board"


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("backend: qemu\n    board: mps2/an386", "backend: qem\n    board: mps2/an386", 3,
     "devices[0].backend: no backend 'qem' is registered (known: board, renode, qemu, native)"),
    ("machine: mps2-an386", "machine: virt", 5, "devices[0].machine: qemu machine 'virt' is not one of"),
    ('    probe_uid: "0006832"\n', "", 15, "devices[3].probe_uid: required field is missing"),
    ("tags: [emulator]", "colour: red", 11, "devices[1].colour: unknown field"),
])
def test_bad_entry_is_kept_invalid_and_does_not_block_the_others(
        tmp_path: Path, old: str, new: str, line: int, words: str) -> None:
    assert old in LAB
    path = lab(tmp_path, LAB.replace(old, new, 1))
    inv = load_inventory(path)
    assert [d.id for d in inv] == ["qemu-a", "qemu-b", "host", "nrf"]
    (bad,) = inv.invalid()
    assert isinstance(bad, InvalidEntry)
    assert bad.problem.startswith(f"{path}:{line}: "), bad.problem
    assert words in bad.problem
    state = availability(bad)
    assert not state.ok and state.reason == f"invalid entry: {bad.problem}"
    # selected explicitly, it names its problem; auto passes it by
    with pytest.raises(SelectionError, match=f"device {bad.id} is not available: invalid entry: "):
        select_devices(inv, DeviceSelector(), dut=bad.id)
    with pytest.raises(ConfigError, match="is not usable"):
        backend_for(bad)
    good = [d for d in inv if d is not bad]
    assert all(not isinstance(d, InvalidEntry) for d in good)


def test_hil_list_shows_an_invalid_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = lab(tmp_path, LAB.replace("machine: mps2-an386", "machine: virt", 1))
    assert main(["list", "--inventory", str(path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("qemu-a "))
    assert "no: invalid entry: " in row and "qemu machine 'virt'" in row
    assert out.splitlines()[-1] == f"4 devices in {path}, 2 available, 1 invalid"


def test_an_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = lab(tmp_path, LAB + "  - just a string\n")
    inv = load_inventory(path)
    bad = inv.invalid()[0]
    assert bad.id == "lab.yaml:21" and "a device is a mapping" in bad.problem
    assert len(inv) == 5


def test_duplicate_ids_are_both_invalid_and_unknown_device(tmp_path: Path) -> None:
    inv = load_inventory(lab(tmp_path, LAB + LAB.split("devices:\n")[1]))
    assert len(inv) == 8 and len(inv.invalid()) == 8
    assert "device id 'qemu-a' appears 2 times" in inv.invalid()[0].problem
    inv = load_inventory(lab(tmp_path))
    with pytest.raises(InventoryError,
                       match=r"no device 'nope' in the inventory \(known: qemu-a, qemu-b, host, nrf\)"):
        inv.get("nope")


def test_twister_platform_without_pyocd_target(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("- id: X1\n  platform: exotic_board\n  serial: /dev/ttyACM0\n"
                    "- id: X2\n  platform: frdm_k64f\n")
    inv = load_inventory(path)
    (bad,) = inv.invalid()
    assert bad.id == "X1" and bad.problem.startswith(f"{path}:2: [0].platform: no pyOCD target known")
    assert inv.get("X2").backend == "board"


@pytest.mark.parametrize("runner", ["nrfjprog", "jlink", "openocd"])
def test_twister_runner_other_than_pyocd_is_refused(tmp_path: Path, runner: str) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(f"- id: '000683290671'\n  platform: nrf52840dk/nrf52840\n  product: J-Link\n"
                    f"  runner: {runner}\n- id: P1\n  platform: frdm_k64f\n  runner: pyocd\n"
                    f"- id: P2\n  platform: frdm_k64f\n")
    inv = load_inventory(path)
    (bad,) = inv.invalid()
    assert bad.id == "000683290671"
    assert bad.problem == (f"{path}:4: [0].runner: runner {runner!r} is not supported: boards are "
                           f"flashed with pyOCD here; set runner: pyocd if pyOCD drives this probe "
                           f"(J-Link)")
    with pytest.raises(SelectionError, match=f"runner {runner!r} is not supported"):
        select_devices(inv, DeviceSelector(), dut="000683290671")
    assert [d.backend for d in inv if d.id in ("P1", "P2")] == ["board", "board"]


def test_twister_numeric_probe_id_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("- id: 000260117001\n  platform: nrf52840dk/nrf52840\n")
    (bad,) = load_inventory(path).invalid()
    assert "is a number in YAML; quote it" in bad.problem


def test_qemu_lm3s6965evb_needs_an_image_and_has_its_own_clock(tmp_path: Path) -> None:
    text = ("devices:\n  - id: m3\n    backend: qemu\n    board: qemu_cortex_m3\n"
            "    machine: lm3s6965evb\n")
    (bad,) = load_inventory(lab(tmp_path, text)).invalid()
    assert "qemu machine lm3s6965evb needs image:" in bad.problem
    inv = load_inventory(lab(tmp_path, text + "    image: build/zephyr.elf\n"))
    entry = inv.get("m3")
    assert isinstance(entry, QemuEntry) and entry.machine == "lm3s6965evb"
    state = availability(entry)
    assert not state.ok and state.reason == f"image {tmp_path / 'build' / 'zephyr.elf'} not built"
    clock = backend_for(entry).latency_clock(entry)
    # QEMU's lm3s6965evb SysTick: 80 ns per tick, 64 ns per instruction at shift 6
    assert clock.source == "icount" and clock.instructions_per_cycle == 80 / 64
    assert "12.5 MHz" in clock.note
    an386 = load_inventory(DEFAULT_INVENTORY).get("qemu-an386")
    assert backend_for(an386).latency_clock(an386).instructions_per_cycle == 40 / 64


def fake_check(up: set[str]) -> Callable[[DeviceEntry], Availability]:
    return lambda d: Availability(d.id in up, "up" if d.id in up else "down for the test")


def test_selection(tmp_path: Path) -> None:
    inv = load_inventory(lab(tmp_path))
    everything = fake_check({"qemu-a", "qemu-b", "host", "nrf"})
    auto = DeviceSelector()
    assert [d.id for d in select_devices(inv, auto, check=everything)] == ["nrf"]  # boards first
    no_board = fake_check({"qemu-a", "qemu-b", "host"})
    assert [d.id for d in select_devices(inv, auto, check=no_board)] == ["qemu-a", "qemu-b"]
    assert [d.id for d in select_devices(inv, DeviceSelector(limit=1), check=no_board)] == ["qemu-a"]
    assert [d.id for d in select_devices(inv, auto, BackendKind("native"), check=no_board)] == ["host"]
    tagged = DeviceSelector(tags=("fpu",))
    assert [d.id for d in select_devices(inv, tagged, check=no_board)] == ["qemu-a"]
    assert [d.id for d in select_devices(inv, auto, dut="qemu-b", check=no_board)] == ["qemu-b"]
    only_host = fake_check({"host"})
    assert [d.id for d in select_devices(inv, auto, check=only_host)] == ["host"]


def test_selection_errors(tmp_path: Path) -> None:
    inv = load_inventory(lab(tmp_path))
    none_up = fake_check(set())
    with pytest.raises(SelectionError, match="device nrf is not available: down for the test"):
        select_devices(inv, DeviceSelector(), dut="nrf", check=none_up)
    with pytest.raises(SelectionError, match="no available board device matches the plan "
                                             r"\(nrf: down for the test\)"):
        select_devices(inv, DeviceSelector(), BackendKind("board"), check=none_up)
    with pytest.raises(SelectionError, match="plan names device.s. ghost not in inventory"):
        select_devices(inv, DeviceSelector(ids=("ghost",)), check=none_up)
    with pytest.raises(SelectionError, match="no device in .* matches tags gpu"):
        select_devices(inv, DeviceSelector(tags=("gpu",)), check=none_up)


def test_real_availability(tmp_path: Path) -> None:
    """Against this machine: QEMU and the compilers are installed (CI installs them),
    no probe is connected, and a missing Zephyr image is named."""
    inv = load_inventory(lab(tmp_path))
    assert availability(inv.get("qemu-a")).ok
    assert availability(inv.get("host")).ok
    state = availability(inv.get("nrf"))
    assert not state.ok and state.reason == "probe 0006832 not connected"
