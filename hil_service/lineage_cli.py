"""`hil lineage RUN_DIR|HASH`: the chain of weights a run's models come from, as a tree."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hil_service.lineage import ModelNode, render_tree, scan, targets_of

__all__ = ["add_lineage_command", "cmd_lineage", "search_roots"]

DEFAULT_RUNS = Path("runs")


def search_roots(arg: str, runs: list[Path]) -> list[Path]:
    """Where to look for a chain's runs: --runs, else the run directory's parent (its runs
    root), else ./runs; plus, found while scanning, the runs roots of every `from_run`
    origin, so a chain spread over several roots is still followed."""
    roots = list(runs)
    p = Path(arg)
    if (p / "run.json").is_file():
        roots.append(p)
        if not runs:
            roots.append(p.resolve().parent)
    elif not runs:
        roots.append(DEFAULT_RUNS)
    return roots


def _origins(nodes: dict[str, ModelNode]) -> set[Path]:
    found: set[Path] = set()
    for n in nodes.values():
        for _, base in n.bases:
            origin: Any = base.get("origin")
            if isinstance(origin, dict) and isinstance(origin.get("from_run"), str):
                found.add(Path(origin["from_run"]))
    return found


def cmd_lineage(args: argparse.Namespace) -> int:
    roots = search_roots(args.target, list(args.runs or []))
    nodes = scan(roots)
    for _ in range(32):  # follow origins into other roots; a chain is never this deep in practice
        extra = {d for d in _origins(nodes) if d.is_dir() and not any(_under(d, r) for r in roots)}
        if not extra:
            break
        roots += sorted(extra)
        nodes = scan(roots)
    targets = targets_of(args.target, nodes)
    # names relative to one runs root where there is one
    if len(args.runs or []) == 1:
        common: Path | None = args.runs[0]
    elif (Path(args.target) / "run.json").is_file():
        common = Path(args.target).resolve().parent
    else:
        common = None
    print(render_tree(nodes, targets, width=64 if args.full else 12, root=common))
    return 0


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def add_lineage_command(sub: Any) -> None:
    """Register `hil lineage` on the CLI's subparsers."""
    ln = sub.add_parser("lineage", help="print where a run's (or a hash's) weights come from, as a tree")
    ln.add_argument("target", metavar="RUN_DIR|HASH",
                    help="a run directory, or a weights sha256 (or a prefix of 6+ hex digits)")
    ln.add_argument("--runs", type=Path, action="append",
                    help="runs root to search (repeatable; default: the run directory's parent, "
                         "or ./runs for a hash)")
    ln.add_argument("--full", action="store_true", help="print whole sha256 hashes")
    ln.set_defaults(func=cmd_lineage)
