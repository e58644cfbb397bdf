#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run a test plan on the emulator: by default the
# smoke plan on QEMU. PLAN and BACKEND override; extra arguments go to `hil run`.
#   scripts/run.sh                                  # test_plans/smoke.yaml on QEMU
#   PLAN=test_plans/nightly.yaml scripts/run.sh     # the nightly matrix
#   BACKEND=auto scripts/run.sh --dut nrf52840dk-1  # a real board
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hil run "${PLAN:-test_plans/smoke.yaml}" --backend "${BACKEND:-qemu}" "$@"
