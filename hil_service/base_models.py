"""Base models pretrained on the host by the numpy twin, cached by content hash.

Pretraining 30 epochs on the base split takes tens of seconds, and every
device and strategy of a plan starts from the same weights; so the blob is
kept under a key that hashes everything it depends on (data, split, shift,
architecture, recipe, and the twin's own source), and a changed twin or
recipe can never hand back stale weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil_service import data as _data_package
from hil_service import datasets
from hil_service.errors import ConfigError
from hil_service.firmware_build import build_dir
from hil_service.plan import BaseModelSpec, Plan
from hil_service.reference import Arch, Mlp, Strategy, TrainParams
from hil_service.reference import mlp as _mlp_module

__all__ = ["BaseModel", "PreparedData", "cache_dir", "prepare"]

ORDER_SEED = 3


def cache_dir() -> Path:
    return Path(os.environ.get("HIL_CACHE_DIR") or build_dir() / "cache")


@dataclass(frozen=True)
class PreparedData:
    scenario: datasets.Scenario
    n_features: int
    n_classes: int
    #: for workflows that shift or pretrain on their own (continual)
    image_shape: tuple[int, int] = (0, 0)
    base_recipe: BaseModelSpec | None = None


@dataclass(frozen=True)
class BaseModel:
    arch: Arch
    blob: bytes
    key: str  # recipe hash: what the cache file is named after
    sha256: str  # of the blob itself, recorded in run.json
    cached: bool
    host_accuracy: float  # the twin's accuracy on the test split, for the record
    #: None: pretrained here from the plan's recipe; else where the weights came from
    #: (an earlier run's result or a blob file, hil_service/lineage.py)
    origin: dict[str, Any] | None = None

    def model(self) -> Mlp:
        return Mlp.from_blob(self.blob)


def prepare_data(plan: Plan) -> PreparedData:
    ds = datasets.load(plan.dataset)
    sc = plan.scenario
    return PreparedData(datasets.scenario(ds, sc.base, sc.stream, sc.test, sc.seed, sc.shift),
                        ds.n_features, ds.n_classes, ds.image_shape, plan.base_model)


def _code_hash() -> str:
    """The twin's and the data splitter's source: a change to either retrains."""
    h = hashlib.sha256(np.__version__.encode())
    for path in (sorted(Path(_mlp_module.__file__).parent.glob("*.py")) + [Path(datasets.__file__)]
                 + sorted(Path(_data_package.__file__).parent.glob("*.py"))):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def recipe_key(plan: Plan, arch: Arch, data: PreparedData) -> str:
    recipe = {"dataset": plan.dataset, "scenario": plan.scenario.model_dump(mode="json"),
              "arch": list(arch.sizes), "base": plan.base_model.model_dump(mode="json"),
              "order_seed": ORDER_SEED, "code": _code_hash()}
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    h.update(np.ascontiguousarray(data.scenario.x_base).tobytes())
    h.update(np.ascontiguousarray(data.scenario.y_base).tobytes())
    return h.hexdigest()


class BaseModelError(ConfigError):
    """A pretrained base model that did not learn: the recipe does not suit the data."""


def near_chance(accuracy: float, n_classes: int) -> bool:
    """Within a quarter of the way from chance (1/classes) to perfect."""
    chance = 1.0 / n_classes
    return accuracy < chance + 0.25 * (1.0 - chance)


def check_learned(plan: Plan, arch: Arch, model: Mlp, data: PreparedData) -> None:
    """Refuse a trained base model near chance on the host: every device result built on
    it would measure a broken recipe, not the device. Measured on the test split without
    the domain shift, since a shift may legitimately cost half the accuracy."""
    sc = data.scenario
    if not len(sc.x_test_base_domain):
        return
    acc = model.accuracy(sc.x_test_base_domain, sc.y_test)
    if near_chance(acc, data.n_classes):
        b = plan.base_model
        raise BaseModelError(
            f"base model {arch} for {plan.dataset} reaches {acc:.3f} on the host test split, near "
            f"chance ({1.0 / data.n_classes:.3f}) after {b.epochs} epochs at learning rate "
            f"{b.learning_rate:g}: set base_model.learning_rate/epochs in the plan (or drop them "
            "to use the data set's recipe, hil_service/data/recipes.py)")


def prepare(plan: Plan, data: PreparedData, directory: Path | None = None) -> BaseModel:
    """The plan's base model from the cache, or pretrained now and cached."""
    if plan.base_model.from_run is not None or plan.base_model.blob is not None:
        return _earlier(plan, data)
    arch = Arch((data.n_features, *plan.base_model.hidden, data.n_classes))
    key = recipe_key(plan, arch, data)
    directory = directory or cache_dir() / "bases"
    path = directory / f"{key}.blob"
    cached = path.is_file()
    if cached:
        blob = path.read_bytes()
        model = Mlp.from_blob(blob)
    else:
        b = plan.base_model
        model = Mlp(arch, TrainParams(Strategy.FULL, learning_rate=b.learning_rate)).init_weights(b.seed)
        if b.epochs:
            sc = data.scenario
            model.fit(sc.x_base, sc.y_base, epochs=b.epochs, shuffle_seed=ORDER_SEED)
        blob = model.to_blob()
        directory.mkdir(parents=True, exist_ok=True)
        # write then rename, so a parallel run never reads half a blob
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    sc = data.scenario
    acc = float(np.mean(model.predict(sc.x_test) == sc.y_test)) if len(sc.x_test) else float("nan")
    if plan.base_model.epochs:
        check_learned(plan, arch, model, data)
    return BaseModel(arch, blob, key, hashlib.sha256(blob).hexdigest(), cached, acc)


def _earlier(plan: Plan, data: PreparedData) -> BaseModel:
    """The weights of an earlier run or a blob file (load_plan checked them at their line)."""
    from hil_service.lineage import resolve_base

    b = plan.base_model
    src = resolve_base(b.from_run, b.blob, b.strategy, b.device)
    if (src.sizes[0], src.sizes[-1]) != (data.n_features, data.n_classes):
        raise BaseModelError(f"architecture mismatch: the model {'-'.join(map(str, src.sizes))} of "
                             f"{src.path} does not take {plan.dataset} ({data.n_features} features, "
                             f"{data.n_classes} classes)")
    model = Mlp.from_blob(src.blob)
    sc = data.scenario
    acc = float(np.mean(model.predict(sc.x_test) == sc.y_test)) if len(sc.x_test) else float("nan")
    return BaseModel(model.arch, src.blob, src.sha256, src.sha256, True, acc, src.origin)
