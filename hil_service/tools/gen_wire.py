"""Generate the C header and the Python module of the wire table.

    python -m hil_service.tools.gen_wire            rewrite both files in the tree
    python -m hil_service.tools.gen_wire --out DIR  write them under DIR (same relative paths)
    python -m hil_service.tools.gen_wire --check    exit 1 if a committed file is stale

Source: firmware_zephyr/protocol/wire.toml (docs/protocol.md, "The wire table").
Needs Python >= 3.11 (tomllib); the generated files need nothing but the package.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from hil_service.wire_schema import SCALARS, Constraint, Field, Message, Param, StructDef

ROOT = Path(__file__).resolve().parents[2]
TABLE = Path("firmware_zephyr/protocol/wire.toml")
C_HEADER = Path("firmware_zephyr/protocol/include/odl_wire_gen.h")
PY_MODULE = Path("hil_service/wire_gen.py")

C_TYPES = {"u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t", "i16": "int16_t",
           "f32": "float"}
C_PARAM_TYPES = {"float": ("float", "ctypes.c_float", 4), "uint32": ("uint32_t", "ctypes.c_uint32", 4)}
# descriptor type codes of the C test's generic walker
C_CODES = {**SCALARS, "str": "s", "bytes": "b", "blob": "*"}


class TableError(ValueError):
    """wire.toml is inconsistent."""


@dataclass(frozen=True)
class Table:
    version: int
    enums: dict[str, dict[str, Any]]
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...]
    structs: dict[str, StructDef]
    messages: tuple[Message, ...]


# --- reading -----------------------------------------------------------------

def _parse_type(text: str) -> tuple[str, int, bool]:
    if text.endswith("]"):
        base, n = text[:-1].split("[")
        return base, int(n), True
    return text, 1, False


def _fields(raw: list[dict[str, Any]], structs: dict[str, StructDef], where: str) -> tuple[Field, ...]:
    out: list[Field] = []
    off: int | None = 0
    for r in raw:
        base, count, array = _parse_type(r["type"])
        sdef = structs.get(base)
        if base not in SCALARS and sdef is None and base not in ("str", "bytes", "blob"):
            raise TableError(f"{where}.{r['name']}: unknown type {r['type']!r}")
        if base == "blob" and r is not raw[-1]:
            raise TableError(f"{where}.{r['name']}: a blob must be the last field")
        out.append(Field(r["name"], base, off, count, array, sdef, r.get("param"), r.get("doc", "")))
        if base in SCALARS:
            size: int | None = struct.calcsize(SCALARS[base]) * count
        elif sdef is not None:
            size = sdef.size * count
        else:
            size = None
        off = off + size if off is not None and size is not None else None
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise TableError(f"{where}: a field name is used twice")
    return tuple(out)


def load(path: Path) -> Table:
    doc = tomllib.loads(path.read_text())
    enums = doc["enums"]
    params: list[Param] = []
    for i, p in enumerate(doc["param"]):
        enum = tuple(enums[p["enum"]]["values"]) if "enum" in p else ()
        if p["c_type"] not in C_PARAM_TYPES:
            raise TableError(f"param {p['name']}: c_type {p['c_type']!r} not in {list(C_PARAM_TYPES)}")
        params.append(Param(
            name=p["name"], index=i + 1, c_field=p["c_field"], c_type=p["c_type"], default=p["default"],
            doc=p.get("doc", ""), enum=enum, min=float(p.get("min", -math.inf)),
            max=float(p.get("max", math.inf)), min_open=p.get("min_open", False),
            max_open=p.get("max_open", False), core_default=p.get("core_default")))
        params[-1].check(params[-1].default)
    by_name = {p.name: p for p in params}
    constraints = tuple(Constraint(c["lhs"], c["op"], c["rhs"]) for c in doc.get("constraint", []))
    for c in constraints:
        if c.op != "<=" or c.lhs not in by_name or c.rhs not in by_name:
            raise TableError(f"constraint {c}: only '<=' between two parameters")
    structs: dict[str, StructDef] = {}
    for name, s in doc["structs"].items():
        fields = _fields(s["fields"], structs, name)
        if any(f.type not in SCALARS or f.array for f in fields):
            raise TableError(f"struct {name}: plain scalar fields only")
        last = fields[-1]
        assert last.offset is not None
        structs[name] = StructDef(name, fields, last.offset + struct.calcsize(SCALARS[last.type]))
    messages = []
    for name, m in doc["messages"].items():
        fields = _fields(m["fields"], structs, name)
        for f in fields:
            if f.param is not None and f.param not in by_name:
                raise TableError(f"{name}.{f.name}: unknown param {f.param!r}")
        head = [f for f in fields if f.offset is not None and not f.variable]
        first_var = next((f for f in fields if f.variable), None)
        head_bytes = first_var.offset if first_var is not None and first_var.offset is not None else (
            _end(head[-1]) if head else 0)
        messages.append(Message(name, int(m["cmd"]), fields, head_bytes, first_var is None))
    return Table(int(doc["protocol_version"]), enums, tuple(params), constraints, structs, tuple(messages))


def _end(f: Field) -> int:
    assert f.offset is not None
    size = f.struct.size if f.struct is not None else struct.calcsize(SCALARS[f.type])
    return f.offset + size * f.count


def _head(m: Message) -> list[Field]:
    """The fields of the fixed head: everything before the first variable field."""
    out = []
    for f in m.fields:
        if f.variable:
            break
        out.append(f)
    return out


# --- C -----------------------------------------------------------------------

def _cfloat(v: float) -> str:
    text = repr(float(np.float32(v)))
    return text + "f" if ("." in text or "e" in text) else text + ".0f"


def _c_get(f: Field, src: str) -> str:
    return {"u8": f"({src})[0]", "u16": f"odl_get_u16({src})", "u32": f"odl_get_u32({src})",
            "u64": f"odl_get_u64({src})", "i16": f"(int16_t)odl_get_u16({src})",
            "f32": f"odl_get_f32({src})"}[f.type]


def _c_put(f: Field, dst: str, val: str) -> str:
    return {"u8": f"({dst})[0] = {val}", "u16": f"odl_put_u16({dst}, {val})",
            "u32": f"odl_put_u32({dst}, {val})", "u64": f"odl_put_u64({dst}, {val})",
            "i16": f"odl_put_u16({dst}, (uint16_t){val})", "f32": f"odl_put_f32({dst}, {val})"}[f.type]


def _c_codec(prefix: str, tname: str, fields: list[Field], size: int, doc: str) -> list[str]:
    """A C struct of the fields and its get/put functions (little-endian, no padding on the wire)."""
    up = prefix.upper()
    out = [f"/* {doc} */", f"typedef struct {prefix} {{"]
    for f in fields:
        ctype = f"odl_wire_{f.struct.name}_t" if f.struct else C_TYPES[f.type]
        dim = f"[{f.count}]" if f.array else ""
        out.append(f"\t{ctype} {f.name}{dim};")
    out += [f"}} {tname};", ""]
    for kind in ("get", "put"):
        sig = (f"static inline void {prefix}_get(const uint8_t *b, {tname} *m)" if kind == "get" else
               f"static inline size_t {prefix}_put(uint8_t *b, const {tname} *m)")
        out += [sig, "{"]
        for f in fields:
            off = f"{up}_{f.name.upper()}_OFF"
            step = f"{f.struct.size}u" if f.struct else f"{struct.calcsize(SCALARS[f.type])}u"
            if f.array:
                out.append(f"\tfor (size_t i = 0; i < {f.count}u; i++) {{")
                src, ref, ind = f"b + {off} + {step} * i", f"m->{f.name}[i]", "\t\t"
            else:
                src, ref, ind = f"b + {off}", f"m->{f.name}", "\t"
            if f.struct:
                call = (f"odl_wire_{f.struct.name}_get({src}, &{ref})" if kind == "get" else
                        f"(void)odl_wire_{f.struct.name}_put({src}, &{ref})")
                out.append(f"{ind}{call};")
            elif kind == "get":
                out.append(f"{ind}{ref} = {_c_get(f, src)};")
            else:
                out.append(f"{ind}{_c_put(f, src, ref)};")
            if f.array:
                out.append("\t}")
        out += ([f"\treturn {size}u;"] if kind == "put" else []) + ["}", ""]
    return out


def _c_offsets(up: str, fields: list[Field]) -> list[str]:
    out = []
    for f in fields:
        out.append(f"#define {up}_{f.name.upper()}_OFF {f.offset}u")
        if f.array:
            out.append(f"#define {up}_{f.name.upper()}_LEN {f.count}u")
    return out


def render_c(t: Table) -> str:
    L = [
        "/*",
        " * odl_wire_gen.h - GENERATED from protocol/wire.toml by",
        " * `python -m hil_service.tools.gen_wire`: do not edit (docs/protocol.md).",
        " *",
        " * Body sizes and field offsets of every message, get/put codecs of the fixed",
        " * heads, and the range check of odl_train_params_t, with _Static_asserts that",
        " * the hand-written headers (odl_model.h, odl_proto.h) agree with the table.",
        " */",
        "#ifndef ODL_WIRE_GEN_H",
        "#define ODL_WIRE_GEN_H",
        "",
        "#include <math.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <string.h>",
        "",
        '#include "odl/odl_config.h"',
        '#include "odl/odl_model.h"',
        '#include "odl/odl_status.h"',
        '#include "odl_proto.h"',
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define ODL_WIRE_PROTO_VERSION {t.version}u",
        "_Static_assert(ODL_PROTO_VERSION == ODL_WIRE_PROTO_VERSION, "
        '"odl_proto.h and wire.toml disagree on the protocol version");',
        "",
        "/* --- enumerations ------------------------------------------------------ */",
    ]
    for name, e in t.enums.items():
        for i, v in enumerate(e["values"]):
            L.append(f"_Static_assert({e['c_prefix']}{v.upper()} == {i}, "
                     f"\"{name} {v} is {i} in wire.toml\");")
        L.append(f"_Static_assert({e['c_count']} == {len(e['values'])}, "
                 f"\"wire.toml lists {len(e['values'])} {name} values\");")
    L += ["", "/* --- training parameters (odl_train_params_t) ------------------------- */", "",
          "/* ERROR detail of a refused CONFIGURE: which parameter (0: none). */",
          "enum odl_wire_param {", "\tODL_WIRE_PARAM_NONE = 0,"]
    L += [f"\tODL_WIRE_PARAM_{p.name.upper()} = {p.index}, /* {p.doc} */" for p in t.params]
    L += ["};", f"#define ODL_WIRE_PARAM_COUNT {len(t.params)}u", ""]
    off = 0
    for p in t.params:
        ctype, _, size = C_PARAM_TYPES[p.c_type]
        L.append(f"_Static_assert(offsetof(odl_train_params_t, {p.c_field}) == {off}u, "
                 f"\"odl_train_params_t.{p.c_field} moved: edit wire.toml and regenerate\");")
        L.append(f"_Static_assert(sizeof(((odl_train_params_t *)0)->{p.c_field}) == {size}u, "
                 f"\"odl_train_params_t.{p.c_field} is not a {ctype}\");")
        off += size
    L += [f"_Static_assert(sizeof(odl_train_params_t) == {off}u, "
          "\"odl_train_params_t has members wire.toml does not list\");", ""]
    for p in t.params:
        if p.enum:
            continue
        up = p.name.upper()
        if math.isfinite(p.min):
            L.append(f"#define ODL_WIRE_{up}_MIN {_cfloat(p.min)}{' /* exclusive */' if p.min_open else ''}")
        if math.isfinite(p.max):
            L.append(f"#define ODL_WIRE_{up}_MAX {_cfloat(p.max)}{' /* exclusive */' if p.max_open else ''}")
    L += ["",
          "/*",
          " * The table's ranges, checked in table order: ODL_OK, or the status a core",
          " * refusal would carry (ODL_ERR_STRATEGY for an enum, ODL_ERR_NONFINITE,",
          " * ODL_ERR_PARAM) with *param naming the parameter (enum odl_wire_param).",
          " */",
          "static inline odl_status_t odl_wire_check_train_params(const odl_train_params_t *p, "
          "uint16_t *param)",
          "{",
          "\t*param = ODL_WIRE_PARAM_NONE;"]
    by_name = {p.name: p for p in t.params}
    for p in t.params:
        up, fld = p.name.upper(), f"p->{p.c_field}"
        refuse = f"{{\n\t\t*param = ODL_WIRE_PARAM_{up};\n\t\treturn %s;\n\t}}"
        if p.enum:
            L.append(f"\tif ({fld} >= {len(p.enum)}u) " + refuse % "ODL_ERR_STRATEGY")
            continue
        L.append(f"\tif (!isfinite({fld})) " + refuse % "ODL_ERR_NONFINITE")
        conds = []
        if math.isfinite(p.min):
            conds.append(f"{fld} {'>' if p.min_open else '>='} ODL_WIRE_{up}_MIN")
        if math.isfinite(p.max):
            conds.append(f"{fld} {'<' if p.max_open else '<='} ODL_WIRE_{up}_MAX")
        if conds:
            L.append(f"\tif (!({' && '.join(conds)})) " + refuse % "ODL_ERR_PARAM")
    for c in t.constraints:
        lhs, rhs = by_name[c.lhs], by_name[c.rhs]
        L.append(f"\tif (!(p->{lhs.c_field} <= p->{rhs.c_field})) "
                 + (f"{{\n\t\t*param = ODL_WIRE_PARAM_{lhs.name.upper()};\n\t\treturn ODL_ERR_PARAM;\n\t}}"))
    L += ["\treturn ODL_OK;", "}", ""]

    L += ["/* --- structs inside bodies ---------------------------------------------- */", ""]
    for s in t.structs.values():
        up = f"ODL_WIRE_{s.name.upper()}"
        L += [f"#define {up}_BYTES {s.size}u", *_c_offsets(up, list(s.fields)), ""]
        L += _c_codec(f"odl_wire_{s.name}", f"odl_wire_{s.name}_t", list(s.fields), s.size, s.name)

    L += ["/* --- message bodies ---------------------------------------------------- */", ""]
    for m in t.messages:
        up = f"ODL_WIRE_{m.name.upper()}"
        head = _head(m)
        L.append(f"#define {up}_CMD 0x{m.cmd:02X}u")
        L.append(f"#define {up}_{'BYTES' if m.fixed else 'HEAD_BYTES'} {m.head_bytes}u")
        L.append(f"_Static_assert({up}_{'BYTES' if m.fixed else 'HEAD_BYTES'} <= ODL_PROTO_MAX_BODY, "
                 f"\"{m.name} does not fit a body\");")
        L += _c_offsets(up, head)
        tail = [f for f in m.fields if f not in head]
        if tail:
            L.append(f"/* then: {', '.join(f'{f.type} {f.name}' for f in tail)} */")
        L.append("")
        if head:
            L += _c_codec(f"odl_wire_{m.name}", f"odl_wire_{m.name}_t", head, m.head_bytes,
                          f"{m.name}: {'the body' if m.fixed else 'its fixed head'}")
    # the two compile-time maxima the bodies have fixed room for
    L += ["_Static_assert(ODL_MAX_LAYERS + 1 <= ODL_WIRE_CONFIGURE_SIZES_LEN, "
          "\"CONFIGURE has room for 5 sizes\");",
          "_Static_assert(ODL_MAX_LAYERS <= ODL_WIRE_METRICS_REPLY_LAYERS_LEN, "
          "\"METRICS has room for 4 layers\");", ""]
    conf = next(m for m in t.messages if m.name == "configure")
    L += ["/* CONFIGURE's training parameters into the core's struct. */",
          "static inline void odl_wire_configure_params(const odl_wire_configure_t *m, "
          "odl_train_params_t *p)", "{", "\tmemset(p, 0, sizeof(*p));"]
    for f in conf.fields:
        if f.param is not None:
            L.append(f"\tp->{by_name[f.param].c_field} = m->{f.name};")
    L += ["}", ""]

    L += _c_descriptors(t)
    L += ["#ifdef __cplusplus", "}", "#endif", "", "#endif /* ODL_WIRE_GEN_H */", ""]
    return "\n".join(L)


def _c_descriptors(t: Table) -> list[str]:
    """Field lists for the C test vectors' generic walker (only when ODL_WIRE_DESCRIPTORS)."""
    structs = list(t.structs)
    L = ["#ifdef ODL_WIRE_DESCRIPTORS",
         "/* type: struct format char, 's' str, 'b' bytes, '*' blob, 'S' struct (index) */",
         "typedef struct odl_wire_field_desc {", "\tconst char *name;", "\tchar type;",
         "\tuint8_t count;", "\tuint8_t array;", "\tint8_t struct_index;",
         "} odl_wire_field_desc_t;", "",
         "typedef struct odl_wire_struct_desc {", "\tconst char *name;",
         "\tconst odl_wire_field_desc_t *fields;", "\tuint8_t n_fields;", "\tuint16_t size;",
         "} odl_wire_struct_desc_t;", "",
         "typedef struct odl_wire_msg_desc {", "\tconst char *name;", "\tuint8_t cmd;",
         "\tconst odl_wire_field_desc_t *fields;", "\tuint8_t n_fields;", "\tuint16_t head_bytes;",
         "\tuint8_t fixed;",
         "\t/* decode the head with the generated get, encode with put: bytes written */",
         "\tsize_t (*roundtrip)(const uint8_t *in, uint8_t *out);",
         "} odl_wire_msg_desc_t;", ""]

    def rows(var: str, fields: tuple[Field, ...]) -> list[str]:
        out = [f"static const odl_wire_field_desc_t {var}[] = {{"]
        for f in fields:
            code = "S" if f.struct else C_CODES[f.type]
            idx = structs.index(f.struct.name) if f.struct else -1
            out.append(f"\t{{\"{f.name}\", '{code}', {f.count}u, {int(f.array)}u, {idx}}},")
        return out + ["};"]

    for s in t.structs.values():
        L += rows(f"odl_wire_{s.name}_fields", s.fields)
    L += ["static const odl_wire_struct_desc_t odl_wire_structs[] = {"]
    L += [f"\t{{\"{s.name}\", odl_wire_{s.name}_fields, {len(s.fields)}u, {s.size}u}},"
          for s in t.structs.values()]
    L += ["};", ""]
    for m in t.messages:
        if m.fields:
            L += rows(f"odl_wire_{m.name}_fields", m.fields)
        if _head(m):
            L += [f"static size_t odl_wire_{m.name}_roundtrip(const uint8_t *in, uint8_t *out)", "{",
                  f"\todl_wire_{m.name}_t m;", "", f"\todl_wire_{m.name}_get(in, &m);",
                  f"\treturn odl_wire_{m.name}_put(out, &m);", "}"]
    L += ["static const odl_wire_msg_desc_t odl_wire_messages[] = {"]
    for m in t.messages:
        fields = f"odl_wire_{m.name}_fields" if m.fields else "NULL"
        rt = f"odl_wire_{m.name}_roundtrip" if _head(m) else "NULL"
        L.append(f"\t{{\"{m.name}\", 0x{m.cmd:02X}u, {fields}, {len(m.fields)}u, {m.head_bytes}u, "
                 f"{int(m.fixed)}u, {rt}}},")
    L += ["};", "#endif /* ODL_WIRE_DESCRIPTORS */", ""]
    return L


