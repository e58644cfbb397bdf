"""YAML files that remember where each value came from.

Plans and inventories are written by hand, so an error must point at the
file, the line and the field. PyYAML's composed node tree has the marks;
pydantic's errors have the field path; this module joins the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hil_service.errors import ConfigError

__all__ = ["SourceError", "YamlDocument", "load_yaml"]

Loc = tuple[str | int, ...]


class SourceError(ConfigError):
    """Bad input in a file: `file:line: field: problem`, one line."""

    def __init__(self, path: Path | str, line: int | None, field: str, problem: str) -> None:
        # a quoted key or a quoted tool message may hold line breaks: the message never does
        field, problem = _one_line(field), _one_line(problem)
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


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


#: Input bounds. Plans and inventories are a few KiB with a few hundred values;
#: these refuse a hostile or broken file (an alias bomb, a megabyte of `[`)
#: in well under a second, before anything walks or validates it.
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32
#: values in the document with every alias expanded: what a consumer walking
#: the loaded data would visit; also bounds the count of distinct nodes
MAX_VALUES = 20_000

# libyaml: the bounds pass and composing take a third of the pure-Python time
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_bounds(path: Path, text: str) -> None:
    """One pass over the parser's events: depth, and values with aliases expanded
    (each anchor's expanded size is known when its node ends), refused at the
    event that crosses a bound; a billion-laughs bomb stops after a few lines."""
    sizes: dict[str, int] = {}  # anchor -> values of its node, aliases expanded
    open_anchors: list[str | None] = []
    counts: list[int] = [0]  # per open collection: values inside it so far
    total = 0

    def refuse(mark: Any, problem: str) -> SourceError:
        return SourceError(path, mark.line + 1 if mark is not None else None, "", problem)

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise refuse(event.start_mark, f"alias *{event.anchor} refers to itself")
            size = sizes.get(str(event.anchor), 1)  # an undefined alias fails in the composer
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(counts) > MAX_DEPTH:
                raise refuse(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
            open_anchors.append(event.anchor)
            counts.append(1)
            total += 1
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            size = counts.pop()
            anchor = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = size
            counts[-1] += size
            continue
        else:
            continue
        counts[-1] += size
        total += size
        if total > MAX_VALUES:
            raise refuse(event.start_mark, f"more than {MAX_VALUES} values with aliases "
                                           f"expanded (an alias bomb?)")


def _walk(path: Path, node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int]) -> None:
    """Record the line of every key and item; an aliased node is walked once, where
    it is defined, so a place inside it reached through an alias has the line of the
    key holding the alias (or, for a list item, of the aliased node)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise SourceError(path, key.start_mark.line + 1, _dotted(loc),
                                  "a key must be plain text, not a list or mapping")
            sub = loc + (key.value,)
            if sub in lines:
                # PyYAML keeps the last of two equal keys: a silently lost threshold
                raise SourceError(path, key.start_mark.line + 1, _dotted(sub),
                                  f"duplicate key (first on line {lines[sub]})")
            lines[sub] = key.start_mark.line + 1
            _walk(path, value, sub, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            _walk(path, item, loc + (i,), lines, seen)


def _read(path: Path) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(path, None, "", "file not found") from None
    except OSError as exc:
        raise SourceError(path, None, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(path, None, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; plans and "
                                          f"inventories are a few KiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(path, line, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


def load_yaml(path: Path | str) -> YamlDocument:
    """Read one YAML document; a missing file, a syntax error or input beyond the
    bounds above is a SourceError with file and line, in one line."""
    path = Path(path)
    text = _read(path)
    loader: Any = None
    try:
        _check_bounds(path, text)
        loader = _Loader(text)
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        if node is not None:
            _walk(path, node, (), lines, set())
            lines[()] = node.start_mark.line + 1
        # constructed from the composed nodes: an alias stays one shared object
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        lines_of_text = text.splitlines()
        bad_lines = lines_of_text[max(0, mark.line - 1): mark.line + 1] if mark else []
        # `accuracy: >= 0.9` unquoted: '>' starts a YAML block scalar
        hint = ('; quote thresholds, e.g. accuracy: ">= 0.9"'
                if any(re.search(r":\s*[<>]", ln) for ln in bad_lines) else "")
        raise SourceError(path, mark.line + 1 if mark else None, "",
                          f"YAML syntax: {exc.problem or exc.context}{hint}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise SourceError(path, line, "", f"YAML: character #x{exc.character:04x} is not allowed "
                                          f"in YAML text") from None
    except yaml.YAMLError as exc:
        raise SourceError(path, None, "", f"YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(path, data, lines)
