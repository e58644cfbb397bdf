"""YAML files that remember where each value came from.

Plans and inventories are written by hand, so an error must point at the
file, the line and the field. PyYAML's composed node tree has the marks;
pydantic's errors have the field path; this module joins the two.
"""

from __future__ import annotations

from collections.abc import Sequence
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = ["SourceError", "YamlDocument", "load_yaml"]

Loc = tuple[str | int, ...]


class SourceError(ValueError):
    """Bad input in a file: `file:line: field: problem`, one line."""

    def __init__(self, path: Path | str, line: int | None, field: str, problem: str) -> None:
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class YamlDocument:
    """Parsed data plus the line of every mapping key and sequence item."""

    def __init__(self, path: Path, data: Any, lines: dict[Loc, int]) -> None:
        self.path, self.data, self._lines = path, data, lines

    def line(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest part of loc that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return self._lines.get((), None)

    def error(self, loc: Sequence[str | int], problem: str) -> SourceError:
        return SourceError(self.path, self.line(loc), _dotted(loc), problem)

    def validation_error(self, exc: ValidationError, prefix: Loc = ()) -> SourceError:
        """The first pydantic error as a SourceError; the rest are counted."""
        first = exc.errors()[0]
        # pydantic adds non-field parts (union member names, "[key]") to loc
        loc = prefix + tuple(p for p in first["loc"] if isinstance(p, int) or self._is_field(p))
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown field"
        elif first["type"] == "missing":
            msg = "required field is missing"
        # a bad item also fails its containers ("tuple too short"): not another problem
        more = sum(1 for e in exc.errors()[1:] if tuple(e["loc"]) != tuple(first["loc"])[: len(e["loc"])])
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        return self.error(loc, msg)

    @staticmethod
    def _is_field(part: str) -> bool:
        return not (part.startswith("[") or "[" in part and part.endswith("]"))


def _walk(path: Path, node: yaml.Node, loc: Loc, lines: dict[Loc, int],
          open_nodes: set[int]) -> None:
    if id(node) in open_nodes:
        raise SourceError(path, node.start_mark.line + 1, _dotted(loc), "an alias refers to itself")
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = loc + (key.value,)
            if sub in lines:
                # PyYAML keeps the last of two equal keys: a silently lost threshold
                raise SourceError(path, key.start_mark.line + 1, _dotted(sub),
                                  f"duplicate key (first on line {lines[sub]})")
            lines[sub] = key.start_mark.line + 1
            _walk(path, value, sub, lines, open_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            _walk(path, item, loc + (i,), lines, open_nodes)
    open_nodes.discard(id(node))


def load_yaml(path: Path | str) -> YamlDocument:
    """Read one YAML document; a missing file or a syntax error is a SourceError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(path, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(path, None, "", f"cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        lines_of_text = text.splitlines()
        bad_lines = lines_of_text[max(0, mark.line - 1): mark.line + 1] if mark else []
        # `accuracy: >= 0.9` unquoted: '>' starts a YAML block scalar
        hint = ('; quote thresholds, e.g. accuracy: ">= 0.9"'
                if any(re.search(r":\s*[<>]", ln) for ln in bad_lines) else "")
        raise SourceError(path, mark.line + 1 if mark else None, "",
                          f"YAML syntax: {exc.problem or exc.context}{hint}") from None
    except yaml.YAMLError as exc:
        raise SourceError(path, None, "", f"YAML syntax: {exc}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(path, node, (), lines, set())
        lines[()] = node.start_mark.line + 1
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceError(path, None, "", f"YAML: {exc}") from None
    return YamlDocument(path, data, lines)
