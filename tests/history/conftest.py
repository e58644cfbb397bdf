"""Nights of a plan written with the runner's own journal API (RunJournal), finished the way
the runner finishes them (history.finish_with_history): fast stand-ins for real runs."""

from __future__ import annotations

from pathlib import Path

from hil_service.history import finish_with_history
from hil_service.results import RunJournal

PLAN = "nightly"


def night(root: Path, day: int, accuracy: float, p95: float = 1500.0, *, status: str = "passed",
          device: str = "qemu-an385", strategy: str = "tinyprop", fail_on_regression: bool = False,
          plan: str = PLAN, clock: str = "icount") -> Path:
    """One finished run of `plan` dated 2026-11-<day> 02:00 UTC under root; returns its directory."""
    run_dir = root / f"{plan}-202611{day:02d}T020000Z"
    run_dir.mkdir(parents=True)
    journal = RunJournal(run_dir, {"name": plan, "path": "plan.yaml", "sha256": "ab" * 32})
    journal.set("started", f"2026-11-{day:02d}T02:00:00.000+00:00")
    if fail_on_regression:
        journal.set("fail_on_regression", True)
    journal.device(device, latency={"source": clock})
    index = journal.start_run(device, strategy)
    journal.update_run(index, metrics={"accuracy": accuracy, "accuracy_before": 0.70,
                                       "train_step_us_p95": p95, "samples_trained": 200})
    if status == "error":
        journal.finish_run(index, "error", error="link timeout")
    else:
        journal.finish_run(index, status, expectations=[{
            "metric": "accuracy", "expected": ">= 0.5", "actual": accuracy, "passed": True,
            "reason": f"accuracy {accuracy} >= 0.5"}])
    finish_with_history(journal)
    return run_dir
