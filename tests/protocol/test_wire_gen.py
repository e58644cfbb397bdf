"""The wire table (firmware_zephyr/protocol/wire.toml) and what is generated from it.

The generated files are committed; these tests fail when they are stale, and
when a hand-written mirror (plan model, twin, C core enums) drifts from the table.
"""

from __future__ import annotations

import ctypes
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hil_service import wire_gen as W
from hil_service.plan import SCORE_NAMES, STRATEGY_NAMES, TrainingParams
from hil_service.reference import TrainParams
from hil_service.tools import gen_wire

ROOT = gen_wire.ROOT


def test_generated_files_are_not_stale(tmp_path):
    # regenerate into a temp dir with the real command line and compare byte for byte
    proc = subprocess.run([sys.executable, "-m", "hil_service.tools.gen_wire", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for rel in (gen_wire.C_HEADER, gen_wire.PY_MODULE):
        fresh, committed = (tmp_path / rel).read_text(), (ROOT / rel).read_text()
        assert fresh == committed, f"{rel} is stale: run python -m hil_service.tools.gen_wire"


def _tree_with_table(tmp_path: Path, edit: str, replacement: str) -> Path:
    """A copy of the table and the generated files, with the table edited."""
    for rel in (gen_wire.TABLE, gen_wire.C_HEADER, gen_wire.PY_MODULE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    table = tmp_path / gen_wire.TABLE
    text = table.read_text()
    assert edit in text
    table.write_text(text.replace(edit, replacement, 1))
    return tmp_path


def test_an_edited_table_makes_the_committed_files_stale(tmp_path):
    root = _tree_with_table(tmp_path, 'name = "gate_threshold"\nc_field = "gate_threshold"\n'
                            'c_type = "float"\nmin = 0.0\nmax = 1.0',
                            'name = "gate_threshold"\nc_field = "gate_threshold"\n'
                            'c_type = "float"\nmin = 0.0\nmax = 0.5')
    files = gen_wire.render(root)
    assert files[gen_wire.C_HEADER] != (ROOT / gen_wire.C_HEADER).read_text()
    assert "ODL_WIRE_GATE_THRESHOLD_MAX 0.5f" in files[gen_wire.C_HEADER]
    assert "max=0.5" in files[gen_wire.PY_MODULE]


def test_check_mode_passes_on_the_tree():
    assert gen_wire.main(["--check"]) == 0


def test_a_table_that_contradicts_itself_is_refused(tmp_path):
    root = _tree_with_table(tmp_path, "default = 0.05\n", "default = 20.0\n")
    with pytest.raises(ValueError, match="learning_rate = 20 is outside"):
        gen_wire.render(root)
    root = _tree_with_table(tmp_path, 'param = "zeta" }', 'param = "zetta" }')
    with pytest.raises(gen_wire.TableError, match="unknown param 'zetta'"):
        gen_wire.render(root)


def test_the_plan_model_has_every_parameter_of_the_table_and_its_defaults():
    fields = TrainingParams.model_fields
    assert set(fields) == set(W.PARAMS) - {"strategy"}  # the strategy is the run's own field
    for name, spec in W.PARAMS.items():
        if name in fields:
            assert fields[name].default == spec.default, name
    assert tuple(STRATEGY_NAMES) == W.STRATEGY_NAMES and tuple(SCORE_NAMES) == W.SCORE_NAMES


def test_the_twin_has_every_parameter_of_the_table_and_the_core_defaults():
    defaults = {f.name: f.default for f in dataclasses.fields(TrainParams)}
    assert set(defaults) == set(W.PARAMS)
    for name, spec in W.PARAMS.items():
        want = spec.core_default if spec.core_default is not None else spec.default
        got = defaults[name]
        assert (spec.enum[int(got)] if spec.enum else got) == want, name


def test_the_ctypes_mirror_follows_the_table():
    assert [f[0] for f in W.TrainParamsStruct._fields_] == [p.c_field for p in W.PARAMS.values()]
    assert ctypes.sizeof(W.TrainParamsStruct) == 4 * len(W.PARAMS)


def test_param_indexes_are_the_table_order():
    assert [p.index for p in W.PARAMS.values()] == list(range(1, len(W.PARAMS) + 1))
    assert W.CONFIGURE.head_bytes == 60 and W.METRICS_REPLY.head_bytes == 208


def test_the_header_asserts_what_the_core_headers_must_agree_on():
    header = (ROOT / gen_wire.C_HEADER).read_text()
    assert "_Static_assert(sizeof(odl_train_params_t) == 48u" in header
    assert "_Static_assert(offsetof(odl_train_params_t, tp_zeta) == 20u" in header
    assert "_Static_assert(ODL_PROTO_VERSION == ODL_WIRE_PROTO_VERSION" in header


def test_a_drifted_core_struct_does_not_compile(tmp_path):
    # odl_train_params_t with two members swapped: the generated asserts stop the build
    fw = ROOT / "firmware_zephyr"
    model_h = (fw / "core/include/odl/odl_model.h").read_text()
    swapped = model_h.replace("\tfloat learning_rate;", "\tfloat momentum_first;", 1)
    assert swapped != model_h
    inc = tmp_path / "odl"
    inc.mkdir()
    for h in (fw / "core/include/odl").iterdir():
        shutil.copy(h, inc / h.name)
    (inc / "odl_model.h").write_text(swapped.replace("\tfloat momentum;", "\tfloat learning_rate;", 1)
                                     .replace("\tfloat momentum_first;", "\tfloat momentum;", 1))
    src = tmp_path / "t.c"
    src.write_text('#include "odl_wire_gen.h"\nint main(void) { return 0; }\n')
    cc = ["cc", "-std=c11", "-fsyntax-only", f"-I{fw / 'protocol/include'}", str(src)]
    ok = subprocess.run([*cc, f"-I{fw / 'core/include'}"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*cc, f"-I{tmp_path}"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "odl_train_params_t.learning_rate moved" in bad.stderr


def test_the_core_defaults_are_the_table_defaults():
    # odl_train_params_default() of the C core, through the library the golden tests use
    from hil_service.firmware_build import host_core_library

    lib = ctypes.CDLL(str(host_core_library()))
    lib.odl_train_params_default.argtypes = [ctypes.POINTER(W.TrainParamsStruct), ctypes.c_int]
    lib.odl_train_params_default.restype = ctypes.c_int
    for strategy, strategy_name in enumerate(W.STRATEGY_NAMES):
        p = W.TrainParamsStruct()
        assert lib.odl_train_params_default(ctypes.byref(p), strategy) == 0
        for name, spec in W.PARAMS.items():
            got = getattr(p, spec.c_field)
            want = spec.core_default if spec.core_default is not None else spec.default
            if name == "strategy":
                want = strategy_name
            if spec.enum:
                assert spec.enum[got] == want, name
            else:
                assert got == pytest.approx(float(want), rel=1e-7), name
