"""Tolerant access to run.json for the report and its section modules: a missing or
mistyped part reads as empty or not measured instead of raising."""

from __future__ import annotations

import html
import math
from typing import Any

__all__ = ["DASH", "as_dict", "as_list", "escape", "finite"]

#: what a table cell shows for a value not measured
DASH = "–"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def finite(value: Any) -> float | None:
    """A finite number, or None: bools, strings, NaN and missing all count as not measured."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def escape(value: Any) -> str:
    """A value as HTML text: None and "" as a dash, never the word None."""
    return html.escape(DASH if value is None or value == "" else str(value), quote=True)
