"""Model lineage: which weights a device ended with, and where they came from.

Every strategy run that ends with a model on a device records, per device, a
`lineage` entry in run.json: the sha256 of the weights blob it started from
(`parent`), of the weights it ended with (`child`), the plan's and the data's
hashes, the firmware build id and the strategy; the final weights are kept
next to it as a blob (docs/weight_blob.md) at
`<run dir>/<device or group>/<strategy run>/weights-<device>.bin`.

A plan starts from such a result with `base_model: {from_run: DIR}` (plus
`strategy:`/`device:` when the run kept more than one) or `{blob: PATH}`;
paths are relative to the plan's directory, like a user data set's. So deploy
→ adapt → adapt again forms a chain of hashes, and `hil lineage` walks it over
every run.json under a runs root (`print_tree`).

run.json shape: a single-device run has `"lineage": {...}`; a group run has
`"lineage_members": {device: {...}}` (one entry per member that kept weights).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hil_service.errors import ConfigError, HilError
from hil_service.reference.blob import BlobError, parse_header

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.plan import Plan
    from hil_service.workflows.base import WorkflowContext
    from hil_service.yaml_source import YamlDocument

__all__ = ["BaseSource", "BaseSourceError", "LineageError", "ModelNode", "ancestry", "check_plan_base", "data_digest",
           "entries", "keep_weights", "record", "resolve_base", "scan", "render_tree", "weights_path",
           "with_base_source"]


class LineageError(ConfigError):
    """A lineage question with no answer: an unknown hash, a directory that is no run."""


class BaseSourceError(LineageError):
    """A `base_model: {from_run|blob}` that cannot be used; `field` is the plan key to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


# -- recording ------------------------------------------------------------------------------
def weights_path(run_dir: Path, device: str) -> Path:
    """Where a strategy run keeps a device's final weights (run_dir: WorkflowContext.run_dir)."""
    return run_dir / f"weights-{device}.bin"


