"""Continual learning on the host twin: naive fine-tuning, random, herding and distilled
replay, and distilled replay with growth, against joint training; class-incremental.

    python -m bench.continual [--datasets digits,japanese_vowels] [--seeds 3] [--budget 0.02]
                              [--epochs 3] [--ratio 2] [--encoding int8] [--exact]

The schedule is the `continual` workflow's own (hil_service/workflows/continual_schedule.py)
run on the twin (TwinLearner: bit-exact to the device with --exact, else BLAS sums that
differ from it by rounding only): per seed the scenario splits base 0.5 / stream 0.25 /
test 0.25 (stratified, seeded); task 0's classes are pretrained on the host on the base
split (the data set's recipe); each later task trains `epochs` passes over its stream
samples with `ratio` replay steps after each; the memory holds floor(budget x (base +
stream samples)) samples, split evenly over the classes seen. Growth starts from hidden
16 and widens by 8 up to 64 while the seen classes' test accuracy is below 0.9. The
joint reference trains the final-size model on all tasks' data at once. Figures are
means over the seeds; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from hil_service import datasets
from hil_service.data.recipes import recipe
from hil_service.protocol import Quantization
from hil_service.reference import Strategy, TrainParams
from hil_service.workflows.continual_data import build_tasks
from hil_service.workflows.continual_metrics import average_accuracy, backward_transfer, forgetting
from hil_service.workflows.continual_schedule import (
    Recipe,
    TwinLearner,
    inference_macs,
    joint_accuracy,
    pretrain_base,
    run_schedule,
)
from hil_service.workflows.continual_spec import ContinualSpec

TASKS: dict[str, list[list[int]]] = {
    "digits": [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]],
    "japanese_vowels": [[0, 1, 2, 3], [4, 5], [6, 7], [8]],
    "pickup_gesture": [[0, 1, 2, 3, 4], [5, 6], [7, 8], [9]],
}
HIDDEN = (32,)
GROWTH = {"hidden": [16], "accuracy_standard": 0.9, "grow_by": 8, "max_hidden": 64}
METHODS: dict[str, dict[str, Any]] = {
    "naive": {"replay": "none"},
    "random": {"replay": "random"},
    "herding": {"replay": "herding"},
    "distilled": {"replay": "distilled"},
    "distilled_growth": {"replay": "distilled", **GROWTH},
    # the fixed models growth starts from and may reach (the paper's "larger fixed model")
    "distilled_fixed16": {"replay": "distilled", "hidden": [16]},
    "distilled_fixed64": {"replay": "distilled", "hidden": [64]},
}


def run_one(dataset: str, method: str, seed: int, a: argparse.Namespace) -> dict[str, Any]:
    ds = datasets.load(dataset)
    sc = datasets.scenario(ds, 0.5, 0.25, 0.25, seed)
    cfg = dict(METHODS[method])
    if cfg["replay"] != "none":
        cfg["budget"] = {"fraction": a.budget}
    spec = ContinualSpec.model_validate({"tasks": TASKS[dataset], "epochs": a.epochs,
                                         "ratio": a.ratio, **cfg})
    seq = build_tasks(spec, sc, ds.n_classes, ds.image_shape)
    lr = float(recipe(dataset).get("learning_rate", 0.05))
    r = Recipe(30, lr, 7)
    start, blob, _ = pretrain_base(seq, spec.hidden or HIDDEN, r)
    quant = Quantization.for_range(0.0, 1.0) if a.encoding == "int8" else None
    learner = TwinLearner(TrainParams(Strategy.FULL, learning_rate=lr), quant, exact=a.exact)
    out = run_schedule(learner, seq, spec, start, blob, seed=7, encoding=a.encoding)
    return {"R": out.R, "average_accuracy": average_accuracy(out.R), "forgetting": forgetting(out.R),
            "backward_transfer": backward_transfer(out.R), "replay_bytes": out.replay_bytes,
            "training_macs_total": out.training_macs, "inference_macs": inference_macs(out.arch),
            "model_params": out.arch.n_params, "growth_steps": out.growth_steps,
            "arch": str(out.arch), "joint_accuracy": joint_accuracy(seq, out.arch, r),
            "train_pool": seq.n_train_pool}


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in runs]))


def measure(dataset: str, a: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": TASKS[dataset]}
    for method in METHODS:
        runs = [run_one(dataset, method, s, a) for s in range(1, a.seeds + 1)]
        out[method] = {k: _mean(runs, k) for k in
                       ("average_accuracy", "forgetting", "backward_transfer", "replay_bytes",
                        "training_macs_total", "inference_macs", "model_params", "growth_steps")}
        out[method]["per_seed_average_accuracy"] = [round(r["average_accuracy"], 4) for r in runs]
        out[method]["arch_per_seed"] = [r["arch"] for r in runs]
        out[method]["R_seed1"] = [[None if v is None else round(v, 3) for v in row]
                                  for row in runs[0]["R"]]
        out[method]["joint_accuracy"] = _mean(runs, "joint_accuracy")
        out["replay_fraction"] = a.budget
        out["train_pool"] = runs[0]["train_pool"]
        print(dataset, method, json.dumps({k: v for k, v in out[method].items()
                                           if not k.startswith("R_")}), file=sys.stderr, flush=True)
    out["joint"] = {"average_accuracy": out["distilled"]["joint_accuracy"],
                    "arch": f"{HIDDEN[0]} hidden"}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.continual", description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="digits,japanese_vowels")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.02, help="memory as a fraction of training data")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--ratio", type=int, default=2)
    ap.add_argument("--encoding", choices=("float32", "int8"), default="int8")
    ap.add_argument("--exact", action="store_true", help="the bit-exact twin (slow)")
    a = ap.parse_args(argv)
    names = [d for d in a.datasets.split(",") if d]
    unknown = [d for d in names if d not in TASKS]
    if unknown:
        ap.error(f"no task sequence for {unknown[0]}; known: {', '.join(TASKS)}")
    result: dict[str, Any] = {"seeds": a.seeds, "epochs": a.epochs, "ratio": a.ratio,
                              "encoding": a.encoding, "exact": a.exact}
    with threadpool_limits(1):  # online steps are tiny products: BLAS threads only contend
        for d in names:
            result[d] = measure(d, a)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
