"""Benchmark of the C training core's strategies (host build).

    python -m bench.core [--steps N] > core.json

Prints one JSON object. Method (kept stable so that other on-device training
libraries can be measured the same way):
- digits 64-32-10: trained from scratch with online SGD (lr 0.05, 30 epochs)
  on 75 % of scikit-learn's digits, accuracy on the other 25 %;
  last_layer: the recipe of hil_service.core_eval.adapt_to_shift() instead
  (a base pretrained on the source domain, adapted on a shifted sensor).
- 784-32-16-10 (the TinyProp paper's MNIST MLP): one epoch of digits
  upsampled to 28x28; no accuracy (it is not a benchmark of that set).
- macs_*: the core's own counts per training step (forward: every step;
  backward: per trained step), averaged over the run.
- arena_bytes_*: odl_model_arena_bytes() for inference and for training under
  the strategy; arena_peak_bytes: what the model actually used.
- instructions_per_step: valgrind callgrind's instruction count inside
  odl_train_step() of an -O2 x86-64 build, over --steps steps after a warm-up
  of the same count, divided by the steps; null where valgrind is missing.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hil_service import datasets
from hil_service.core_eval import (
    DIGITS_ARCH,
    LEARNING_RATE,
    PAPER_ARCH,
    RunFigures,
    adapt_to_shift,
    train_from_scratch,
)
from hil_service.firmware_build import build_dir, host_core_library, make
from hil_service.native_core import NativeCore
from hil_service.reference import Arch, Strategy, TrainParams


def callgrind_instructions(arch: Arch, strategy: Strategy, dataset: str, steps: int) -> float | None:
    if shutil.which("valgrind") is None:
        return None
    make("host-bench")
    exe = build_dir() / "host" / "bench_step"
    ds = datasets.load(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.bin"
        rec = np.zeros(len(ds.x), dtype=[("x", "<f4", ds.n_features), ("y", "<u4")])
        rec["x"], rec["y"] = ds.x, ds.y
        order = np.random.default_rng(0).permutation(len(ds.x))
        rec[order].tofile(samples)
        counts = []
        for n in (steps, 2 * steps):
            out = Path(tmp) / f"cg.{n}"
            cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=odl_train_step",
                   f"--callgrind-out-file={out}", str(exe), str(int(strategy)), str(LEARNING_RATE),
                   str(samples), str(n), *map(str, arch.sizes)]
            subprocess.run(cmd, check=True, capture_output=True)
            m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
            counts.append(int(m.group(1)))
        # the difference drops whatever the first steps cost extra (cold state)
        return (counts[1] - counts[0]) / steps


def figures_json(fig: RunFigures, accuracy: bool, instructions: float | None) -> dict:
    return {
        "accuracy": round(fig.accuracy, 4) if accuracy else None,
        "macs_forward": fig.macs_forward,
        "macs_backward": round(fig.macs_backward, 1),
        "backward_share": round(fig.backward_share, 4),
        "k_mean": [round(k, 2) for k in fig.k_mean],
        "arena_bytes_inference": fig.arena_bytes_inference,
        "arena_bytes_training": fig.arena_bytes_training,
        "arena_peak_bytes": fig.arena_peak,
        "instructions_per_step": None if instructions is None else round(instructions),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=500, help="training steps counted by callgrind (default 500)")
    args = ap.parse_args(argv)
    core = NativeCore(host_core_library())
    models: dict[str, dict] = {}
    for label, arch, dataset in (("digits_64-32-10", DIGITS_ARCH, "digits"),
                                 ("paper_784-32-16-10", PAPER_ARCH, "digits28")):
        per_strategy = {}
        for strategy in Strategy:
            print(f"bench.core: {label} {strategy.name.lower()} ...", file=sys.stderr)
            params = TrainParams(strategy, learning_rate=LEARNING_RATE)
            entry: dict = {}
            if dataset == "digits" and strategy in (Strategy.LAST_LAYER, Strategy.LAST_LAYER_Q8):
                adapt = adapt_to_shift(core, params)
                fig = adapt.run
                entry["scenario"] = {"shift": adapt.shift, "base_accuracy_shifted": round(adapt.base_accuracy_shifted, 4),
                                     "stream_samples": adapt.stream_samples}
            else:
                fig = train_from_scratch(core, params, arch, dataset, epochs=30 if dataset == "digits" else 1)
            instr = callgrind_instructions(arch, strategy, dataset, args.steps)
            per_strategy[strategy.name.lower()] = {**figures_json(fig, dataset == "digits", instr), **entry}
        models[label] = per_strategy
    result = {
        "benchmark": "core",
        "host": {"machine": platform.machine(), "python": platform.python_version(),
                 "compiler": subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]},
        "models": models,
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    d = models["digits_64-32-10"]
    print(f"bench.core: digits full {d['full']['accuracy']}, tinyprop {d['tinyprop']['accuracy']} "
          f"at {d['tinyprop']['backward_share']:.0%} of full backprop's backward MACs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
