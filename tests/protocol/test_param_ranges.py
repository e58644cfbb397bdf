"""Every range of the wire table is enforced identically by the plan loader, the codec and the device.

For each parameter the value just outside its range (in float32: the device's
view) must be refused by all three, naming the same parameter: the plan with
file:line:field, the codec with ParamRangeError, the real firmware (the POSIX
build on a pty) with a CORE error whose detail names it. The value on the
edge inside must be accepted by all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hil_service import wire_gen as W
from hil_service.device import DeviceError
from hil_service.plan import PlanError, load_plan
from hil_service.protocol import Cmd, Configure, ConfigureReply, ErrorCode
from hil_service.wire_schema import ParamRangeError
from tests.firmware.conftest import Dut, greeted_dut

SIZES = (8, 4, 3)
BASE = {"learning_rate": 0.05, "momentum": 0.0, "s_min": 0.1, "s_max": 0.9, "zeta": 0.5,
        "gate_threshold": 0.0, "select_score": "none", "select_threshold": 0.0}


@dataclass(frozen=True)
class Case:
    id: str
    values: dict[str, float | str]  # overrides of BASE
    refused: str | None  # the parameter every layer must name; None: all accept
    line_of: str | None = None  # the plan field the error points at (default: refused)


def _f32_step(v: float, toward: float) -> float:
    """The next float32 after v toward `toward`: the smallest step the device can see."""
    return float(np.nextafter(np.float32(v), np.float32(toward)))


def _cases() -> Iterator[Case]:
    for name, p in W.PARAMS.items():
        if p.enum:
            continue
        for bound, is_open, out_dir in ((p.min, p.min_open, -math.inf), (p.max, p.max_open, math.inf)):
            if not math.isfinite(bound):
                continue
            outside = bound if is_open else _f32_step(bound, out_dir)
            inside = _f32_step(bound, -out_dir) if is_open else bound
            yield Case(f"{name}-outside-{outside!r}", {name: outside}, name)
            # keep s_min <= s_max true on the edges so only the bound is tested
            keep = {"s_min": inside} if name == "s_max" else {"s_max": inside} if name == "s_min" else {}
            yield Case(f"{name}-edge-{inside!r}", {name: inside, **keep}, None)
        yield Case(f"{name}-nan", {name: math.nan}, name)
        yield Case(f"{name}-inf", {name: math.inf}, name)
    # representable in float32: 1e-300 is positive but arrives as 0
    yield Case("zeta-1e-300", {"zeta": 1e-300}, "zeta")
    yield Case("gate_threshold-1.5", {"gate_threshold": 1.5}, "gate_threshold")
    yield Case("select_threshold-1.5", {"select_threshold": 1.5}, "select_threshold")
    # s_min <= s_max: named s_min by the device, pointed at s_max's line by the plan
    yield Case("s_min-above-s_max", {"s_min": 0.6, "s_max": _f32_step(0.6, 0)}, "s_min", "s_max")
    yield Case("s_min-equals-s_max", {"s_min": 0.6, "s_max": 0.6}, None)
    yield Case("select_score-entropy", {"select_score": "entropy", "select_threshold": 1.0}, None)


CASES = list(_cases())


def test_every_float_parameter_and_both_bounds_are_covered():
    floats = {n for n, p in W.PARAMS.items() if not p.enum}
    assert {c.refused for c in CASES if c.refused} >= floats
    assert len(CASES) >= 4 * len(floats)


# --- the plan loader ----------------------------------------------------------------

def _yaml_float(v: float) -> str:
    return ".nan" if math.isnan(v) else ".inf" if v == math.inf else repr(v)


def _write_plan(tmp_path: Path, values: dict[str, float | str]) -> tuple[Path, dict[str, int]]:
    lines = ["name: ranges", "dataset: digits", "strategies:", "  - name: run", "    strategy: full",
             "    params:"]
    where = {}
    for name, v in {**BASE, **values}.items():
        where[name] = len(lines) + 1
        lines.append(f"      {name}: {v if isinstance(v, str) else _yaml_float(v)}")
    lines += ["    expect:", '      accuracy: ">= 0.5"']
    path = tmp_path / "plan.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, where


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_plan_loader(case, tmp_path):
    path, where = _write_plan(tmp_path, case.values)
    if case.refused is None:
        load_plan(path)
        return
    with pytest.raises(PlanError) as exc:
        load_plan(path)
    field = case.line_of or case.refused
    assert str(exc.value).startswith(f"{path}:{where[field]}: strategies[0].params.{field}: ")
    assert case.refused in exc.value.problem


# --- the codec -------------------------------------------------------------------------

def _configure(values: dict[str, float | str]) -> Configure:
    v = {**BASE, **values}
    score = W.SCORE_NAMES.index(str(v.pop("select_score")))
    return Configure(SIZES, 0, select_score=score, **v)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_codec(case):
    conf = _configure(case.values)
    if case.refused is None:
        assert len(conf.encode()) == W.CONFIGURE.head_bytes
        return
    with pytest.raises(ParamRangeError) as exc:
        conf.encode()
    assert exc.value.param == case.refused and str(exc.value).startswith(case.refused)


# --- the device -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def native() -> Iterator[Dut]:
    with greeted_dut("native") as d:
        yield d


def _raw_configure(conf: Configure) -> bytes:
    """The CONFIGURE body as the codec would send it, minus the codec's own range check."""
    padded = conf.sizes + (0,) * (5 - len(conf.sizes))
    return W.CONFIGURE.encode(**conf.params(), n_layers=len(conf.sizes) - 1, sizes=padded,
                              init_weights=0, seed=0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_device(case, native):
    body = _raw_configure(_configure(case.values))
    if case.refused is None:
        reply = ConfigureReply.decode(native.device._call(Cmd.CONFIGURE, body).body)
        assert 0 < reply.arena_needed <= reply.arena_size
        return
    with pytest.raises(DeviceError) as exc:
        native.device._call(Cmd.CONFIGURE, body)
    err = exc.value.error
    assert err.code == ErrorCode.CORE and err.parameter == case.refused, err.describe()
    assert err.core_status in (-5, -6)  # ODL_ERR_NONFINITE, ODL_ERR_PARAM
    assert f"(parameter {case.refused})" in str(exc.value)


@pytest.mark.parametrize("name, value", [("strategy", 4), ("select_score", 5)])
def test_device_refuses_an_unknown_enum_value_naming_it(native, name, value):
    body = bytearray(_raw_configure(_configure({})))
    body[W.CONFIGURE.field(name).offset or 0] = value
    with pytest.raises(DeviceError) as exc:
        native.device._call(Cmd.CONFIGURE, bytes(body))
    assert exc.value.error.parameter == name and exc.value.error.core_status == -9  # ODL_ERR_STRATEGY
    with pytest.raises(ParamRangeError, match=name):
        Configure(SIZES, 4 if name == "strategy" else 0, 0.05,
                  select_score=5 if name == "select_score" else 0).encode()
