"""`hil`: run plans on devices, list the lab, flash an image, report on runs, serve metrics.

Exit codes: 0 every expectation held; 1 some expectation missed; 2 bad input
or a device/run error (the message says which file, field or device).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from hil_service.backends.capabilities import FlashResult
from hil_service.bringup import BringUp, StaleImage
from hil_service.cancel import Cancelled, cancel_on_signals
from hil_service.errors import HilError
from hil_service.inventory import DEFAULT_INVENTORY, load_inventory
from hil_service.locks import DeviceLock
from hil_service.plan import BackendKind, backend_kinds, load_plan
from hil_service.selection import SelectionError, Skipped, check_device_names, select_pool
from hil_service.yaml_source import SourceError

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
DEFAULT_RUNS = Path("runs")


class ConsoleReporter:
    """Progress on stderr: events as lines, streaming as a bar on a terminal, else every 25 %."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], int] = {}
        self._t0 = time.monotonic()

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self._t0:6.1f}s]"

    def event(self, device: str, message: str) -> None:
        with self._lock:
            if self.tty:
                self.out.write("\r\033[K")
            self.out.write(f"{self._stamp()} {device}: {message}\n")
            self.out.flush()

    def stream(self, device: str, strategy: str, done: int, total: int) -> None:
        key = (device, strategy)
        with self._lock:
            if self.tty:
                width = 30
                filled = width * done // max(total, 1)
                self.out.write(f"\r\033[K{self._stamp()} {device} {strategy} "
                               f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
                if done >= total:
                    self.out.write("\n")
                self.out.flush()
                return
            quarter = 4 * done // max(total, 1)
            if quarter > self._last.get(key, 0) or done >= total:
                self._last[key] = quarter
                self.out.write(f"{self._stamp()} {device}: {strategy} streamed {done}/{total}\n")
                self.out.flush()


def _error(message: str) -> int:
    # one line, whatever the message held (a reason quoting a tool's output, a path with a newline)
    print(f"hil: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _new_out_dir(out: Path | None, plan_name: str) -> Path:
    from hil_service.results import new_run_dir

    if out is None:
        return new_run_dir(DEFAULT_RUNS, plan_name)
    if out.exists() and any(out.iterdir()):
        raise SourceError(out, None, "--out", "directory is not empty; results are never overwritten")
    out.mkdir(parents=True, exist_ok=True)
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from hil_service.base_models import prepare_data
    from hil_service.history_cli import regression_summary
    from hil_service.plan_limits import check_devices
    from hil_service.results import load_run
    from hil_service.runner import check_plan_fits, run_plan

    if args.superlink:
        # the federated workflow joins this SuperLink instead of starting one (docs/federated.md)
        os.environ["HIL_FLOWER_SUPERLINK"] = args.superlink
    plan = load_plan(args.plan)
    inventory = load_inventory(args.inventory)
    backend = BackendKind(args.backend) if args.backend else None
    check_device_names(plan, inventory)
    selection = select_pool(inventory, plan.devices, backend, args.dut)
    devices = selection.devices
    check_plan_fits(plan, prepare_data(plan), devices)
    check_devices(args.plan, plan, devices)  # the model's arena on each device, before boot
    out = _new_out_dir(args.out, plan.name)
    reporter = ConsoleReporter()
    reporter.event("host", f"plan {plan.name}: {len(plan.strategies)} strategy run(s) on "
                           f"{', '.join(d.id for d in devices)}; results in {out}")
    try:
        outcome = run_plan(plan, Path(args.plan), devices, out, reporter, args.lock_timeout,
                           fail_on_regression=args.fail_on_regression, spares=selection.spares,
                           skipped=selection.skipped, require_all=args.require_all_devices)
    except KeyboardInterrupt:
        if args.pushgateway:  # a cancelled night is pushed as "stopped", quickly: a kill follows
            _push(out, args.pushgateway, timeout=2.0)
        raise
    push_failed = bool(args.pushgateway) and not _push(outcome.directory, args.pushgateway)
    for s in outcome.summaries:
        print(s.line())
    regression_lines, regression_tail = regression_summary(load_run(outcome.directory))
    for line in regression_lines:
        print(line)
    passed = sum(s.status == "passed" for s in outcome.summaries)
    failed = sum(s.status == "failed" for s in outcome.summaries)
    errors = sum(s.status == "error" for s in outcome.summaries)
    print(f"{plan.name}: {passed} passed, {failed} failed, {errors} errors{regression_tail} "
          f"on {len(devices)} device(s){_gaps(outcome.status, selection.skipped)}; "
          f"{outcome.directory / 'run.json'}")
    if outcome.status == "passed" and not push_failed:
        return EXIT_OK
    return EXIT_FAILED if outcome.status == "failed" else EXIT_ERROR


def _gaps(status: str, skipped: Sequence[Skipped]) -> str:
    """The summary line's tail: devices the selection could not use, a stopped run."""
    tail = ""
    if skipped:
        tail += f", {len(skipped)} skipped (" + "; ".join(f"{x.device}: {x.reason}"
                                                         for x in skipped) + ")"
    return tail + (", STOPPED" if status == "stopped" else "")


def _push(run_dir: Path, gateway: str, timeout: float = 10.0) -> bool:
    """Push the run's metrics (--pushgateway); False, with the reason on stderr, if that failed."""
    from hil_service.metrics_push import push_run

    try:
        print(f"pushed {push_run(run_dir, gateway, timeout)} metric groups to {gateway}",
              file=sys.stderr)
    except HilError as exc:
        _error(str(exc))
        return False
    return True


def cmd_list(args: argparse.Namespace) -> int:
    from hil_service.backends.registry import availability, load_failures

    inventory = load_inventory(args.inventory)
    rows = [("ID", "BACKEND", "BOARD", "AVAILABLE", "TAGS")]
    states = {d.id: availability(d) for d in inventory}
    for d in inventory:
        state = states[d.id]
        rows.append((d.id, d.backend, d.board, ("yes: " if state.ok else "no: ") + state.reason,
                     ",".join(d.tags)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    up = sum(s.ok for s in states.values())
    invalid = len(inventory.invalid())
    print(f"{len(inventory)} devices in {inventory.path}, {up} available"
          + (f", {invalid} invalid" if invalid else ""))
    for reason in load_failures().values():
        print(f"warning: {reason}", file=sys.stderr)
    return EXIT_OK


def cmd_flash(args: argparse.Namespace) -> int:
    from hil_service.bringup import BringUp

    entry = load_inventory(args.inventory).get(args.dut)
    bring = BringUp(entry, args.image,
                    events=lambda m: print(f"{entry.id}: {m}", file=sys.stderr))
    with DeviceLock(bring.lock_key):
        return _flash_locked(bring, args.no_verify)


def _flash_locked(bring: BringUp, no_verify: bool) -> int:
    """Flash (a board) or boot (an emulator), then HELLO and the build-id check, via BringUp."""
    from hil_service.backends.capabilities import Flasher

    entry, info = bring.entry, bring.image
    if no_verify and isinstance(bring.backend, Flasher):
        # nothing is read back and the firmware is not asked who it is
        report = bring.backend.flash(entry, info.path, verify=False)
        print("\n".join(f"{entry.id}: {line}" for line in report.summary_lines()))
        return EXIT_OK
    with bring:
        try:
            live = bring.up()
        except StaleImage as exc:
            return _error(str(exc))
        except HilError as exc:
            return _error(bring.diagnose(exc))
        flashed = getattr(live.target, "report", None)
        if isinstance(flashed, FlashResult):
            print("\n".join(f"{entry.id}: {line}" for line in flashed.summary_lines()))
        hello = live.hello
        print(f"{entry.id}: {info.path.name} boots on {entry.backend}: firmware {hello.fw_version} "
              f"git {hello.git_hash} board {hello.board}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from hil_service.report import write_report
    from hil_service.results import effective_status, load_run

    data = load_run(args.run_dir)
    status = effective_status(data)  # "abandoned": left "running" by a process that is gone
    path = write_report(data, args.run_dir / "report.html")
    runs = data["runs"]
    for run in runs:
        held = sum(v["passed"] for v in run["expectations"])
        acc = run["metrics"].get("accuracy")
        print(f"{run['status'].upper():6} {run['device']} {run['strategy']}: "
              f"{held}/{len(run['expectations'])} expectations"
              + (f", accuracy {acc:.3f}" if acc is not None else "")
              + (f"; {run['error']}" if run.get("error") else ""))
    from hil_service.history_cli import regression_summary

    regression_lines, regression_tail = regression_summary(data)
    for line in regression_lines:
        print(line)
    print(f"{data['plan']['name']}: {status}, {len(runs)} runs{regression_tail}; report {path}")
    return {"passed": EXIT_OK, "failed": EXIT_FAILED}.get(status, EXIT_ERROR)


def cmd_serve(args: argparse.Namespace) -> int:
    from hil_service.metrics_export import serve

    serve(args.runs, args.port, args.address)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hil", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a test plan")
    run.add_argument("plan", type=Path)
    run.add_argument("--backend", choices=backend_kinds(),
                     help="device kind (default: the plan's, usually auto)")
    run.add_argument("--dut", help="run on this inventory device only")
    run.add_argument("--out", type=Path, help="run directory (default runs/<plan>-<time>)")
    run.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    run.add_argument("--lock-timeout", type=float, default=0.0,
                     help="seconds to wait for a device another run holds, when no other "
                          "device the plan selects is free (default 0)")
    run.add_argument("--require-all-devices", action="store_true",
                     help="a selected device that is unavailable fails the run (default: it "
                          "is reported as skipped; plan field require_all_devices)")
    run.add_argument("--superlink", metavar="HOST:PORT",
                     help="federated runs join this Flower SuperLink instead of starting one")
    run.add_argument("--pushgateway", metavar="URL",
                     help="push the run's metrics to this Prometheus Pushgateway when it ends")
    run.add_argument("--fail-on-regression", action="store_true",
                     help="a regression against the run history fails the run (and its junit case)")
    run.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list the inventory and what is available")
    ls.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    ls.set_defaults(func=cmd_list)

    fl = sub.add_parser("flash", help="flash a board (or boot an emulator) with an image")
    fl.add_argument("dut")
    fl.add_argument("image", type=Path, nargs="?", help="ELF (default: the device's own image)")
    fl.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    fl.add_argument("--no-verify", action="store_true")
    fl.set_defaults(func=cmd_flash)

    rp = sub.add_parser("report", help="summarise a run directory and write report.html")
    rp.add_argument("run_dir", type=Path)
    rp.set_defaults(func=cmd_report)

    sv = sub.add_parser("serve", help="serve Prometheus metrics of the runs under a directory")
    sv.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    sv.add_argument("--port", type=int, default=9464)
    sv.add_argument("--address", default="127.0.0.1")
    sv.set_defaults(func=cmd_serve)
    from hil_service.history_cli import add_parser as add_history

    add_history(sub, DEFAULT_RUNS)
    from hil_service.lineage_cli import add_lineage_command

    add_lineage_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with cancel_on_signals():  # SIGTERM, SIGHUP: as Ctrl-C (hil_service.cancel)
            return int(args.func(args))
    except (SourceError, SelectionError) as exc:
        return _error(str(exc))
    except (HilError, OSError) as exc:
        # expected failures (and the disk's) in one line; anything else is a bug: traceback
        return _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt as exc:
        why = str(exc) if isinstance(exc, Cancelled) else "interrupted"
        return _error(f"{why}; what was measured is in the run directory")


if __name__ == "__main__":
    sys.exit(main())
