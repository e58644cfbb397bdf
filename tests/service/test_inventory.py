"""Inventory files, Twister hardware maps, availability and device selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.duts import Availability, SelectionError, select_devices
from hil_service.inventory import DEFAULT_INVENTORY, InventoryError, load_inventory
from hil_service.plan import BackendKind, DeviceSelector

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
     "devices[0].backend: Input should be 'board', 'qemu', 'renode' or 'native'"),
    ("machine: mps2-an386", "machine: virt", 2, "qemu machine 'virt'"),
    ('    probe_uid: "0006832"\n', "", 15, "a board needs probe_uid"),
    ("tags: [emulator]", "colour: red", 11, "devices[1].colour: unknown field"),
])
def test_bad_inventory_names_line(tmp_path: Path, old: str, new: str, line: int, words: str) -> None:
    assert old in LAB
    path = lab(tmp_path, LAB.replace(old, new, 1))
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert words in str(err.value)


def test_duplicate_ids_and_unknown_device(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="'qemu-a' appears twice"):
        load_inventory(lab(tmp_path, LAB + LAB.split("devices:\n")[1]))
    inv = load_inventory(lab(tmp_path))
    with pytest.raises(InventoryError, match=r"no device 'nope' in the inventory \(known: qemu-a, qemu-b, host, nrf\)"):
        inv.get("nope")


def test_twister_platform_without_pyocd_target(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("- id: X1\n  platform: exotic_board\n  serial: /dev/ttyACM0\n")
    with pytest.raises(InventoryError, match=r"map.yaml:2: \[0\]\.platform: no pyOCD target known"):
        load_inventory(path)


def fake_check(up: set[str]):
    return lambda d: Availability(d.id in up, "up" if d.id in up else "down for the test")


def test_selection(tmp_path: Path) -> None:
    inv = load_inventory(lab(tmp_path))
    everything = fake_check({"qemu-a", "qemu-b", "host", "nrf"})
    auto = DeviceSelector()
    assert [d.id for d in select_devices(inv, auto, check=everything)] == ["nrf"]  # boards first
    no_board = fake_check({"qemu-a", "qemu-b", "host"})
    assert [d.id for d in select_devices(inv, auto, check=no_board)] == ["qemu-a", "qemu-b"]
    assert [d.id for d in select_devices(inv, DeviceSelector(limit=1), check=no_board)] == ["qemu-a"]
    assert [d.id for d in select_devices(inv, auto, BackendKind.NATIVE, check=no_board)] == ["host"]
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
        select_devices(inv, DeviceSelector(), BackendKind.BOARD, check=none_up)
    with pytest.raises(SelectionError, match="plan names device.s. ghost not in inventory"):
        select_devices(inv, DeviceSelector(ids=("ghost",)), check=none_up)
    with pytest.raises(SelectionError, match="no device in .* matches tags gpu"):
        select_devices(inv, DeviceSelector(tags=("gpu",)), check=none_up)


def test_real_availability(tmp_path: Path) -> None:
    """Against this machine: QEMU and the compilers are installed (CI installs them),
    no probe is connected, and a missing Zephyr image is named."""
    from hil_service.duts import availability

    inv = load_inventory(lab(tmp_path))
    assert availability(inv.get("qemu-a")).ok
    assert availability(inv.get("host")).ok
    state = availability(inv.get("nrf"))
    assert not state.ok and state.reason == "probe 0006832 not connected"
