"""How the link fares on a line that fails on purpose.

    python -m bench.faults [--seeds 3] [--samples 120] > faults.json

Prints one JSON object. Method:
- the smoke plan's workload (test_plans/smoke.yaml: digits, sensor_offset
  shift, its pretrained 64-32-10 base, last-layer training, learning rate
  0.05), with the first `--samples` stream samples in TRAIN frames of 16
  and `--test-samples` test samples evaluated before and after;
- the mps2 firmware on QEMU mps2-an386 (-icount shift=6), its UART socket
  reached through hil_service.testing.faultproxy with one fault kind at one
  per-byte rate in both directions from the first byte (HELLO included),
  seeded per run; every run boots a fresh QEMU;
- a run does HELLO, CONFIGURE, LOAD_WEIGHTS, EVALUATE, METRICS (reset),
  TRAIN, EVALUATE, METRICS, READ_WEIGHTS, with Device.open's defaults
  (a 30 s no-progress budget);
- the reference is one run through the proxy with no faults; a faulty run
  "matches" when its final weights and both evaluations are byte-identical
  to it; lost / duplicated samples are the stream samples the device's
  METRICS `seen` lacks / has beyond the stream (batches: per 16);
- resends are frames sent again (LinkStats.resent); syncs are markers sent
  to learn the device's position; fragments are FRAGMENT pieces sent
  (protocol 5: an item whose one-item frame no longer fits the line's size
  goes in pieces), fragmented the items sent so; wall time is the whole run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil_service.backends.qemu import start_qemu
from hil_service.base_models import prepare, prepare_data
from hil_service.device import Device
from hil_service.errors import HilError
from hil_service.firmware_build import build_firmware_mps2
from hil_service.plan import load_plan
from hil_service.reference import Arch, TrainParams
from hil_service.testing.faultproxy import FaultKind, FaultProxy, FaultSpec

ROOT = Path(__file__).resolve().parents[1]
SHIFT = 6
BATCH = 16
RATES = (1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Workload:
    arch: Arch
    params: TrainParams
    blob: bytes
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def smoke_workload(samples: int | None = None, test_samples: int | None = None) -> Workload:
    """The smoke plan's base, parameters and data; the first samples of its stream and test."""
    plan = load_plan(ROOT / "test_plans" / "smoke.yaml")
    data = prepare_data(plan)
    base = prepare(plan, data)
    spec = plan.strategies[0]
    sc = data.scenario
    n = samples or spec.stream.samples or len(sc.x_stream)
    t = len(sc.x_test) if test_samples is None else test_samples
    return Workload(base.arch, spec.train_params(), base.blob, sc.x_stream[:n], sc.y_stream[:n],
                    sc.x_test[:t], sc.y_test[:t])


@dataclass
class RunResult:
    kind: str
    rate: float
    seed: int
    completed: bool = False
    error: str | None = None
    wall_s: float = 0.0
    resends: int = 0
    syncs: int = 0
    fetched: int = 0
    lost_replies: int = 0
    shrinks: int = 0
    fragments: int = 0
    fragmented: int = 0
    link_errors: dict[str, int] = field(default_factory=dict)
    faults_up: int = 0
    faults_down: int = 0
    seen: int | None = None
    lost_samples: int | None = None
    duplicated_samples: int | None = None
    weights_equal: bool | None = None
    evaluations_equal: bool | None = None
    # kept for comparison, not printed
    weights: bytes = b""
    evaluations: tuple[bytes, ...] = ()


