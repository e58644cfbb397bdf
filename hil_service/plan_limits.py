"""Limits the device enforces that a plan can be checked against before anything boots.

Two moments, both answering with the plan's `file:line: field: problem`:

- `check_plan`, from `load_plan`: what the shipped firmware fixes for every
  device: how many samples one frame carries (request and TRAIN reply within
  FIRMWARE_MAX_BODY, for the data set's feature count and the encoding).
  Parameter ranges, float32 included, are TrainingParams' own (the wire table).
- `check_devices`, after device selection and before boot: the arena the model
  needs, by the C core's own sizing (libodl.so, `odl_model_arena_bytes`), against
  each selected device's arena, read from its firmware image.

The device re-checks everything at run time (HELLO reports its own max_body, which
Device checks batches against; CONFIGURE answers ODL_ERR_ARENA_TOO_SMALL or
ODL_ERR_PARAM); these checks bring the same refusal forward to the plan's line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hil_service import datasets
from hil_service.errors import TargetError
from hil_service.protocol import DEFAULT_MAX_BODY, TrainReply, batch_header_bytes, batch_record_bytes
from hil_service.reference import Arch
from hil_service.yaml_source import YamlDocument, load_yaml

if TYPE_CHECKING:
    from hil_service.inventory import DeviceEntry
    from hil_service.native_core import NativeCore
    from hil_service.plan import Plan, StrategyRun

__all__ = ["FIRMWARE_MAX_BODY", "check_arena", "check_devices", "check_plan", "max_train_batch"]

#: the shipped firmware's frame body limit (ODL_PROTO_MAX_BODY); a device may
#: report a smaller one in HELLO, which Device checks each batch against
FIRMWARE_MAX_BODY = DEFAULT_MAX_BODY


def max_train_batch(n_features: int, quantized: bool, max_body: int = FIRMWARE_MAX_BODY) -> int:
    """Most labelled samples one TRAIN exchange carries: the request (header and
    records) and the reply (5 bytes a sample) must each fit max_body."""
    per_request = (max_body - batch_header_bytes(quantized)) // batch_record_bytes(
        n_features, True, quantized)
    return min(per_request, TrainReply.max_samples(max_body))


@functools.cache
def _dataset_shape(name: str) -> tuple[int, int]:
    ds = datasets.load(name)
    return ds.n_features, ds.n_classes


def check_plan(doc: YamlDocument, plan: Plan) -> None:
    """The firmware's fixed limits, at load time (load_plan calls this)."""
    for i, run in enumerate(plan.strategies):
        batch = run.stream.batch_size
        if batch is None:
            continue
        n_features, _ = _dataset_shape(plan.dataset)  # loaded only when a batch size is set
        limit = max_train_batch(n_features, run.stream.encoding == "int8")
        if batch > limit:
            raise doc.error(("strategies", i, "stream", "batch_size"),
                            f"{batch} samples do not fit one frame: the firmware's "
                            f"{FIRMWARE_MAX_BODY}-byte frame carries at most {limit} "
                            f"{run.stream.encoding} samples of {n_features} features "
                            f"({plan.dataset})")


@functools.cache
def _host_core() -> NativeCore:
    from hil_service.firmware_build import host_core_library
    from hil_service.native_core import NativeCore

    return NativeCore(host_core_library())


def _arena_loc(run: StrategyRun, i: int, core: NativeCore, arch: Arch, arena: int) -> tuple[
        tuple[str | int, ...], str]:
    """The plan field that makes the model outgrow the arena, and what it adds."""
    if core.arena_bytes(arch, None) > arena:
        return ("base_model", "hidden"), f"the model {arch}"
    params = run.train_params()
    if params.momentum > 0:
        from dataclasses import replace

        if core.arena_bytes(arch, replace(params, momentum=0.0)) <= arena:
            return ("strategies", i, "params", "momentum"), f"momentum on the model {arch}"
    return ("strategies", i, "strategy"), f"{run.strategy} training of the model {arch}"


def check_arena(doc: YamlDocument, plan: Plan, device: str, arena: int, n_features: int,
                n_classes: int, core: NativeCore | None = None) -> None:
    """Every strategy run's model fits a device whose arena holds `arena` bytes.

    The need comes from the host build of the core; it lays out the same buffers,
    with 8-byte pointers where a Cortex-M has 4, so it may exceed the device's own
    figure by a few bytes, never fall short of it.
    """
    from hil_service.native_core import CoreError

    core = core or _host_core()
    try:
        arch = Arch((n_features, *plan.base_model.hidden, n_classes))
    except ValueError as exc:
        raise doc.error(("base_model", "hidden"), str(exc)) from None
    for i, run in enumerate(plan.strategies):
        try:
            need = core.arena_bytes(arch, run.train_params())
        except CoreError as exc:
            raise doc.error(("strategies", i, "params"),
                            f"the training core refuses these parameters ({exc.name})") from None
        if need > arena:
            loc, what = _arena_loc(run, i, core, arch, arena)
            raise doc.error(loc, f"{what} needs {need} bytes of arena to train, device {device} "
                                 f"has {arena} (strategy run {run.name})")


def check_devices(plan_path: Path | str, plan: Plan, devices: Sequence[DeviceEntry],
                  image_of: Callable[[DeviceEntry], Path] | None = None,
                  core: NativeCore | None = None) -> None:
    """The plan against each selected device's firmware image, before boot.

    A device whose image cannot be had here (a build that fails, a missing file)
    is skipped: the runner records that as the device's error. An image without
    the arena symbol is skipped too; the device still refuses at CONFIGURE.
    """
    from hil_service.image import inspect_image

    if image_of is None:
        from hil_service.backends.registry import backend_for

        def image_of(entry: DeviceEntry) -> Path:
            return backend_for(entry).firmware_image(entry)
    doc = load_yaml(plan_path)
    n_features, n_classes = _dataset_shape(plan.dataset)
    for entry in devices:
        try:
            info = inspect_image(image_of(entry))
        except TargetError:
            continue
        if info.arena_bytes is not None:
            check_arena(doc, plan, entry.id, info.arena_bytes, n_features, n_classes, core)
