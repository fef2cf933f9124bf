"""The event-argument spec (`pipeline/catalog/event_args.toml`): which ``args`` keys fill which
warehouse columns, read by both converters.

The orjson path (`events.py`) extracts each entry from the parsed events. The DuckDB path
gets the argument part of `sql/ingest/events.sql` generated here: the ``json_transform``
structure (every key with its DuckDB type) and one wide column per distinct read, which
`duckjson.split` maps back to each table's column (`wide_columns`). This is the one place
where SQL text is assembled in Python: from the checked catalog file (keys restricted to a
safe alphabet, types and fallbacks from fixed tables below), never from trace data or user
input; trace values stay parameters or rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.paths import read_catalog
from pipeline.store import schema_columns

CATALOG = "event_args.toml"
TYPES = {"int": "BIGINT", "json": "JSON", "text": "VARCHAR"}  # spec type → json_transform type
FALLBACKS = ("tid", "pid")  # event fields an int column may fall back to
_KEY_RE = re.compile(r"^[A-Za-z0-9 _.%()#/-]+$")  # nothing that could end a quoted name or literal
_EVENTS_RE = re.compile(r"^[A-Za-z]+:\w+$")  # "ph:cat"


class SpecError(ValueError):
    """The catalog breaks a rule of its header (the message names the entry)."""


@dataclass(frozen=True)
class ArgSpec:
    """One entry: `table`.`column` ← the first of `keys` with a value (else the event's
    `fallback` field), as `type`, on the events `events` (``"ph:cat"``) or all of the table's."""

    table: str
    column: str
    keys: tuple[str, ...]
    type: str
    fallback: str | None
    events: str | None
    source: str

    @property
    def read(self) -> tuple:
        """What is read, whatever the table: entries with the same read share a wide column."""
        return self.keys, self.type, self.fallback, self.events

    @property
    def phase_cat(self) -> tuple[str, str] | None:
        """(ph, cat) of `events`, or None for every event of the table."""
        if self.events is None:
            return None
        ph, cat = self.events.split(":", 1)
        return ph, cat


@lru_cache(maxsize=1)
def specs() -> tuple[ArgSpec, ...]:
    """Every entry of the catalog, checked."""
    out = tuple(map(_entry, read_catalog(CATALOG)["arg"]))
    seen: dict[tuple[str, str], int] = {}
    types: dict[str, str] = {}
    for i, s in enumerate(out):
        if (s.table, s.column) in seen:
            raise SpecError(f"{CATALOG}: {s.table}.{s.column} is listed twice")
        seen[(s.table, s.column)] = i
        for key in s.keys:
            if types.setdefault(key, s.type) != s.type:
                raise SpecError(f"{CATALOG}: args key {key!r} is read as {types[key]} and as {s.type}")
    return out


def _entry(raw: dict) -> ArgSpec:
    name = f"{CATALOG}: {raw.get('table')}.{raw.get('column')}"
    table, column, keys = raw.get("table"), raw.get("column"), tuple(raw.get("keys") or ())
    if not isinstance(table, str) or column not in schema_columns(table):
        raise SpecError(f"{name}: no such column in sql/schema")
    if not keys or not all(isinstance(k, str) and _KEY_RE.match(k) for k in keys):
        raise SpecError(f"{name}: keys must be a non-empty list of names matching {_KEY_RE.pattern}")
    if raw.get("type") not in TYPES:
        raise SpecError(f"{name}: type must be one of {', '.join(TYPES)}")
    fallback, events = raw.get("fallback"), raw.get("events")
    if fallback is not None and (fallback not in FALLBACKS or raw["type"] != "int"):
        raise SpecError(f"{name}: fallback must be one of {', '.join(FALLBACKS)}, for an int column")
    if events is not None and not _EVENTS_RE.match(events):
        raise SpecError(f"{name}: events must be 'ph:cat'")
    if not str(raw.get("source") or "").strip():
        raise SpecError(f"{name}: no source")
    return ArgSpec(table, column, keys, raw["type"], fallback, events, raw["source"])


@lru_cache(maxsize=None)
def for_table(table: str) -> tuple[ArgSpec, ...]:
    """The entries of one table, in catalog order."""
    return tuple(s for s in specs() if s.table == table)


@lru_cache(maxsize=1)
def wide_columns() -> dict[tuple[str, str], str]:
    """(table, column) → the wide column of `sql/ingest/events.sql` that holds it: one per
    distinct read, named ``arg_<column>`` (``arg_<table>_<column>`` when that name is taken)."""
    names: dict[tuple, str] = {}
    out = {}
    for s in specs():
        if s.read not in names:
            name = f"arg_{s.column}"
            names[s.read] = name if name not in names.values() else f"arg_{s.table}_{s.column}"
        out[(s.table, s.column)] = names[s.read]
    return out


def _quote(name: str) -> str:
    return '"' + name + '"'  # safe: _KEY_RE admits no quote


def _read_sql(s: ArgSpec) -> str:
    """The SQL expression of one read over ``a`` (the json_transform struct) and the event."""
    if s.type == "text":  # ->>: a string as is, any other value as its JSON text
        parts = [f"args->>'{k}'" for k in s.keys]
    else:
        parts = [f"a.{_quote(k)}" for k in s.keys]
    if s.fallback:
        parts.append(f"TRY_CAST({s.fallback} AS BIGINT)")
    expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    return f"{expr}::VARCHAR" if s.type == "json" else expr


def _when(tables: list[str], s: ArgSpec) -> str:
    listed = ", ".join(f"'{t}'" for t in tables)
    cond = f"tbl = {listed}" if len(tables) == 1 else f"tbl IN ({listed})"
    if s.phase_cat is not None:
        ph, cat = s.phase_cat
        cond += f" AND ph = '{ph}' AND cat = '{cat}'"
    return cond


@lru_cache(maxsize=1)
def sql_parts() -> dict[str, str]:
    """The generated pieces of `sql/ingest/events.sql`: ``arg_types``, the json_transform
    structure as a SQL string literal, and ``arg_columns``, the wide argument columns (each
    NULL on rows of other tables, so no value is built that nothing reads)."""
    wide = wide_columns()
    types: dict[str, str] = {}
    reads: dict[str, tuple[ArgSpec, list[str]]] = {}
    for s in specs():
        if s.type != "text":
            types.update({k: TYPES[s.type] for k in s.keys})
        reads.setdefault(wide[(s.table, s.column)], (s, []))[1].append(s.table)
    structure = "{" + ", ".join(f'"{k}": "{t}"' for k, t in types.items()) + "}"
    columns = [f"CASE WHEN {_when(tables, s)} THEN {_read_sql(s)} END AS {name}"
               for name, (s, tables) in reads.items()]
    return {"arg_types": f"'{structure}'", "arg_columns": ",\n       ".join(columns)}