def keep_weights(run_dir: Path, device: str, blob: bytes) -> Path:
    """Keep a device's final weights blob (written then renamed: never half a blob)."""
    path = weights_path(run_dir, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".weights.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def data_digest(data: PreparedData) -> str:
    """sha256 of every split the run's models saw or were judged on (arrays, in order)."""
    sc = data.scenario
    h = hashlib.sha256()
    for a in (sc.x_base, sc.y_base, sc.x_stream, sc.y_stream, sc.x_test, sc.y_test,
              sc.x_test_base_domain):
        arr = np.ascontiguousarray(a)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def record(ctx: WorkflowContext, plan_digest: str, run_root: Path) -> None:
    """After a workflow ran: the lineage of each device that kept weights, into the journal.

    A single-device workflow that kept nothing leaves its model on the device:
    it is read back here (READ_WEIGHTS) and kept, so every single-device
    workflow has a lineage. A group workflow keeps its members' weights itself
    (its devices may be in other processes by then).
    """
    from hil_service.workflows.registry import get

    spec = ctx.spec
    data = data_digest(ctx.data)
    group = get(spec.workflow).is_group()
    if not group:
        live = ctx.device
        path = weights_path(ctx.run_dir, live.entry.id)
        if not path.is_file():
            try:
                keep_weights(ctx.run_dir, live.entry.id, live.device.read_weights())
            except HilError as exc:  # no model left on the device (or no device): nothing to trace,
                # and the run's own results stand
                ctx.annotate(lineage_error=f"no final weights: {exc}")
                return
    out: dict[str, dict[str, Any]] = {}
    for live in ctx.devices:
        path = weights_path(ctx.run_dir, live.entry.id)
        if not path.is_file():
            continue
        blob = path.read_bytes()
        sizes, _ = parse_header(blob)
        out[live.entry.id] = {
            "device": live.entry.id, "parent": ctx.base.sha256, "child": sha256(blob),
            "plan": plan_digest, "data": data, "build_id": live.hello.git_hash,
            "strategy": spec.name, "strategy_kind": spec.strategy, "workflow": spec.workflow,
            "arch": list(sizes), "blob": path.relative_to(run_root).as_posix()}
    if not group:
        ctx.annotate(lineage=out[ctx.device.entry.id])
    elif out:
        ctx.annotate(lineage_members=out)


def entries(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The lineage entries of one run.json run record (single or group)."""
    one = run.get("lineage")
    members = run.get("lineage_members")
    found = [one] if isinstance(one, dict) else []
    if isinstance(members, dict):
        found += [m for m in members.values() if isinstance(m, dict)]
    return [e for e in found if isinstance(e.get("child"), str)]


def ancestry(data: dict[str, Any], limit: int = 32) -> list[dict[str, Any]]:
    """Where a run's base weights came from, oldest first, following each run.json's
    `base_model.origin.from_run` (no runs root needed): one dict per step with the
    weights' `sha256` and what made them (`run`, `device`, `strategy`; or `blob`; or
    `pretrained`: the recipe key of a host-pretrained base; or `missing`: a run.json
    that is gone)."""
    steps: list[dict[str, Any]] = []
    base = data.get("base_model")
    seen: set[str] = set()
    while isinstance(base, dict) and len(steps) < limit:
        origin = base.get("origin")
        sha = base.get("sha256")
        if not isinstance(origin, dict):
            steps.append({"sha256": sha, "pretrained": base.get("key"), "arch": base.get("arch")})
            break
        run = origin.get("from_run")
        if not isinstance(run, str):
            steps.append({"sha256": sha, "blob": origin.get("blob")})
            break
        steps.append({"sha256": sha, "run": run, "device": origin.get("device"),
                      "strategy": origin.get("strategy")})
        if run in seen:
            break
        seen.add(run)
        try:
            earlier = json.loads((Path(run) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            steps.append({"sha256": None, "missing": run})
            break
        base = earlier.get("base_model") if isinstance(earlier, dict) else None
    return steps[::-1]


# -- starting from an earlier result -----------------------------------------------------------
@dataclass(frozen=True)
class BaseSource:
    blob: bytes
    sha256: str
    sizes: tuple[int, ...]
    path: Path
    #: what run.json's base_model records as "origin"
    origin: dict[str, Any]


def _load_run(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaseSourceError("from_run", f"{directory} is not a run directory: no run.json") from None
    except (OSError, ValueError) as exc:
        raise BaseSourceError("from_run", f"{directory}/run.json cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise BaseSourceError("from_run", f"{directory}/run.json is not a run record")
    return data


def _blob_at(path: Path, field: str, expect_sha: str | None = None) -> tuple[bytes, tuple[int, ...]]:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise BaseSourceError(field, f"{path}: no such weights file") from None
    except OSError as exc:
        raise BaseSourceError(field, f"{path}: {exc.strerror or exc}") from None
    if expect_sha is not None and sha256(blob) != expect_sha:
        raise BaseSourceError(field, f"{path} has sha256 {sha256(blob)[:12]}, its run recorded "
                                     f"{expect_sha[:12]}: the file was changed after the run")
    try:
        sizes, total = parse_header(blob)
    except BlobError as exc:
        raise BaseSourceError(field, f"{path} is not a weights blob: {exc}") from None
    if total != len(blob):
        raise BaseSourceError(field, f"{path} is not a weights blob: {len(blob)} bytes, its header "
                                     f"says {total}")
    return blob, sizes


def resolve_base(from_run: str | None = None, blob: str | None = None, strategy: str | None = None,
                 device: str | None = None) -> BaseSource:
    """The weights a plan's `base_model: {from_run: ...}` or `{blob: ...}` names (paths absolute)."""
    if blob is not None:
        path = Path(blob)
        data, sizes = _blob_at(path, "blob")
        return BaseSource(data, sha256(data), sizes, path, {"blob": str(path), "sha256": sha256(data)})
    if from_run is None:
        raise ValueError("resolve_base: give from_run or blob")
    directory = Path(from_run)
    if not directory.is_dir():
        raise BaseSourceError("from_run", f"{directory}: no such run directory")
    run = _load_run(directory)
    kept = [e for r in run["runs"] if isinstance(r, dict) for e in entries(r)]
    if not kept:
        raise BaseSourceError("from_run", f"run {directory} kept no weights (no lineage in its "
                                          f"run.json: every strategy run broke, or it predates lineage)")
    names = ", ".join(f"{e.get('device')}/{e.get('strategy')}" for e in kept)
    chosen = [e for e in kept if (strategy is None or e.get("strategy") == strategy)
              and (device is None or e.get("device") == device)]
    if not chosen:
        bad_strategy = strategy is not None and all(e.get("strategy") != strategy for e in kept)
        which, value = ("strategy", strategy) if bad_strategy else ("device", device)
        raise BaseSourceError(which, f"run {directory} has no result of {which} {value!r}; "
                                     f"it has {names}")
    if len(chosen) > 1:
        more = "base_model.device" if strategy is not None else "base_model.strategy (and .device)"
        listed = ", ".join(f"{e.get('device')}/{e.get('strategy')}" for e in chosen)
        raise BaseSourceError("from_run", f"run {directory} has {len(chosen)} results ({listed}): "
                                          f"name one with {more}")
    entry = chosen[0]
    path = directory / str(entry.get("blob"))
    data, sizes = _blob_at(path, "from_run", str(entry["child"]))
    origin = {"from_run": str(directory), "strategy": entry.get("strategy"),
              "device": entry.get("device"), "blob": str(path), "sha256": entry["child"],
              "run_status": run.get("status")}
    return BaseSource(data, entry["child"], sizes, path, origin)


def _absolute(value: object, base_dir: Path | None) -> object:
    if not isinstance(value, str):
        return value
    p = Path(value).expanduser()
    return str((p if p.is_absolute() else (base_dir or Path.cwd()) / p).resolve())


def with_base_source(data: Any, base_dir: Path | None) -> Any:
    """A raw plan mapping whose base_model from_run/blob are absolute paths and whose
    hidden widths, unless the plan sets them, are those of the named weights; what
    cannot be resolved is left for check_plan_base to report at its line."""
    if not isinstance(data, dict) or not isinstance(data.get("base_model"), dict):
        return data
    base = dict(data["base_model"])
    if base.get("from_run") is None and base.get("blob") is None:
        return data
    for key in ("from_run", "blob"):
        if key in base:
            base[key] = _absolute(base[key], base_dir)
    if "hidden" not in base:
        try:
            src = resolve_base(base.get("from_run"), base.get("blob"), base.get("strategy"),
                               base.get("device"))
            base["hidden"] = list(src.sizes[1:-1])
        except (LineageError, ValueError, TypeError):
            pass
    return {**data, "base_model": base}


def check_plan_base(doc: YamlDocument, plan: Plan) -> None:
    """A plan's from_run/blob against its file, its data set and its hidden widths (file:line)."""
    b = plan.base_model
    if b.from_run is None and b.blob is None:
        return
    try:
        src = resolve_base(b.from_run, b.blob, b.strategy, b.device)
    except BaseSourceError as exc:
        raise doc.error(("base_model", exc.field), str(exc)) from None
    from hil_service.plan_limits import _dataset_shape

    key = "blob" if b.blob is not None else "from_run"
    n_features, n_classes = _dataset_shape(plan.dataset)
    arch = "-".join(map(str, src.sizes))
    if (src.sizes[0], src.sizes[-1]) != (n_features, n_classes):
        raise doc.error(("base_model", key), f"architecture mismatch: the model {arch} of {src.path} "
                                             f"takes {src.sizes[0]} features and {src.sizes[-1]} classes, "
                                             f"dataset {plan.dataset} has {n_features} and {n_classes}")
    if tuple(b.hidden) != tuple(src.sizes[1:-1]):
        raise doc.error(("base_model", "hidden"), f"architecture mismatch: hidden {list(b.hidden)}, "
                                                  f"but the model {arch} of {src.path} has "
                                                  f"{list(src.sizes[1:-1])} (leave hidden out to take it)")


# -- the tree over a runs root ---------------------------------------------------------------
@dataclass
class ModelNode:
    """One set of weights (by hash) and the runs that produced or started from it."""

    sha: str
    #: lineage entries whose child is this model, with the run directory they are in
    made_by: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    #: run.json base_model records of runs that started from this model
    bases: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    children: set[str] = field(default_factory=set)

    def parent(self) -> str | None:
        for _, e in self.made_by:
            p = e.get("parent")
            if isinstance(p, str):
                return p
        return None


def _run_files(root: Path) -> Iterator[Path]:
    if (root / "run.json").is_file():
        yield root / "run.json"
    if root.is_dir():
        yield from sorted(p for p in root.rglob("*/run.json") if p.parent != root)


def scan(roots: Iterable[Path]) -> dict[str, ModelNode]:
    """Every model hash any run.json under the roots mentions, linked parent → child."""
    nodes: dict[str, ModelNode] = {}
    seen: set[Path] = set()

    def node(sha: str) -> ModelNode:
        return nodes.setdefault(sha, ModelNode(sha))

    for root in roots:
        for path in _run_files(root):
            directory = path.parent.resolve()
            if directory in seen:
                continue
            seen.add(directory)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a run being written or a foreign file: not part of any chain
            if not isinstance(data, dict):
                continue
            base = data.get("base_model")
            if isinstance(base, dict) and isinstance(base.get("sha256"), str):
                node(base["sha256"]).bases.append((directory, base))
            for run in data.get("runs") or []:
                if not isinstance(run, dict):
                    continue
                for e in entries(run):
                    node(e["child"]).made_by.append((directory, e))
                    if isinstance(e.get("parent"), str):
                        node(e["parent"]).children.add(e["child"])
    return nodes


def find(nodes: dict[str, ModelNode], key: str) -> list[str]:
    """Hashes matching a full hash or a prefix of at least 6 hex digits."""
    key = key.lower()
    if len(key) < 6 or any(c not in "0123456789abcdef" for c in key):
        return []
    return sorted(s for s in nodes if s.startswith(key))


def _rel(directory: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return directory.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(directory)


def _label(n: ModelNode, width: int, root: Path | None) -> str:
    sha = n.sha[:width]
    if n.made_by:
        directory, e = n.made_by[0]
        also = f" (also made by {len(n.made_by) - 1} other run(s))" if len(n.made_by) > 1 else ""
        return (f"{sha}  {_rel(directory, root)}: {e.get('device')}/{e.get('strategy')} "
                f"[{e.get('strategy_kind')}, {e.get('workflow')}] "
                f"plan {str(e.get('plan'))[:width]} data {str(e.get('data'))[:width]} "
                f"build {e.get('build_id')}{also}")
    if n.bases:
        directory, b = n.bases[0]
        origin = b.get("origin")
        if isinstance(origin, dict) and origin.get("blob"):
            what = f"blob {origin['blob']}"
        else:
            arch = "-".join(str(s) for s in b.get("arch") or [])
            what = f"host-pretrained base {arch} (recipe {str(b.get('key'))[:width]})"
        return f"{sha}  {what}, first used by {_rel(directory, root)}"
    return f"{sha}  (unknown: no run under the searched roots made or used it)"


def render_tree(nodes: dict[str, ModelNode], targets: Iterable[str], *, width: int = 12,
                root: Path | None = None) -> str:
    """The chains from each target's oldest known ancestor down to the target and every
    model made from it, as an indented tree; targets are marked with `*`."""
    targets = [t for t in targets if t in nodes]
    if not targets:
        raise LineageError("no model to show")
    keep: set[str] = set()
    tops: list[str] = []
    for t in targets:
        sha: str | None = t
        path: list[str] = []
        while sha is not None and sha not in path:  # a cycle would be a forged run.json
            path.append(sha)
            sha = nodes[sha].parent() if sha in nodes else None
            if sha is not None and sha not in nodes:
                nodes[sha] = ModelNode(sha)
        keep.update(path)
        if path[-1] not in tops:
            tops.append(path[-1])
        todo = [t]
        while todo:  # every descendant of a target
            for c in sorted(nodes[todo.pop()].children):
                if c not in keep:
                    keep.add(c)
                    todo.append(c)
    lines: list[str] = []

    def walk(sha: str, prefix: str, last: bool, top: bool) -> None:
        mark = " *" if sha in targets else ""
        lines.append((prefix + ("" if top else ("└── " if last else "├── ")))
                     + _label(nodes[sha], width, root) + mark)
        kids = sorted(c for c in nodes[sha].children if c in keep)
        inner = prefix + ("" if top else ("    " if last else "│   "))
        for i, c in enumerate(kids):
            walk(c, inner, i == len(kids) - 1, False)

    for top in tops:
        walk(top, "", True, True)
    return "\n".join(lines)


def targets_of(arg: str, nodes: dict[str, ModelNode]) -> list[str]:
    """A `hil lineage` argument: a run directory (its kept models), else a hash or prefix."""
    p = Path(arg)
    if (p / "run.json").is_file():
        try:
            data = json.loads((p / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LineageError(f"{p}/run.json cannot be read: {exc}") from None
        found = [e["child"] for r in data.get("runs") or [] if isinstance(r, dict) for e in entries(r)]
        if not found:
            raise LineageError(f"run {p} kept no weights: no lineage in its run.json")
        return list(dict.fromkeys(found))
    if p.exists():
        raise LineageError(f"{p} is not a run directory: no run.json")
    hits = find(nodes, arg)
    if not hits:
        raise LineageError(f"{arg!r} is neither a run directory nor the hash (or a prefix of 6+ hex "
                           f"digits) of weights any run under the searched roots made or used")
    return hits