# --- Python ------------------------------------------------------------------

def _py_call(func: str, args: list[str], indent: int) -> str:
    """func(args) on one line when it fits 100 columns, else one argument a line."""
    line = f"{func}({', '.join(args)})"
    if indent + len(line) <= 100:
        return line
    pad = " " * (indent + 4)
    return f"{func}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * indent + ")"


def _py_field(f: Field, indent: int = 4) -> str:
    args = [repr(f.name), repr(f.type), repr(f.offset)]
    if f.count != 1 or f.array:
        args += [f"count={f.count}", f"array={f.array}"]
    if f.struct is not None:
        args.append(f"struct={f.struct.name.upper()}")
    if f.param is not None:
        args.append(f"param={f.param!r}")
    if f.doc:
        args.append(f"doc={f.doc!r}")
    return _py_call("Field", args, indent)


def _py_param(p: Param) -> str:
    args = [f"name={p.name!r}", f"index={p.index}", f"c_field={p.c_field!r}", f"c_type={p.c_type!r}",
            f"default={p.default!r}", f"doc={p.doc!r}"]
    if p.enum:
        args.append(f"enum={p.enum!r}")
    if math.isfinite(p.min):
        args.append(f"min={p.min!r}")
    if math.isfinite(p.max):
        args.append(f"max={p.max!r}")
    if p.min_open:
        args.append("min_open=True")
    if p.max_open:
        args.append("max_open=True")
    if p.core_default is not None:
        args.append(f"core_default={p.core_default!r}")
    return _py_call("Param", args, 4)


