"""The configuration reference (docs/config-reference.md), generated so it cannot drift.

Every key, its type and range, its default and its environment variable come from the
config structs of :mod:`virtuoso_daemon.core.config` (``msgspec.inspect``: the same
types that validate a file); what a key is for comes from the comment next to it in
``config/virtuoso.toml``, the commented example file an operator edits. A key the
structs have and the example file does not mention is reported by
:func:`undocumented_keys` (and fails ``tests/foundation/test_reference.py``), so the
two cannot drift apart either. ``scripts/gen_reference.py`` writes the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import msgspec.inspect as mi

from virtuoso_daemon.core.config import ENV_PREFIX, SECRET_FIELDS, Config

# --- the comments of the example file ---------------------------------------------------

_HEADER = re.compile(r"^\[\[?\s*(?P<path>[^\]]+?)\s*\]\]?\s*(?:#\s?(?P<note>.*))?$")
_KEY = re.compile(r'^(?P<key>[A-Za-z0-9_]+|"[^"]*")\s*=\s*(?P<rest>.*)$')
_CONTINUATION = re.compile(r"^\s+#\s?(?P<note>.*)$")


@dataclass
class TomlNotes:
    """What ``config/virtuoso.toml`` says: per key path and per table path."""

    keys: dict[str, str] = field(default_factory=dict)  # "daemon.port" -> comment
    tables: dict[str, str] = field(default_factory=dict)  # "api" -> notes on the table
    seen: set[str] = field(default_factory=set)  # every key path written in the file


def _split_comment(value: str) -> tuple[str, str, int]:
    """``value  # note`` -> (value, note, bracket depth left open by the value)."""
    depth, quote = 0, ""
    for i, ch in enumerate(value):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "#":
            return value[:i].rstrip(), value[i + 1 :].strip(), depth
    return value.rstrip(), "", depth


def _table_path(raw: str) -> str:
    """``signals.overrides."BTC/USDT".whales`` -> ``signals.overrides``: a quoted part
    is a name the operator chooses, so the notes belong to the table above it."""
    parts = []
    for part in raw.split("."):
        if part.startswith('"'):
            break
        parts.append(part.strip())
    return ".".join(parts)


def parse_toml_notes(text: str) -> TomlNotes:
    """Read the comments of the example file (its layout, not TOML in general).

    A key's note is its trailing comment plus indented ``#`` lines under it; a comment
    block above a key without a trailing comment is that key's note, and a block right
    under a table header is the table's. Commented-out tables (``# [[exchanges]]``)
    document their commented-out keys the same way; the first mention of a key wins.
    """
    notes = TomlNotes()
    table, commented_table, last_key = "", False, ""
    pending: list[str] = []
    after_header = False
    depth = 0
    for line in text.splitlines():
        if depth > 0:  # inside a multi-line array: only its closing comment matters
            _, note, opened = _split_comment(line)
            depth += opened
            if note and last_key:
                notes.keys[last_key] = (notes.keys.get(last_key, "") + " " + note).strip()
            continue
        commented = line.startswith("#")
        body = line[1:] if commented else line
        cont = _CONTINUATION.match(body) if (not commented or commented_table) else None
        if cont and last_key:
            notes.keys[last_key] = (notes.keys.get(last_key, "") + " " + cont["note"]).strip()
            continue
        stripped = body.strip()
        header = _HEADER.match(stripped)
        if header:
            raw = header["path"]
            table, commented_table, last_key = raw, commented, ""
            path = _table_path(raw)
            notes.seen.add(path)  # a table-valued key ([beta.windows]) is written here
            text_notes = " ".join([*pending, header["note"] or ""]).strip()
            if path not in notes.tables and text_notes:
                notes.tables[path] = text_notes
            pending, after_header = [], True
            continue
        key = _KEY.match(stripped) if (not commented or commented_table) else None
        if key:
            _, note, depth = _split_comment(key["rest"])
            name = key["key"].strip('"')
            last_key = f"{table}.{name}" if table else name
            notes.seen.add(last_key)
            text_notes = note or ("" if after_header else " ".join(pending))
            if after_header and pending:
                path = _table_path(table)
                notes.tables[path] = (notes.tables.get(path, "") + " " + " ".join(pending)).strip()
            if last_key not in notes.keys:
                notes.keys[last_key] = text_notes
            else:
                last_key = ""  # a later example of the same key: keep the first note
            pending, after_header = [], False
            continue
        last_key = ""
        if commented and stripped:
            pending.append(stripped)
        else:
            pending = []
    return notes


# --- the structs ------------------------------------------------------------------------


@dataclass
class Key:
    path: str  # "daemon.port", "exchanges.name"
    type: str
    default: str
    env: str
    secret: bool


@dataclass
class Section:
    path: str  # "daemon", "signals.price_move", "exchanges"
    array: bool  # [[exchanges]]: one table per item
    doc: str
    keys: list[Key]