def run_once(elf: Path, w: Workload, spec: FaultSpec | None, seed: int,
             budget: float = 30.0) -> RunResult:
    res = RunResult(spec.kind.value if spec else "none", spec.rate if spec else 0.0, seed)
    start = time.monotonic()
    with start_qemu(elf, "mps2-an386", SHIFT) as target, \
            FaultProxy(target.serial_url, spec, spec, seed) as proxy:
        dev = Device.open(proxy.url, budget=budget)
        try:
            dev.hello()
            dev.configure(w.arch, w.params)
            dev.load_weights(w.blob)
            evaluations = []
            if len(w.x_test):
                evaluations.append(dev.evaluate(w.x_test, w.y_test))
            dev.metrics(reset=True)
            dev.train(w.x, w.y, batch_size=BATCH)
            if len(w.x_test):
                evaluations.append(dev.evaluate(w.x_test, w.y_test))
            m = dev.metrics()
            res.weights = dev.read_weights()
            res.evaluations = tuple(e.predictions.predicted.tobytes() + e.predictions.p1.tobytes()
                                    for e in evaluations)
            res.seen = m.seen
            res.lost_samples = max(0, len(w.x) - m.seen)
            res.duplicated_samples = max(0, m.seen - len(w.x))
            res.completed = True
        except HilError as exc:
            res.error = f"{type(exc).__name__}: {exc}"
        finally:
            st = dev.link.stats
            res.resends, res.syncs, res.fetched = st.resent, st.syncs, st.fetched
            res.lost_replies, res.shrinks, res.link_errors = st.lost_replies, st.shrinks, st.errors
            res.fragments, res.fragmented = st.fragments, st.fragmented
            dev.close()
        res.faults_up, res.faults_down = proxy.up.tally.total, proxy.down.tally.total
    res.wall_s = round(time.monotonic() - start, 2)
    return res


def summarise(runs: list[RunResult]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted({(r.kind, r.rate) for r in runs}, key=lambda k: (k[0], k[1]))
    for kind, rate in keys:
        group = [r for r in runs if (r.kind, r.rate) == (kind, rate)]
        done = [r for r in group if r.completed]
        rows.append({
            "kind": kind, "rate": rate, "runs": len(group),
            "completed_share": len(done) / len(group),
            "weights_equal_share": sum(bool(r.weights_equal) for r in group) / len(group),
            "lost_batches": sum(math.ceil((r.lost_samples or 0) / BATCH) for r in done),
            "duplicated_batches": sum(math.ceil((r.duplicated_samples or 0) / BATCH) for r in done),
            "resends_mean": round(float(np.mean([r.resends for r in group])), 1),
            "syncs_mean": round(float(np.mean([r.syncs for r in group])), 1),
            "fragments_mean": round(float(np.mean([r.fragments for r in group])), 1),
            "wall_s_mean": round(float(np.mean([r.wall_s for r in group])), 1),
            "wall_s_max": max(r.wall_s for r in group),
            "faults_mean": round(float(np.mean([r.faults_up + r.faults_down for r in group])), 1),
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(k.value for k in FaultKind))
    ap.add_argument("--rates", default=",".join(str(r) for r in RATES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=120)
    ap.add_argument("--test-samples", type=int, default=40)
    ap.add_argument("--budget", type=float, default=30.0)
    args = ap.parse_args(argv)
    kinds = [FaultKind(k) for k in args.kinds.split(",")]
    rates = [float(r) for r in args.rates.split(",")]

    elf = build_firmware_mps2("an386")
    w = smoke_workload(args.samples, args.test_samples)
    ref = run_once(elf, w, None, 0, args.budget)
    if not ref.completed:
        raise SystemExit(f"the fault-free reference run failed: {ref.error}")
    runs: list[RunResult] = []
    for kind in kinds:
        for rate in rates:
            for seed in range(1, args.seeds + 1):
                r = run_once(elf, w, FaultSpec(kind, rate), seed, args.budget)
                if r.completed:
                    r.weights_equal = r.weights == ref.weights
                    r.evaluations_equal = r.evaluations == ref.evaluations
                runs.append(r)
                print(f"{kind.value:9} {rate:g} seed {seed}: "
                      f"{'ok' if r.completed else 'FAILED'} {r.wall_s:6.1f} s, "
                      f"{r.resends} resends, {r.fragments} pieces, weights equal {r.weights_equal} "
                      f"{r.error or ''}", file=sys.stderr, flush=True)
    drop = {"weights", "evaluations"}
    print(json.dumps({
        "method": __doc__,
        "workload": {"plan": "test_plans/smoke.yaml", "samples": len(w.x),
                     "test_samples": len(w.x_test), "batch_size": BATCH, "board": "mps2-an386",
                     "icount_shift": SHIFT, "budget_s": args.budget},
        "reference": {"wall_s": ref.wall_s, "seen": ref.seen},
        "summary": summarise(runs),
        "runs": [{k: v for k, v in asdict(r).items() if k not in drop} for r in runs],
    }, indent=1))


if __name__ == "__main__":
    main()
