"""Limits the device enforces, checked before it boots (issue 9, items 5-7).

Every case fails at load time (or, for the arena, after device selection and
before boot) with `file:line: field: problem`.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from hil_service import cli, results
from hil_service.expectations import METRICS, RATIO, MetricInfo, Threshold, ThresholdError
from hil_service.firmware_build import build_firmware_mps2
from hil_service.image import inspect_image
from hil_service.inventory import DEFAULT_INVENTORY, load_inventory
from hil_service.native_core import NativeCore
from hil_service.plan import PlanError, load_plan
from hil_service.plan_limits import FIRMWARE_MAX_BODY, check_arena, check_devices, max_train_batch
from hil_service.protocol import DEFAULT_MAX_BODY, TrainReply, encode_batch
from hil_service.reference import Arch, Strategy, TrainParams
from hil_service.yaml_source import load_yaml

PLAN = """\
name: limits
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.25, seed: 1}
base_model: {hidden: [16], epochs: 1, seed: 7}
strategies:
  - name: full
    strategy: full
    params: {learning_rate: 0.05}
    stream: {batch_size: 31}
    expect: {accuracy: ">= 0.5"}
"""


def write(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in PLAN
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace(old, new, 1))
    return path


def refused(path: Path, line: int, field: str) -> str:
    """The one-line PlanError for path, which must name path:line and field."""
    with pytest.raises(PlanError) as info:
        load_plan(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert "\n" not in message
    return message.split(f"{field}: ", 1)[1]


# -- frame capacity -------------------------------------------------------------------

def test_frame_capacity_matches_the_encoder() -> None:
    """31 float32 samples of 64 features fit 8192 bytes, 32 do not; int8: 125 / 126."""
    assert FIRMWARE_MAX_BODY == DEFAULT_MAX_BODY == 8192
    x, y = np.zeros((126, 64), np.float32), np.zeros(126, np.int64)
    from hil_service.protocol import Quantization

    q = Quantization.for_range(0.0, 1.0)
    for quantized, fits in ((False, 31), (True, 125)):
        assert max_train_batch(64, quantized) == fits
        assert len(encode_batch(x[:fits], y[:fits], q if quantized else None)) <= 8192
        assert len(encode_batch(x[:fits + 1], y[:fits + 1], q if quantized else None)) > 8192


def test_frame_capacity_bounded_by_the_reply() -> None:
    """With one feature the request carries thousands; the TRAIN reply (5 bytes each) does not."""
    assert max_train_batch(1, True) == TrainReply.max_samples(8192) == 1636
    assert max_train_batch(1, True, max_body=512) == (512 - 12) // 5


@pytest.mark.parametrize("stream, limit", [
    ("{batch_size: 32}", "at most 31 float32 samples of 64 features"),
    ("{batch_size: 1024}", "at most 31 float32 samples of 64 features"),
    ("{batch_size: 126, encoding: int8}", "at most 125 int8 samples of 64 features"),
])
def test_batch_size_beyond_one_frame(tmp_path: Path, stream: str, limit: str) -> None:
    problem = refused(write(tmp_path, "{batch_size: 31}", stream), 9, "strategies[0].stream.batch_size")
    assert limit in problem and "8192-byte frame" in problem


def test_batch_sizes_that_fit_load(tmp_path: Path) -> None:
    assert load_plan(write(tmp_path)).strategies[0].stream.batch_size == 31
    plan = load_plan(write(tmp_path, "{batch_size: 31}", "{batch_size: 125, encoding: int8}"))
    assert plan.strategies[0].stream.batch_size == 125


# -- parameters the device holds as float32 --------------------------------------------

@pytest.mark.parametrize("param", ["gate_threshold: 1e308", "select_threshold: inf",
                                   "select_threshold: .inf", "zeta: 1e-300",
                                   "learning_rate: 1e-50"])
def test_parameters_the_device_cannot_hold(tmp_path: Path, param: str) -> None:
    field = param.split(":")[0]
    refused(write(tmp_path, "{learning_rate: 0.05}", f"{{{param}}}"), 8,
            f"strategies[0].params.{field}")


# -- thresholds have the unit of their metric -------------------------------------------

@pytest.mark.parametrize("threshold, problem", [
    ('">=0.9Ki"', "a ratio takes no k/Ki/M/Mi suffix"),
    ('">= 0.5M"', "a ratio takes no k/Ki/M/Mi suffix"),
    ('">= 1.5"', "outside"),
    ('"> -0.1"', "outside"),
])
def test_ratio_thresholds(tmp_path: Path, threshold: str, problem: str) -> None:
    message = refused(write(tmp_path, '">= 0.5"', threshold), 10, "strategies[0].expect.accuracy")
    assert problem in message


def test_units_that_scale_and_ratio_changes_load(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, '">= 0.5"', '">= 0", accuracy_gain: ">= -0.05", '
                                                 'ram_bytes: "<= 48Ki", stream_seconds: "< 1k"'))
    found = plan.strategies[0].thresholds("any")
    assert found["ram_bytes"].value == 48 * 1024 and found["accuracy_gain"].value == -0.05


def test_unit_kind_of_a_metric() -> None:
    assert METRICS["accuracy"].unit_kind == RATIO
    info = MetricInfo("ratio", "a share")
    with pytest.raises(ThresholdError, match="no k/Ki/M/Mi suffix"):
        Threshold.parse(">= 0.9Ki", info)
    assert Threshold.parse(">= 0.9Ki").value == pytest.approx(0.9 * 1024)  # no metric: no unit


# -- seeds and names ---------------------------------------------------------------------

@pytest.mark.parametrize("old, new, line, field", [
    ("seed: 1}", "seed: -1}", 3, "scenario.seed"),
    ("seed: 7}", "seed: -1}", 4, "base_model.seed"),
    ("seed: 7}", "seed: 4294967296}", 4, "base_model.seed"),
])
def test_seeds(tmp_path: Path, old: str, new: str, line: int, field: str) -> None:
    refused(write(tmp_path, old, new), line, field)


@pytest.mark.parametrize("old, line, field", [("name: full", 6, "strategies[0].name"),
                                              ("name: limits", 1, "name")])
def test_names_have_a_length_limit(tmp_path: Path, old: str, line: int, field: str) -> None:
    key = old.split(":")[0]
    assert "at most 64 characters" in refused(write(tmp_path, old, f"{key}: {'n' * 65}"), line, field)
    # a megabyte name is refused in the same short line (it once made a 3 MB junit.xml)
    path = write(tmp_path, old, f"{key}: {'n' * 200_000}")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert len(str(info.value)) < 300
    load_plan(write(tmp_path, old, f"{key}: {'n' * 64}"))


# -- the arena: after device selection, before boot ---------------------------------------

@pytest.fixture(scope="module")
def an386_image() -> Path:
    return build_firmware_mps2("an386")


def test_image_reports_its_arena(an386_image: Path) -> None:
    # firmware.mk builds the mps2 firmware with ODL_ARENA_SIZE 131072
    assert inspect_image(an386_image).arena_bytes == 131072


def test_hidden_256_256_fails_before_boot(tmp_path: Path, an386_image: Path) -> None:
    path = write(tmp_path, "hidden: [16]", "hidden: [256, 256]")
    plan = load_plan(path)
    devices = [load_inventory(DEFAULT_INVENTORY).get("qemu-an386")]
    with pytest.raises(PlanError) as info:
        check_devices(path, plan, devices, image_of=lambda _entry: an386_image)
    message = str(info.value)
    assert message.startswith(f"{path}:4: base_model.hidden: the model 64-256-256-10 needs ")
    assert "device qemu-an386 has 131072" in message
    check_devices(write(tmp_path), load_plan(write(tmp_path)), devices,
                  image_of=lambda _entry: an386_image)


def test_arena_blames_the_field_that_outgrows_it(tmp_path: Path, core: NativeCore) -> None:
    # 64-220-10: 69 KB to train, 135 KB with momentum (a velocity per weight)
    path = write(tmp_path, "{learning_rate: 0.05}", "{learning_rate: 0.05, momentum: 0.9}")
    path.write_text(path.read_text().replace("hidden: [16]", "hidden: [220]"))
    doc, plan = load_yaml(path), load_plan(path)
    with pytest.raises(PlanError, match=r":8: strategies\[0\]\.params\.momentum: momentum on the "
                                        r"model 64-220-10 needs \d+ bytes of arena to train, "
                                        r"device dev has 131072"):
        check_arena(doc, plan, "dev", 131072, 64, 10, core)
    # tinyprop's own state pushes the model just past an arena that full training fits
    arch = Arch((64, 16, 10))
    full = core.arena_bytes(arch, TrainParams(Strategy.FULL))
    tiny = core.arena_bytes(arch, TrainParams(Strategy.TINYPROP))
    assert tiny > full
    path = write(tmp_path, "strategy: full", "strategy: tinyprop")
    with pytest.raises(PlanError, match=r":7: strategies\[0\]\.strategy: tinyprop training"):
        check_arena(load_yaml(path), load_plan(path), "dev", full, 64, 10, core)


def test_cli_refuses_before_any_device_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "hidden: [16]", "hidden: [256, 256]")
    out = tmp_path / "out"
    code = cli.main(["run", str(path), "--backend", "qemu", "--dut", "qemu-an386", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert err.startswith(f"hil: error: {path}:4: base_model.hidden: ") and err.count("\n") == 1
    assert not out.exists()  # no run directory: nothing was started


# -- the alias bomb -------------------------------------------------------------------------

def test_alias_bomb_refused_in_under_a_second(tmp_path: Path) -> None:
    lines = ['lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    lines.append("name: bomb\ndataset: digits\nstrategies: [{name: x, strategy: full, expect: *i}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1100  # 9**9 values once expanded
    t0 = time.monotonic()
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert time.monotonic() - t0 < 1.0
    assert str(info.value).startswith(f"{path}:5: more than 20000 values with aliases expanded")


# -- disk full while writing run.json -------------------------------------------------------

def test_disk_full_leaves_no_temp_file_and_names_the_path(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    journal = results.RunJournal(tmp_path, {"name": "p"})
    journal.set("base_model", {"sha256": "before"})
    real_write = os.write
    calls = []

    def full_disk(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 1:  # the first part goes to disk, then the device is full
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(results.JournalError) as info:
        journal.set("base_model", {"sha256": "after"})
    assert len(calls) == 2
    assert str(info.value) == f"cannot write {tmp_path / 'run.json'}: No space left on device"
    assert isinstance(info.value, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    # the last complete record is still there
    assert json.loads((tmp_path / "run.json").read_text())["base_model"] == {"sha256": "before"}
    monkeypatch.undo()
    journal.set("base_model", {"sha256": "after"})
    assert json.loads((tmp_path / "run.json").read_text())["base_model"] == {"sha256": "after"}


def test_rename_failure_cleans_up_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = results.RunJournal(tmp_path, {"name": "p"})

    def no_rename(src: str, dst: str) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(results.JournalError, match="cannot write .*run.json: Input/output error"):
        journal.error("host", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


# -- one-line messages ----------------------------------------------------------------------

def test_cli_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli._error("no device matches:\n  qemu-an386: busy\n  native: gone") == cli.EXIT_ERROR
    assert capsys.readouterr().err == "hil: error: no device matches: qemu-an386: busy native: gone\n"


def test_junit_on_a_full_disk_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = results.RunJournal(tmp_path, {"name": "p"})
    journal.finish()

    def no_rename(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(results.JournalError, match="cannot write .*junit.xml: No space left on device"):
        results.write_junit(journal.data, tmp_path / "junit.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "run.json"]  # no junit.xml.tmp
