"""Benchmark of streaming training data to the device over the wire protocol.

    python -m bench.stream [--samples N] > stream.json

Prints one JSON object. Method:
- transports: "native" (the POSIX host build on a pty) and "qemu" (the mps2
  image on QEMU's mps2-an386 with its UART on a loopback TCP socket,
  -icount shift=6);
- for float32 and int8 features and several TRAIN batch sizes, the digits
  stream (64 features, 10 classes) is sent with Device.train() to a
  configured 64-32-10 model (strategy full); samples_per_second is wall time
  on this machine, wire bytes count both directions (requests and replies,
  COBS and delimiters included), payload bytes are the sample records
  (label and features) and payload_share their ratio;
- limit_samples_per_second_115200: what a 115200-baud UART could carry
  (11520 bytes/s) at the measured wire bytes per sample;
- instructions_per_step: the device's SysTick count per training step
  (forward + backward + update, METRICS after resetting it) under
  -icount shift=6, converted with instructions = ticks x 40 / 2^6, for every
  strategy on an386 (Cortex-M4F) and an385 (Cortex-M3, soft float).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from hil_service import datasets
from hil_service.backends.native import start_native
from hil_service.backends.qemu import instructions_from_ticks, start_qemu
from hil_service.device import Device
from hil_service.firmware_build import build_firmware_mps2, build_firmware_posix
from hil_service.protocol import Quantization
from hil_service.reference import Arch, Strategy, TrainParams

SHIFT = 6
ARCH = Arch((64, 32, 10))
BATCHES = {"float32": [1, 4, 16, 31], "int8": [1, 4, 16, 64, 124]}


def start(kind: str, board: str = "an386"):
    if kind == "native":
        return start_native(build_firmware_posix())
    return start_qemu(build_firmware_mps2(board), f"mps2-{board}", SHIFT)


def stream_figures(kind: str, x, y) -> dict:
    out: dict = {}
    with start(kind) as target:
        dev = Device.open(target.serial_url, timeout=10)
        try:
            dev.hello()
            dev.configure(ARCH, TrainParams(Strategy.FULL, learning_rate=0.01), seed=1)
            for enc, sizes in BATCHES.items():
                quant = Quantization.for_range(0.0, 1.0) if enc == "int8" else None
                for size in sizes:
                    print(f"bench.stream: {kind} {enc} batch {size} ...", file=sys.stderr)
                    st = dev.link.stats
                    sent0, recv0, pay0 = st.bytes_sent, st.bytes_received, st.payload_bytes
                    t0 = time.perf_counter()
                    dev.train(x, y, batch_size=size, quant=quant)
                    dt = time.perf_counter() - t0
                    wire = (st.bytes_sent - sent0) + (st.bytes_received - recv0)
                    payload = st.payload_bytes - pay0
                    out[f"{enc}_batch{size}"] = {
                        "samples_per_second": round(len(x) / dt, 1),
                        "wire_bytes_per_sample": round(wire / len(x), 2),
                        "payload_share": round(payload / wire, 4),
                        "limit_samples_per_second_115200": round(11520 / (wire / len(x)), 1),
                    }
        finally:
            dev.close()
    return out


def instructions_per_step(board: str, x, y) -> dict:
    out = {}
    with start("qemu", board) as target:
        dev = Device.open(target.serial_url, timeout=10)
        try:
            dev.hello()
            for strategy in Strategy:
                print(f"bench.stream: instructions {board} {strategy.name.lower()} ...", file=sys.stderr)
                dev.configure(ARCH, TrainParams(strategy, learning_rate=0.05), seed=1)
                dev.train(x, y)
                m = dev.metrics()
                steps = m.trained
                phases = {p: instructions_from_ticks(getattr(m, p).sum, SHIFT) / steps
                          for p in ("forward", "backward", "update")}
                out[strategy.name.lower()] = {
                    "instructions_per_step": round(sum(phases.values())),
                    **{f"{p}_instructions": round(v) for p, v in phases.items()},
                    "steps": steps,
                }
        finally:
            dev.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=496, help="digits samples streamed per measurement")
    args = ap.parse_args(argv)
    ds = datasets.load("digits")
    x, y = ds.x[: args.samples], ds.y[: args.samples]
    result = {
        "benchmark": "stream",
        "samples": len(x),
        "features": int(x.shape[1]),
        "transports": {kind: stream_figures(kind, x, y) for kind in ("native", "qemu")},
        "icount_shift": SHIFT,
        "instructions_per_step": {board: instructions_per_step(board, x[:200], y[:200])
                                  for board in ("an386", "an385")},
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    q = result["transports"]["qemu"]["float32_batch16"]
    print(f"bench.stream: qemu float32 batch 16: {q['samples_per_second']} samples/s, "
          f"payload share {q['payload_share']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