def render_python(t: Table) -> str:
    L = ['"""GENERATED from firmware_zephyr/protocol/wire.toml by `python -m hil_service.tools.gen_wire`.',
         "",
         "Do not edit: change the table and regenerate (docs/protocol.md, \"The wire table\").",
         '"""', "", "from __future__ import annotations", "", "import ctypes", "",
         "from hil_service.wire_schema import Constraint, Field, Message, Param, StructDef", "",
         f"PROTOCOL_VERSION = {t.version}", ""]
    for name, e in t.enums.items():
        L.append(f"{name.upper()}_NAMES: tuple[str, ...] = {tuple(e['values'])!r}")
    L += ["", "PARAMS: dict[str, Param] = {"]
    L += [f"    {p.name!r}: {_py_param(p)}," for p in t.params]  # Param( starts at column 4
    L += ["}", "", "CONSTRAINTS: tuple[Constraint, ...] = ("]
    L += [f"    Constraint({c.lhs!r}, {c.op!r}, {c.rhs!r})," for c in t.constraints]
    L += [")", ""]
    for s in t.structs.values():
        L += [f"{s.name.upper()} = StructDef({s.name!r}, ("]
        L += [f"    {_py_field(f)}," for f in s.fields]
        L += [f"), {s.size})", ""]
    for m in t.messages:
        L += [f"{m.name.upper()} = Message({m.name!r}, 0x{m.cmd:02X}, ("]
        L += [f"    {_py_field(f)}," for f in m.fields]
        L += [f"), {m.head_bytes}, {m.fixed})", ""]
    L += ["MESSAGES: dict[str, Message] = {"]
    L += [f"    {m.name!r}: {m.name.upper()}," for m in t.messages]
    L += ["}", "", "",
          "class TrainParamsStruct(ctypes.Structure):",
          '    """ctypes mirror of odl_train_params_t (odl_model.h, member order of the table)."""', "",
          "    _fields_ = ["]
    L += [f"        ({p.c_field!r}, {C_PARAM_TYPES[p.c_type][1]})," for p in t.params]
    L += ["    ]", ""]
    return "\n".join(L)


# --- entry point -----------------------------------------------------------------

def render(root: Path = ROOT) -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    t = load(root / TABLE)
    return {C_HEADER: render_c(t), PY_MODULE: render_python(t)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil_service.tools.gen_wire", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT, help="root to write under (default: the tree)")
    ap.add_argument("--check", action="store_true", help="compare with the tree, write nothing")
    args = ap.parse_args(argv)
    files = render()
    if args.check:
        stale = [str(p) for p, text in files.items()
                 if not (ROOT / p).is_file() or (ROOT / p).read_text() != text]
        for p in stale:
            print(f"{p}: stale, run python -m hil_service.tools.gen_wire", file=sys.stderr)
        return 1 if stale else 0
    for rel, text in files.items():
        dest = args.out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
