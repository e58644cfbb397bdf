"""The user's own data: `dataset: {path: data.npz}` or `{path: data.csv}` in a plan.

Schema (documented in the README, section "Your own data"):

- NPZ: array `x` of shape (samples, features), finite numbers; array `y` of shape
  (samples,), integer labels 0..255; optional integer arrays `domain` and `subject` of
  shape (samples,); optional `shape` = [rows, cols] with rows * cols = features (what
  the image shifts such as `misaligned` act on; default [1, features]).
- CSV: a header row, then one sample a row. The column `label` holds the integer label
  0..255; optional columns `domain` and `subject` hold integers; every other column is
  a feature (a finite number).

Features are used as given (no rescaling): the digits are in [0, 1] and so should the
user's features be if the plan applies an image shift. Classes are 0..max(label); at
least two distinct labels. The firmware takes at most ODL_MAX_INPUTS features
(firmware_zephyr/core/include/odl/odl_config.h, mirrored by the twin's MAX_INPUTS).
Every problem is a UserDataError naming the file and, for a CSV, the line.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hil_service.errors import ConfigError
from hil_service.reference.mlp import MAX_INPUTS

if TYPE_CHECKING:
    from hil_service.datasets import Dataset

PREFIX = "file:"  # a plan's `dataset` names a user file as "file:<absolute path>"
GROUP_COLUMNS = ("domain", "subject")
MAX_LABEL = 255  # a label is one byte on the wire


class UserDataError(ConfigError):
    """A user data file that cannot become a data set: where and what."""


def _check_arrays(where: str, x: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray]) -> None:
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserDataError(f"{where}: x has shape {x.shape}, expected (samples, features)")
    n, f = x.shape
    if f > MAX_INPUTS:
        raise UserDataError(f"{where}: {f} features, the firmware takes at most {MAX_INPUTS} "
                            "(ODL_MAX_INPUTS)")
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        r, c = bad[0]
        raise UserDataError(f"{where}: x[{r}, {c}] is {x[r, c]}: features must be finite numbers")
    for name, arr in {"y": y, **groups}.items():
        if arr.shape != (n,):
            raise UserDataError(f"{where}: {name} has shape {arr.shape}, expected ({n},) like x's rows")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserDataError(f"{where}: y has dtype {y.dtype}, expected integer labels")
    out = np.flatnonzero((y < 0) | (y > MAX_LABEL))
    if len(out):
        raise UserDataError(f"{where}: y[{out[0]}] = {y[out[0]]} is outside 0..{MAX_LABEL}")
    if len(np.unique(y)) < 2:
        raise UserDataError(f"{where}: only one distinct label; a classifier needs at least two")


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], tuple[int, int]]:
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise UserDataError(f"{where}: not a readable .npz file ({exc})") from None
    allowed = {"x", "y", "shape", *GROUP_COLUMNS}
    for key in arrays:
        if key not in allowed:
            raise UserDataError(f"{where}: unknown array {key!r}; known: {', '.join(sorted(allowed))}")
    for key in ("x", "y"):
        if key not in arrays:
            raise UserDataError(f"{where}: array {key!r} is missing")
    x = arrays["x"]
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise UserDataError(f"{where}: x has dtype {x.dtype}, expected numbers")
    groups = {k: arrays[k] for k in GROUP_COLUMNS if k in arrays}
    for k, g in groups.items():
        if not np.issubdtype(g.dtype, np.integer):
            raise UserDataError(f"{where}: {k} has dtype {g.dtype}, expected integers")
    _check_arrays(where, x, arrays["y"], groups)
    f = x.shape[1]
    shape = (1, f)
    if "shape" in arrays:
        s = arrays["shape"]
        if s.shape != (2,) or not np.issubdtype(s.dtype, np.integer) or int(s[0]) * int(s[1]) != f:
            raise UserDataError(f"{where}: shape {s.tolist()} must be [rows, cols] with rows * cols = {f}")
        shape = (int(s[0]), int(s[1]))
    return x, arrays["y"].astype(np.int64), {k: g.astype(np.int64) for k, g in groups.items()}, shape


def _int_field(where: str, column: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserDataError(f"{where}: column {column!r}: {text!r} is not an integer") from None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], tuple[int, int]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserDataError(f"{path}: cannot read ({exc})") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if not header:
        raise UserDataError(f"{path}:1: empty file; expected a header row with a 'label' column")
    header = [h.strip() for h in header]
    if "label" not in header:
        raise UserDataError(f"{path}:1: no 'label' column in the header")
    dup = {h for h in header if header.count(h) > 1}
    if dup:
        raise UserDataError(f"{path}:1: column {sorted(dup)[0]!r} appears twice")
    special = {"label", *GROUP_COLUMNS}
    feat_cols = [i for i, h in enumerate(header) if h not in special]
    if len(feat_cols) > MAX_INPUTS:
        raise UserDataError(f"{path}:1: {len(feat_cols)} feature columns, the firmware takes at most "
                            f"{MAX_INPUTS} (ODL_MAX_INPUTS)")
    if not feat_cols:
        raise UserDataError(f"{path}:1: no feature columns besides {', '.join(sorted(special))}")
    xs: list[list[float]] = []
    labels: list[int] = []
    groups: dict[str, list[int]] = {g: [] for g in GROUP_COLUMNS if g in header}
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}:{line_no}"
        if len(row) != len(header):
            raise UserDataError(f"{where}: {len(row)} fields, the header has {len(header)}")
        feats: list[float] = []
        for i in feat_cols:
            try:
                v = float(row[i])
            except ValueError:
                raise UserDataError(f"{where}: column {header[i]!r}: {row[i]!r} is not a number") from None
            if not np.isfinite(v):
                raise UserDataError(f"{where}: column {header[i]!r} is {row[i].strip()}: "
                                    "features must be finite numbers")
            feats.append(v)
        label = _int_field(where, "label", row[header.index("label")])
        if not 0 <= label <= MAX_LABEL:
            raise UserDataError(f"{where}: label {label} is outside 0..{MAX_LABEL}")
        xs.append(feats)
        labels.append(label)
        for g, vals in groups.items():
            vals.append(_int_field(where, g, row[header.index(g)]))
    if not xs:
        raise UserDataError(f"{path}: no samples after the header")
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    g_arr = {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
    _check_arrays(str(path), x, y, g_arr)
    return x, y, g_arr, (1, x.shape[1])


@functools.cache
def _load(path: Path, mtime_ns: int) -> Dataset:
    from hil_service.datasets import Dataset

    suffix = path.suffix.lower()
    if suffix == ".npz":
        x, y, groups, shape = _read_npz(path)
    elif suffix == ".csv":
        x, y, groups, shape = _read_csv(path)
    else:
        raise UserDataError(f"{path}: unknown format {suffix or '(none)'!r}; use .npz or .csv")
    return Dataset(f"{PREFIX}{path}", x.astype(np.float32), y, int(y.max()) + 1, shape, groups=groups)


def load_file(path: Path | str) -> Dataset:
    """The data set in path (absolute), validated; cached while the file is unchanged."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise UserDataError(f"{p}: no such data file") from None
    return _load(p, mtime)


def dataset_name(spec: object, base_dir: Path | None) -> str:
    """A plan's `dataset: {path: ...}` as the name datasets.load() takes ("file:<abs path>");
    a relative path is relative to the plan's directory."""
    if not isinstance(spec, dict) or set(spec) != {"path"} or not isinstance(spec["path"], str):
        raise ValueError("a dataset is a name or a mapping {path: file.npz|file.csv}")
    p = Path(spec["path"]).expanduser()
    if not p.is_absolute():
        p = (base_dir or Path.cwd()) / p
    return PREFIX + str(p.resolve())
