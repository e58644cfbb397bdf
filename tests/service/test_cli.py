"""`hil` as a user runs it: exit codes, one-line errors, the summary lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil_service.cli import main

from .conftest import FAILING_RUN, PASSING_RUN, small_plan


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_passes_and_prints_one_line_per_strategy(tmp_path: Path, capsys) -> None:
    plan = small_plan(tmp_path, PASSING_RUN)
    code, out, err = run_cli(capsys, "run", str(plan), "--backend", "native", "--out", str(tmp_path / "r"))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("PASS native last_layer: 3/3 expectations, accuracy ")
    assert lines[-1] == f"small: 1 passed, 0 failed, 0 errors on 1 device(s); {tmp_path / 'r' / 'run.json'}"
    assert "native: last_layer streamed 64/64" in err  # progress goes to stderr
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "passed"

    code, out, _ = run_cli(capsys, "report", str(tmp_path / "r"))
    assert code == 0
    assert out.splitlines()[0].startswith("PASSED native last_layer: 3/3 expectations")
    assert (tmp_path / "r" / "report.html").read_text().count("last_layer") >= 1

    # a run directory is never overwritten
    code, _, err = run_cli(capsys, "run", str(plan), "--backend", "native", "--out", str(tmp_path / "r"))
    assert code == 2 and "directory is not empty" in err


def test_missed_expectation_exits_1(tmp_path: Path, capsys) -> None:
    plan = small_plan(tmp_path, FAILING_RUN)
    code, out, _ = run_cli(capsys, "run", str(plan), "--dut", "native", "--out", str(tmp_path / "r"))
    assert code == 1
    assert "FAIL native tinyprop: 2/3 expectations" in out and "missed: accuracy" in out
    code, out, _ = run_cli(capsys, "report", str(tmp_path / "r"))
    assert code == 1 and out.startswith("FAILED native tinyprop: 2/3")


@pytest.mark.parametrize(("change", "words"), [
    (("strategy: last_layer", "strategy: sgd"), ":8: strategies[0].strategy: unknown strategy 'sgd'"),
    (("dataset: digits", "dataset: cifar"), ":2: dataset: unknown dataset 'cifar'"),
    (('accuracy: ">= 0.5"', 'accuracy: "about 0.5"'), ":10: strategies[0].expect.accuracy: threshold"),
])
def test_bad_plan_fails_before_any_device(tmp_path: Path, capsys, change, words) -> None:
    plan = small_plan(tmp_path, PASSING_RUN)
    plan.write_text(plan.read_text().replace(*change))
    code, out, err = run_cli(capsys, "run", str(plan), "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    assert err.startswith(f"hil: error: {plan}{words}"), err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "r").exists()  # nothing was started


def test_unknown_dut_and_unavailable_backend(tmp_path: Path, capsys) -> None:
    plan = small_plan(tmp_path, PASSING_RUN)
    code, _, err = run_cli(capsys, "run", str(plan), "--dut", "ghost")
    assert code == 2 and "no device 'ghost' in the inventory (known: qemu-an386" in err
    code, _, err = run_cli(capsys, "run", str(plan), "--backend", "board")
    assert code == 2
    assert err.startswith("hil: error: no available board device matches the plan (")
    assert "nrf52840dk-1: probe 000683290670 not connected" in err
    code, _, err = run_cli(capsys, "run", str(plan), "--inventory", str(tmp_path / "none.yaml"))
    assert code == 2 and err == f"hil: error: {tmp_path / 'none.yaml'}: file not found\n"


def test_missing_emulator_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """qemu-system-arm gone: the device is unavailable, and --dut says why."""
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: (
        None if name == "qemu-system-arm" else real_which(name, *a, **k)))
    plan = small_plan(tmp_path, PASSING_RUN)
    code, _, err = run_cli(capsys, "run", str(plan), "--dut", "qemu-an386")
    assert (code, err) == (2, "hil: error: device qemu-an386 is not available: "
                              "qemu-system-arm not on PATH\n")


def test_list(capsys) -> None:
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert "yes: QEMU mps2-an386" in rows["qemu-an386"]
    assert "no: renode not on PATH" in rows["renode-stm32f4"] or "not built" in rows["renode-stm32f4"]
    assert "no: probe 000683290670 not connected" in rows["nrf52840dk-1"]
    assert out.splitlines()[-1].endswith("available")


def test_flash_boots_an_emulator_image(capsys) -> None:
    code, out, _ = run_cli(capsys, "flash", "native")
    assert code == 0
    assert out.startswith("native: odl_fw boots on native: firmware 0.1.0 git ")
    code, _, err = run_cli(capsys, "flash", "native", "/nonexistent.elf")
    assert code == 2 and err == "hil: error: firmware image /nonexistent.elf does not exist\n"


def test_report_on_a_non_run_dir(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "report", str(tmp_path))
    assert code == 2 and "run.json does not exist: not a run directory" in err


def test_plan_that_does_not_fit_the_data_or_lab(tmp_path: Path, capsys) -> None:
    plan = small_plan(tmp_path, PASSING_RUN.replace("samples: 64", "samples: 5000"))
    code, _, err = run_cli(capsys, "run", str(plan), "--backend", "native", "--out", str(tmp_path / "r"))
    assert (code, err) == (2, "hil: error: strategy run last_layer: stream.samples 5000 is more "
                              "than the 450 samples of the stream split\n")
    assert not (tmp_path / "r").exists()
    plan = small_plan(tmp_path, PASSING_RUN + "    expect_on: {qemu-an368: {accuracy: '>= 0.9'}}\n")
    code, _, err = run_cli(capsys, "run", str(plan), "--backend", "native")
    assert code == 2 and "expect_on names device 'qemu-an368', which is not in inventory" in err


def test_twister_id_read_as_a_number(tmp_path: Path, capsys) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("- id: 000260117001\n  platform: frdm_k64f\n")
    code, out, _ = run_cli(capsys, "list", "--inventory", str(path))
    assert code == 0  # one invalid entry does not stop the lab: it is listed, unavailable
    assert f"no: invalid entry: {path}:1: [0].id: probe id " in out and "quote it" in out
