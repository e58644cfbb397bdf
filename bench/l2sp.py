"""L2-SP against unregularised backprop when a pretrained model adapts to a
shifted sensor: target accuracy, and what the adaptation costs on the source
domain (model loss and experience consistency, issue 13). Runs the C core
built for the host (the device's code, bit-identical to the firmware's).

    python -m bench.l2sp [--seeds 10] [--shifts sensor_offset,misaligned]
                         [--strategies full] [--lrs 0.01,0.02,0.05]
                         [--lambdas 0,0.01,0.03,0.1,0.3,1]

Protocol (as test_plans/strategies.yaml): digits split base/stream/test
0.5/0.25/0.25 by seed, the base pretrained on the host (64-32-10, 30 epochs,
lr 0.05), the stream and test shifted; the device adapts with one pass over
the stream (450 samples) from the base's weights, which are also W0.
Per seed: target accuracy (shifted test split); source_accuracy_after
(the same test samples unshifted); negative_flip_rate: share of those source
samples the base classified right and the adapted model gets wrong;
prediction_churn: share whose prediction changed. Means and standard
deviations over seeds; per (shift, strategy, lr) the deltas of each lambda
against lambda 0 and whether it meets issue 13's bar (flip rate lower,
source accuracy higher, target accuracy at most 1 point lower, means).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from hil_service import datasets
from hil_service.core_eval import pretrain_base
from hil_service.firmware_build import host_core_library
from hil_service.native_core import NativeCore, NativeModel
from hil_service.reference import Strategy, TrainParams

METRICS = ("target_accuracy", "source_accuracy_after", "negative_flip_rate", "prediction_churn")


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def trust(base_pred: np.ndarray, adapted_pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Model loss and experience consistency on the source test split."""
    right = base_pred == y
    return {"source_accuracy_after": float(np.mean(adapted_pred == y)),
            "negative_flip_rate": float(np.mean(right & (adapted_pred != y))),
            "prediction_churn": float(np.mean(adapted_pred != base_pred))}


def run(seeds: int, shifts: list[str], strategies: list[str], lrs: list[float],
        lambdas: list[float]) -> dict[str, Any]:
    core = NativeCore(host_core_library())
    ds = datasets.load("digits")
    rows: dict[tuple[str, str, float, float], list[dict[str, float]]] = {}
    base_rows: dict[str, list[dict[str, float]]] = {s: [] for s in shifts}
    for shift in shifts:
        for seed in range(seeds):
            sc = datasets.scenario(ds, 0.5, 0.25, 0.25, seed=seed, shift=shift)
            base = pretrain_base(sc.x_base, sc.y_base)
            base_src = base.predict(sc.x_test_base_domain)
            base_rows[shift].append({"source_accuracy": float(np.mean(base_src == sc.y_test)),
                                     "target_accuracy": base.accuracy(sc.x_test, sc.y_test)})
            for name in strategies:
                for lr in lrs:
                    for lam in lambdas:
                        params = TrainParams(Strategy[name.upper()], learning_rate=lr, l2sp_lambda=lam)
                        m = NativeModel(core, base.arch, params)
                        m.load_blob(base.to_blob())
                        m.train_sequence(sc.x_stream, sc.y_stream)
                        fig = {"target_accuracy": m.accuracy(sc.x_test, sc.y_test),
                               **trust(base_src, m.predict(sc.x_test_base_domain), sc.y_test)}
                        rows.setdefault((shift, name, lr, lam), []).append(fig)
    results = []
    for (shift, name, lr, lam), figs in rows.items():
        entry: dict[str, Any] = {"shift": shift, "strategy": name, "learning_rate": lr,
                                 "l2sp_lambda": lam}
        for k in METRICS:
            v = np.array([f[k] for f in figs])
            entry[k] = round(float(v.mean()), 4)
            entry[f"{k}_std"] = round(float(v.std()), 4)
        ref = rows[(shift, name, lr, 0.0)] if (shift, name, lr, 0.0) in rows else None
        if ref is not None and lam > 0:
            d = {k: float(np.mean([f[k] for f in figs]) - np.mean([f[k] for f in ref])) for k in METRICS}
            entry["vs_unregularised"] = {k: round(v, 4) for k, v in d.items()}
            entry["meets_issue_13"] = bool(d["negative_flip_rate"] < 0 and d["source_accuracy_after"] > 0
                                           and d["target_accuracy"] >= -0.01)
        results.append(entry)
    bases = {s: {k: round(float(np.mean([b[k] for b in rows_])), 4) for k in rows_[0]}
             for s, rows_ in base_rows.items()}
    return {"seeds": seeds, "stream_samples": 450, "epochs": 1, "base": bases, "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--shifts", default="sensor_offset,misaligned")
    ap.add_argument("--strategies", default="full")
    ap.add_argument("--lrs", default="0.01,0.02,0.05")
    ap.add_argument("--lambdas", default="0,0.01,0.03,0.1,0.3,1")
    a = ap.parse_args(argv)
    lambdas = _floats(a.lambdas)
    if 0.0 not in lambdas:
        lambdas.insert(0, 0.0)  # the unregularised reference
    with threadpool_limits(1):
        out = run(a.seeds, a.shifts.split(","), a.strategies.split(","), _floats(a.lrs), lambdas)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
