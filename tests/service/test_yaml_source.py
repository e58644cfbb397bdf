"""The bounded YAML loader: hostile input is refused fast, in one line, with file and line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hil_service import yaml_source
from hil_service.yaml_source import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, SourceError, load_yaml


def refused(path: Path, line: int | None) -> str:
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        load_yaml(path)
    assert time.monotonic() - t0 < 1.0
    message = str(info.value)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(where), message
    assert "\n" not in message, message
    return message[len(where):]


def test_block_nesting_beyond_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 40 + "x\n")
    assert refused(path, MAX_DEPTH + 1) == f"nested deeper than {MAX_DEPTH} levels"


def test_flow_nesting_of_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "brackets.yaml"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert "nesting" in refused(path, 1)


def test_file_size_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert refused(path, None) == f"larger than {MAX_FILE_BYTES // 1024} KiB; plans and " \
                                  f"inventories are a few KiB"


def test_value_count_bound_counts_aliases_as_what_they_expand_to(tmp_path: Path) -> None:
    # a_i expands to 1 + 3 * a_(i-1) values: a0..a7 hold about 15,000 (under the bound), a8 29,524
    def doc(levels: int) -> str:
        out = ["a0: &a0 [1, 2, 3]"]
        out += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, levels)]
        return "\n".join(out) + "\n"

    ok = tmp_path / "ok.yaml"
    ok.write_text(doc(8))
    loaded = load_yaml(ok)
    # an alias is one shared object; inside it, lines stop at the aliased item (its node's line)
    assert loaded.data["a7"][0] is loaded.data["a6"]
    assert loaded.line(("a7", 2, 1, 0)) == 7
    assert loaded.line(("a0", 2)) == 1
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(doc(12))
    assert refused(bomb, 9).startswith(f"more than {MAX_VALUES} values with aliases expanded")


def test_the_walk_visits_each_node_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text("base: &b {x: 1, y: [1, 2]}\n" + "".join(f"k{i}: *b\n" for i in range(200)))
    walked: list[int] = []
    real = yaml_source._walk

    def spy(path_: Path, node: Any, loc: Any, lines: Any, seen: set[int]) -> None:
        if id(node) not in seen:
            walked.append(id(node))
        real(path_, node, loc, lines, seen)

    monkeypatch.setattr(yaml_source, "_walk", spy)  # the recursion goes through the spy too
    doc = load_yaml(path)
    # root, base, 1, [1, 2], 1, 2: each once, not once more per alias
    assert len(walked) == len(set(walked)) == 6
    assert doc.line(("k150", "y", 1)) == 152  # the alias's line, not the anchor's
    assert doc.line(("base", "y", 1)) == 1


def test_self_alias_and_undefined_alias(tmp_path: Path) -> None:
    path = tmp_path / "self.yaml"
    path.write_text("a: 1\nb: &b [1, *b]\n")
    assert refused(path, 2) == "alias *b refers to itself"
    path.write_text("a: *nowhere\n")
    assert "undefined alias" in refused(path, 1)


def test_duplicate_and_non_text_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    assert refused(path, 3) == "a: duplicate key (first on line 1)"
    path.write_text("m:\n  ? [1, 2]\n  : x\n")
    assert refused(path, 2) == "m: a key must be plain text, not a list or mapping"


@pytest.mark.parametrize("raw, line, problem", [
    (b"name: x\nother: y\x01\n", 2, "YAML: character #x0001 is not allowed in YAML text"),
    (b"name: ok\nbad: \xff\n", 2, "not UTF-8 text (byte 0xff)"),
    (b"a: 1\nb: !foo x\n", 2, "YAML syntax: could not determine a constructor for the tag '!foo'"),
    (b"a: [1\n", 2, "YAML syntax: did not find expected ',' or ']'"),
])
def test_errors_are_one_line(tmp_path: Path, raw: bytes, line: int, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    assert refused(path, line) == problem


def test_a_key_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "key.yaml"
    path.write_text('"a\\nb": 1\n"a\\nb": 2\n')
    assert refused(path, 2) == "a b: duplicate key (first on line 1)"