def _range(t: Any) -> str:
    lo = f">= {_num(t.ge)}" if t.ge is not None else f"> {_num(t.gt)}" if t.gt is not None else ""
    hi = f"<= {_num(t.le)}" if t.le is not None else f"< {_num(t.lt)}" if t.lt is not None else ""
    if t.ge is not None and t.le is not None:
        return f"{_num(t.ge)} .. {_num(t.le)}"
    return ", ".join(x for x in (lo, hi) if x)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def type_text(t: Any) -> str:
    """A msgspec type as an operator reads it: ``seconds, > 0``, ``0 .. 65535``."""
    unit = ""
    if isinstance(t, mi.Metadata):
        unit = (t.extra or {}).get("unit", "")
        t = t.type
    match t:
        case mi.BoolType():
            return "bool"
        case mi.StrType():
            return "string"
        case mi.IntType() | mi.FloatType():
            name = unit or ("int" if isinstance(t, mi.IntType) else "number")
            bounds = _range(t)
            return f"{name}, {bounds}" if bounds else name
        case mi.LiteralType():
            return " | ".join(f"`{json.dumps(v)}`" for v in t.values)
        case mi.ListType():
            return f"list of {type_text(t.item_type)}"
        case mi.DictType():
            return f"table of {type_text(t.value_type)}"
        case mi.UnionType():
            return " or ".join(type_text(x) for x in t.types)
        case mi.StructType():
            return "table"
        case _:
            return "any"


def toml_literal(value: Any) -> str:
    """A default as it would be written in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ", ".join(f"{json.dumps(k)} = {toml_literal(v)}" for k, v in value.items())
        return "{ " + items + " }"
    return str(value)


def _default(f: mi.Field) -> str:
    if f.default is not msgspec.NODEFAULT:
        value = f.default
    elif f.default_factory is not msgspec.NODEFAULT:
        value = f.default_factory()
    else:
        return "required"
    return toml_literal(msgspec.to_builtins(value))


def _struct(t: Any) -> tuple[mi.StructType | None, bool]:
    """The struct a field holds (a section) and whether it is an array of them."""
    if isinstance(t, mi.StructType):
        return t, False
    if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType):
        return t.item_type, True
    return None, False


def sections(
    t: mi.StructType | None = None, path: str = "", array: bool = False
) -> Iterator[Section]:
    """Every table of the config, depth first, in the order the structs declare them."""
    t = t or mi.type_info(Config)  # type: ignore[assignment]
    assert isinstance(t, mi.StructType)
    keys, nested = [], []
    for f in t.fields:
        sub, sub_array = _struct(f.type)
        key_path = f"{path}.{f.name}" if path else f.name
        if sub is not None:
            nested.append((sub, key_path, sub_array))
            continue
        env = "" if array or not path else ENV_PREFIX + key_path.replace(".", "__").upper()
        keys.append(Key(key_path, type_text(f.type), _default(f), env, f.name in SECRET_FIELDS))
    if path:
        yield Section(path, array, (t.cls.__doc__ or "").strip(), keys)
    for sub, key_path, sub_array in nested:
        yield from sections(sub, key_path, array or sub_array)


def undocumented_keys(notes: TomlNotes) -> list[str]:
    """Struct keys the example file never writes (not even commented out)."""
    return [k.path for s in sections() for k in s.keys if k.path not in notes.seen]


# --- the page ---------------------------------------------------------------------------

INTRO = """\
# Configuration reference

Generated by `scripts/gen_reference.py` from the config structs
(`virtuoso_daemon/core/config/`: every key, type, range and default) and the comments
of `config/virtuoso.toml` (what each key is for); `tests/foundation/test_reference.py`
fails when this page is stale or a key is missing from the example file. Do not edit it
by hand.

Precedence: built-in defaults < the file < the environment (`VIRTUOSO_<SECTION>__<KEY>`,
a value read as a TOML literal when it parses) < command-line flags. An unknown key, a
wrong type or a number out of its range stops the daemon with one line naming the key;
`virtuoso-daemon --check-config` prints the effective config. Secrets (marked below)
are redacted wherever the config is shown; give them as `*_file` paths or through the
environment rather than in the file.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else ""


def _plain(doc: str) -> str:
    """A docstring as Markdown: one paragraph, ``code`` as `code`, no Sphinx roles."""
    doc = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", " ".join(doc.split()))
    return doc.replace("``", "`")


def render(notes: TomlNotes) -> str:
    out = [INTRO]
    for s in sections():
        header = f"[[{s.path}]]" if s.array else f"[{s.path}]"
        out.append(f"\n## `{header}`\n")
        if s.array:
            out.append("One table per item (`[[...]]`); not settable from the environment.\n")
        doc = _plain(s.doc)
        table_note = notes.tables.get(s.path, "")
        if doc and len(table_note) < 80:
            table_note = ""  # a one-line title in the file says what the docstring says
        for paragraph in (doc, table_note):
            if paragraph:
                out.append(paragraph + "\n")
        if not s.keys:
            continue
        out.append("| key | type | default | environment | what |")
        out.append("|---|---|---|---|---|")
        for k in s.keys:
            name = k.path.rsplit(".", 1)[1]
            what = notes.keys.get(k.path) or notes.tables.get(k.path, "")
            if k.secret:
                what = ("secret (redacted). " + what).strip()
            env = f"`{k.env}`" if k.env else ""
            default = "required" if k.default == "required" else f"`{_cell(k.default)}`"
            out.append(f"| `{name}` | {_cell(k.type)} | {default} | {env} | {_cell(what)} |")
    return "\n".join(out) + "\n"
