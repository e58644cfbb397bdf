"""`base_model: {from_run: DIR}` and `{blob: PATH}`: resolved, and refused with file:line
when they cannot be used (no device involved: the runs are written by hand)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hil_service.base_models import prepare, prepare_data
from hil_service.plan import load_plan
from hil_service.reference import Arch, Mlp
from hil_service.yaml_source import SourceError

PLAN = """\
name: chained
dataset: digits
scenario: {{base: 0.5, stream: 0.25, test: 0.1, seed: 1}}
base_model: {base}
strategies:
  - name: ll
    strategy: last_layer
    stream: {{samples: 16}}
    expect: {{accuracy: ">= 0.1", negative_flip_rate: "<= 1"}}
"""


def fake_run(directory: Path, results: list[tuple[str, str, tuple[int, ...]]]) -> dict[str, str]:
    """A run directory as `hil run` leaves it: run.json with lineage and the kept blobs."""
    runs, hashes = [], {}
    for i, (device, strategy, sizes) in enumerate(results):
        blob = Mlp(Arch(sizes)).init_weights(i + 1).to_blob()
        rel = f"{device}/{strategy}/weights-{device}.bin"
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(blob)
        child = hashlib.sha256(blob).hexdigest()
        hashes[f"{device}/{strategy}"] = child
        runs.append({"device": device, "strategy": strategy, "status": "passed", "lineage": {
            "device": device, "parent": "0" * 64, "child": child, "plan": "1" * 64, "data": "2" * 64,
            "build_id": "abc", "strategy": strategy, "strategy_kind": "last_layer", "workflow": "stream",
            "arch": list(sizes), "blob": rel}})
    (directory / "run.json").write_text(json.dumps({"status": "passed", "runs": runs,
                                                    "base_model": {"sha256": "0" * 64}}))
    return hashes


def write_plan(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(base=base))
    return path


def refused(tmp_path: Path, base: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        load_plan(write_plan(tmp_path, base))
    return info.value


def test_from_run_relative_to_the_plan_takes_the_weights_and_their_architecture(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    hashes = fake_run(tmp_path / "r1", [("qemu", "ll", (64, 24, 10))])
    plan = load_plan(write_plan(tmp_path, "{from_run: r1}"))
    assert plan.base_model.from_run == str((tmp_path / "r1").resolve())
    assert plan.base_model.hidden == (24,)  # from the weights, not the default 32
    base = prepare(plan, prepare_data(plan))
    assert base.sha256 == hashes["qemu/ll"] and tuple(base.arch.sizes) == (64, 24, 10)
    assert base.origin is not None and base.origin["strategy"] == "ll" and base.origin["device"] == "qemu"


def test_blob_file(tmp_path: Path) -> None:
    blob = Mlp(Arch((64, 8, 10))).init_weights(3).to_blob()
    (tmp_path / "w.bin").write_bytes(blob)
    plan = load_plan(write_plan(tmp_path, "{blob: w.bin}"))
    base = prepare(plan, prepare_data(plan))
    assert base.blob == blob and plan.base_model.hidden == (8,)
    assert base.origin == {"blob": str((tmp_path / "w.bin").resolve()),
                           "sha256": hashlib.sha256(blob).hexdigest()}


def test_missing_run_directory(tmp_path: Path) -> None:
    err = refused(tmp_path, "{from_run: nowhere}")
    assert err.line == 4 and err.field == "base_model.from_run"
    assert "no such run directory" in str(err) and "nowhere" in str(err)


def test_directory_without_run_json(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    err = refused(tmp_path, "{from_run: empty}")
    assert err.line == 4 and "not a run directory: no run.json" in str(err)


def test_ambiguous_run_names_its_results(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (64, 16, 10)), ("qemu", "full", (64, 16, 10))])
    err = refused(tmp_path, "{from_run: r}")
    assert err.field == "base_model.from_run"
    assert "2 results (qemu/ll, qemu/full)" in str(err) and "base_model.strategy" in str(err)
    plan = load_plan(write_plan(tmp_path, "{from_run: r, strategy: full}"))
    assert plan.base_model.strategy == "full"


def test_unknown_strategy_points_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (64, 16, 10))])
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(base="\n  from_run: r\n  strategy: tinyprop"))
    with pytest.raises(SourceError) as info:
        load_plan(path)
    assert info.value.line == 6 and info.value.field == "base_model.strategy"
    assert "no result of strategy 'tinyprop'; it has qemu/ll" in str(info.value)


def test_architecture_mismatch_with_the_plans_hidden(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (64, 16, 10))])
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(base="\n  from_run: r\n  hidden: [32]"))
    with pytest.raises(SourceError) as info:
        load_plan(path)
    assert info.value.line == 6 and info.value.field == "base_model.hidden"
    assert "architecture mismatch: hidden [32], but the model 64-16-10" in str(info.value)


def test_architecture_mismatch_with_the_data_set(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (784, 16, 10))])  # a digits28 model
    err = refused(tmp_path, "{from_run: r}")
    assert err.field == "base_model.from_run"
    assert "takes 784 features and 10 classes, dataset digits has 64 and 10" in str(err)


def test_weights_changed_after_the_run(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (64, 16, 10))])
    blob = tmp_path / "r" / "qemu" / "ll" / "weights-qemu.bin"
    blob.write_bytes(Mlp(Arch((64, 16, 10))).init_weights(99).to_blob())
    err = refused(tmp_path, "{from_run: r}")
    assert "the file was changed after the run" in str(err)


def test_not_a_blob(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"not weights at all, just text" * 3)
    err = refused(tmp_path, "{blob: w.bin}")
    assert err.field == "base_model.blob" and "is not a weights blob: ODL_ERR_BLOB_MAGIC" in str(err)


def test_run_that_kept_nothing(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text(json.dumps({"status": "error", "runs": [
        {"device": "qemu", "strategy": "ll", "status": "error"}]}))
    assert "kept no weights" in str(refused(tmp_path, "{from_run: r}"))


def test_both_sources_or_a_stray_strategy_are_refused(tmp_path: Path) -> None:
    blob = Mlp(Arch((64, 8, 10))).init_weights(3).to_blob()
    (tmp_path / "w.bin").write_bytes(blob)
    (tmp_path / "r").mkdir()
    fake_run(tmp_path / "r", [("qemu", "ll", (64, 8, 10))])
    assert "give from_run or blob, not both" in str(refused(tmp_path, "{from_run: r, blob: w.bin}"))
    assert "choose among the results of from_run" in str(refused(tmp_path, "{blob: w.bin, strategy: ll}"))
