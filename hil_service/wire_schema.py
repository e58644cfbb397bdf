"""The shapes of the wire table (firmware_zephyr/protocol/wire.toml) and what they do.

hil_service.wire_gen, generated from the table, holds instances of these
classes; this module gives them behaviour: range checks of training parameters
(shared by the plan loader, the codec and the twin) and a generic body codec
(shared by every message of hil_service.protocol).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil_service.errors import ConfigError

__all__ = ["Constraint", "Field", "FrameError", "Message", "Param", "ParamRangeError", "StructDef",
           "check_train_params"]

# wire type -> struct format character
SCALARS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i16": "h", "f32": "f"}


class FrameError(ValueError):
    """Bytes that are not a valid frame or body."""


class ParamRangeError(ConfigError):
    """A training parameter outside the range the device accepts."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Param:
    """One member of odl_train_params_t with its range."""

    name: str
    index: int  # 1 + position in the table: the ERROR detail a device sends for it
    c_field: str
    c_type: str  # "float" or "uint32"
    default: float | str
    doc: str
    enum: tuple[str, ...] = ()  # names by value; empty for a float
    min: float = -math.inf
    max: float = math.inf
    min_open: bool = False
    max_open: bool = False
    core_default: float | str | None = None

    def describe_range(self) -> str:
        if self.enum:
            return f"one of {', '.join(self.enum)}"
        lo = "(" if self.min_open else "["
        hi = ")" if self.max_open else "]"
        return f"{lo}{self.min:g}, {self.max:g}{hi}"

    def _inside(self, v: float) -> bool:
        above = v > self.min if self.min_open else v >= self.min
        below = v < self.max if self.max_open else v <= self.max
        return above and below

    def check(self, value: Any) -> None:
        """Raise ParamRangeError unless the device would accept value (names the problem)."""
        if self.enum:
            ok = (isinstance(value, str) and value in self.enum) or (
                isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.enum))
            if not ok:
                raise ParamRangeError(self.name, f"{self.name} = {value!r} is not "
                                                 f"{self.describe_range()}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamRangeError(self.name, f"{self.name} = {value!r} is not a number")
        v = float(value)
        if not math.isfinite(v):
            raise ParamRangeError(self.name, f"{self.name} = {v!r} is not finite")
        # the device sees float32: the value must be in range before and after rounding
        with np.errstate(over="ignore", under="ignore"):
            f = float(np.float32(v))
        if not self._inside(v):
            raise ParamRangeError(self.name, f"{self.name} = {v:g} is outside {self.describe_range()}")
        if not math.isfinite(f) or not self._inside(f):
            raise ParamRangeError(self.name, f"{self.name} = {v:g} is {f:g} in float32, outside "
                                             f"{self.describe_range()}")


@dataclass(frozen=True)
class Constraint:
    """lhs <= rhs between two float parameters, compared as the device does (float32)."""

    lhs: str
    op: str
    rhs: str

    def check(self, values: Mapping[str, Any]) -> None:
        a, b = values[self.lhs], values[self.rhs]
        if not float(np.float32(a)) <= float(np.float32(b)):
            raise ParamRangeError(self.lhs, f"{self.lhs} = {a:g} is above {self.rhs} = {b:g}")


def check_train_params(params: Mapping[str, Param], constraints: tuple[Constraint, ...],
                       values: Mapping[str, Any]) -> None:
    """Check every parameter present in values, then the constraints whose both sides are."""
    for name, value in values.items():
        params[name].check(value)
    for c in constraints:
        if c.lhs in values and c.rhs in values:
            c.check(values)


@dataclass(frozen=True)
class StructDef:
    name: str
    fields: tuple[Field, ...]
    size: int

    @property
    def format(self) -> str:
        return "".join(SCALARS[f.type] for f in self.fields)

    def numpy_dtype(self) -> np.dtype[np.void]:
        """A packed little-endian record dtype, to read an array of these in one go."""
        return np.dtype([(f.name, "<" + SCALARS[f.type]) for f in self.fields])


@dataclass(frozen=True)
class Field:
    """One body field. offset is None after a variable-length field."""

    name: str
    type: str  # a SCALARS key, "str", "bytes", "blob", or a struct name
    offset: int | None
    count: int = 1  # array length; 1 for a plain field
    array: bool = False
    struct: StructDef | None = None
    param: str | None = None
    doc: str = ""

    @property
    def variable(self) -> bool:
        return self.type in ("str", "bytes", "blob")


@dataclass(frozen=True)
class Message:
    """A body: fixed head (head_bytes), then possibly variable fields and more fixed ones."""

    name: str
    cmd: int
    fields: tuple[Field, ...]
    head_bytes: int  # bytes before the first variable field; the whole body if none
    fixed: bool  # no variable field: the body is exactly head_bytes

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def decode(self, body: bytes, *, trailing: bool = False) -> dict[str, Any]:
        """Every field by name; arrays are tuples, structs dicts. FrameError when short, or
        long unless trailing (bytes a later protocol version may append)."""
        out: dict[str, Any] = {}
        off = 0
        try:
            for f in self.fields:
                if f.type in SCALARS:
                    vals = struct.unpack_from(f"<{f.count}{SCALARS[f.type]}", body, off)
                    off += struct.calcsize(f"<{f.count}{SCALARS[f.type]}")
                    out[f.name] = tuple(vals) if f.array else vals[0]
                elif f.struct is not None:
                    s = f.struct
                    items = [dict(zip((m.name for m in s.fields),
                                      struct.unpack_from("<" + s.format, body, off + i * s.size),
                                      strict=True))
                             for i in range(f.count)]
                    off += s.size * f.count
                    out[f.name] = tuple(items) if f.array else items[0]
                elif f.type in ("str", "bytes"):
                    n = body[off]
                    raw = bytes(body[off + 1 : off + 1 + n])
                    if len(raw) != n:
                        raise FrameError(f"{self.name} body of {len(body)} bytes ends inside "
                                         f"{f.name}")
                    off += 1 + n
                    out[f.name] = raw.decode("utf-8", "replace") if f.type == "str" else raw
                else:  # blob: the rest
                    out[f.name] = bytes(body[off:])
                    off = len(body)
        except (struct.error, IndexError):
            raise FrameError(f"{self.name} body of {len(body)} bytes ends inside field "
                             f"{f.name}") from None
        if off != len(body) and not trailing:
            raise FrameError(f"{self.name} body of {len(body)} bytes, expected {off}")
        return out

    def encode(self, **values: Any) -> bytes:
        """A body from every field by name (reserved fields default to 0, blobs to empty)."""
        out = bytearray()
        for f in self.fields:
            v: Any = values.get(f.name)
            if v is None:
                if not (f.name.startswith("reserved") or f.type == "blob"):
                    raise ValueError(f"{self.name}: field {f.name} missing")
                v = b"" if f.type == "blob" else (0,) * f.count if f.array else 0
            if f.type in SCALARS:
                vals = tuple(v) if f.array else (v,)
                if len(vals) != f.count:
                    raise ValueError(f"{self.name}.{f.name}: {len(vals)} values for {f.count}")
                out += struct.pack(f"<{f.count}{SCALARS[f.type]}", *vals)
            elif f.struct is not None:
                s = f.struct
                for item in (v if f.array else (v,)):
                    out += struct.pack("<" + s.format, *(item.get(m.name, 0) for m in s.fields))
            elif f.type in ("str", "bytes"):
                raw = v.encode() if isinstance(v, str) else bytes(v)
                out += bytes([len(raw)]) + raw
            else:
                out += bytes(v)
        return bytes(out)
