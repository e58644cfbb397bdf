"""Benchmark of federated learning on Flower across emulated devices.

    python -m bench.federated [--plan test_plans/federated.yaml] [--rounds N]
                              [--compression none,int8,topk(0.1)] > federated.json

Prints one JSON object. Method: the plan's first federated strategy run is run
through the real runner (SuperLink + one SuperNode per device on loopback, the
plan's devices from fixtures/lab.yaml) once per compression; for each: the
global accuracy per round on the host twin, final accuracy, the twin
baselines (centralised on all partitions, local-only per device), rounds to the
plan's target, Flower bytes per round (parameters down and up, all devices),
serial bytes per round, each device's local accuracy before/after and its
median training step (device clock), the host wall time per round and of the
whole run. The accuracy cost of a compression is its final accuracy minus the
dense (none) run's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hil_service.inventory import load_inventory
from hil_service.plan import load_plan
from hil_service.runner import run_plan


class _Reporter:
    def event(self, device: str, message: str) -> None:
        print(f"bench.federated: {device}: {message}", file=sys.stderr)

    def stream(self, device: str, strategy: str, done: int, total: int) -> None:
        print(f"bench.federated: {strategy}: round {done}/{total}", file=sys.stderr)


def _variant(plan_path: Path, compression: str, rounds: int | None, out: Path) -> Path:
    raw = yaml.safe_load(plan_path.read_text())
    run = next(r for r in raw["strategies"] if "federated" in r)
    run["federated"]["compression"] = compression
    if rounds is not None:
        run["federated"]["rounds"] = rounds
    run["name"] = f"{run['name']}_{compression.replace('(', '').replace(')', '').replace('.', '')}"
    raw["strategies"] = [run]
    path = out / f"{run['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def measure(plan_path: Path, compression: str, rounds: int | None, lab: Path | None,
            lock_timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-federated-") as tmp:
        out = Path(tmp)
        path = _variant(plan_path, compression, rounds, out)
        plan = load_plan(path)
        inv = load_inventory(lab) if lab else load_inventory()
        spec = plan.strategies[0]
        assert spec.devices is not None
        devices = [inv.get(i) for i in spec.devices.ids]
        t0 = time.monotonic()
        outcome = run_plan(plan, path, devices, out / "run", _Reporter(), lock_timeout)
        wall = time.monotonic() - t0
        data = json.loads((out / "run" / "run.json").read_text())
    (run,) = data["runs"]
    return {"compression": compression, "status": outcome.status, "error": run.get("error"),
            "wall_seconds": round(wall, 1), "metrics": run.get("metrics", {}),
            "devices": {d: r["metrics"] for d, r in run.get("device_results", {}).items()},
            "accuracy_per_round": run.get("accuracy_per_round"),
            "missed": run.get("missed", []),
            "bytes_per_round_by_round": [r["flower_bytes_down"] + r["flower_bytes_up"]
                                         for r in run.get("federation_rounds", [])],
            "round_seconds_by_round": [round(r["seconds"], 2) for r in run.get("federation_rounds", [])]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, default=Path("test_plans/federated.yaml"))
    ap.add_argument("--inventory", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--lock-timeout", type=float, default=900.0,
                    help="seconds to wait for devices other runs hold (default 900)")
    ap.add_argument("--compression", default="none",
                    help="comma-separated: none, int8, topk(K) (default: none)")
    args = ap.parse_args(argv)
    results = [measure(args.plan, c.strip(), args.rounds, args.inventory, args.lock_timeout)
               for c in args.compression.split(",") if c.strip()]
    dense = next((r for r in results if r["compression"] == "none"), None)
    for r in results:
        fa, da = r["metrics"].get("final_accuracy"), dense and dense["metrics"].get("final_accuracy")
        r["accuracy_cost_vs_dense"] = (da - fa) if fa is not None and da is not None else None
    print(json.dumps({"plan": str(args.plan), "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
