"""Replay baselines on the host twin: naive fine-tuning vs random, herding and
distilled (distribution matching) replay, class-incremental digits.

    python -m bench.replay [--dataset digits|japanese_vowels] [--seeds 3] [--budget 0.02] [--epochs 5]

Protocol: the data set split 75/25 (stratified, per seed); tasks TASKS[dataset]
(digits [[0..4], [5, 6], [7, 8], [9]]); the first task is the base model
(features-32-classes, 30 epochs at the data set's recipe learning rate; the
sensor sets' normalisation is fitted on the whole 75 % training split);
each later task trains online for `epochs` passes over its own data, and a replay
method follows every new sample with one replay step (round robin over the memory).
The memory holds floor(budget * training samples) samples, split evenly over the
classes seen before the task. R[i][j] is the accuracy on task j's test samples after
task i; average accuracy is the mean of the last row; forgetting is the mean over
the old tasks of their best earlier accuracy minus the final one. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from hil_service import datasets, distill
from hil_service.data.recipes import recipe
from hil_service.reference import Arch, Mlp, Strategy, TrainParams

Task = tuple[int, ...]
TASKS: dict[str, tuple[Task, ...]] = {
    "digits": ((0, 1, 2, 3, 4), (5, 6), (7, 8), (9,)),
    "japanese_vowels": ((0, 1, 2, 3), (4, 5), (6, 7), (8,)),
}
METHODS = ("naive", "random", "herding", "distribution_matching")


def _lr(dataset: str) -> float:
    return float(recipe(dataset).get("learning_rate", 0.05))


def _accuracy_row(model: Mlp, x: np.ndarray, y: np.ndarray, tasks: tuple[Task, ...]) -> list[float]:
    pred = model.predict(x)
    return [float(np.mean(pred[np.isin(y, t)] == y[np.isin(y, t)])) for t in tasks]


def run(dataset: str, method: str, seed: int, budget: float, epochs: int) -> dict[str, Any]:
    ds = datasets.load(dataset)
    tasks = TASKS[dataset]
    sc = datasets.scenario(ds, base=0.75, stream=0.0, test=0.25, seed=seed)
    x, y, xt, yt = sc.x_base, sc.y_base, sc.x_test, sc.y_test
    memory = int(budget * len(x))
    model = Mlp(Arch((ds.n_features, 32, ds.n_classes)),
                TrainParams(Strategy.FULL, learning_rate=_lr(dataset))).init_weights(seed + 7)
    first = np.isin(y, tasks[0])
    model.fit(x[first], y[first], epochs=30, shuffle_seed=seed)
    rows = [_accuracy_row(model, xt, yt, tasks)]
    order = np.random.default_rng(seed)
    replay_bytes = 0
    for t in range(1, len(tasks)):
        seen = [c for task in tasks[:t] for c in task]
        old = np.isin(y, seen)
        rx = ry = None
        if method != "naive":
            k = distill.per_class(len(seen), ds.n_features, samples=memory)
            rs = distill.build(method, x[old], y[old], k, seed=seed, model=model)
            rx, ry = rs.x, rs.y
            replay_bytes = max(replay_bytes, rs.nbytes())
        new = np.flatnonzero(np.isin(y, tasks[t]))
        r = 0
        for _ in range(epochs):
            for i in order.permutation(new):
                model.train_step(x[i], int(y[i]))
                if rx is not None and ry is not None:
                    model.train_step(rx[r % len(rx)], int(ry[r % len(rx)]))
                    r += 1
        rows.append(_accuracy_row(model, xt, yt, tasks))
    final = rows[-1]
    forgetting = float(np.mean([max(rows[i][j] for i in range(j, len(tasks) - 1)) - final[j]
                                for j in range(len(tasks) - 1)]))
    return {"R": rows, "average_accuracy": float(np.mean(final)), "forgetting": forgetting,
            "replay_bytes": replay_bytes, "memory_samples": memory,
            "memory_fraction": memory / len(x)}


def joint(dataset: str, seed: int) -> float:
    ds = datasets.load(dataset)
    sc = datasets.scenario(ds, base=0.75, stream=0.0, test=0.25, seed=seed)
    model = Mlp(Arch((ds.n_features, 32, ds.n_classes)),
                TrainParams(Strategy.FULL, learning_rate=_lr(dataset))).init_weights(seed + 7)
    model.fit(sc.x_base, sc.y_base, epochs=30, shuffle_seed=seed)
    return float(np.mean(_accuracy_row(model, sc.x_test, sc.y_test, TASKS[dataset])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(TASKS), default="digits")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.02, help="memory as a fraction of training data")
    ap.add_argument("--epochs", type=int, default=5)
    a = ap.parse_args(argv)
    with threadpool_limits(1):  # online steps are tiny products: BLAS threads only contend
        return _measure(a)


def _measure(a: argparse.Namespace) -> int:
    out: dict[str, Any] = {"dataset": a.dataset, "tasks": [list(t) for t in TASKS[a.dataset]],
                           "budget": a.budget, "epochs": a.epochs}
    for m in METHODS:
        runs = [run(a.dataset, m, s, a.budget, a.epochs) for s in range(a.seeds)]
        out[m] = {"average_accuracy": float(np.mean([r["average_accuracy"] for r in runs])),
                  "forgetting": float(np.mean([r["forgetting"] for r in runs])),
                  "per_seed_average_accuracy": [round(r["average_accuracy"], 4) for r in runs],
                  "replay_bytes": runs[0]["replay_bytes"], "memory_samples": runs[0]["memory_samples"],
                  "R_seed0": [[round(v, 3) for v in row] for row in runs[0]["R"]]}
        print(m, json.dumps(out[m]), file=sys.stderr, flush=True)
    out["joint"] = {"average_accuracy": float(np.mean([joint(a.dataset, s) for s in range(a.seeds)]))}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
