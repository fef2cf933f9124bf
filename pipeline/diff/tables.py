"""Diff tables: rows in, rows out, with the DDL (`sql/schema/4*_diff_*.sql`) as the one definition of
their columns — the same contract as the report tables (`pipeline.report.tables`).

The columns after the key (``base``, ``variant``, ``stage``, ``pos``) are, in order, the keys of the
JSON objects they store (docs/json-schema.md "diff"); a JSON column holds a nested value; a column
whose comment starts with ``optional:`` is left out of the object when it is NULL. A field with no
column is an error, so every stored number has a documented column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import duckdb
from duckdb import ColumnExpression, ConstantExpression
import orjson
import pyarrow as pa

from pipeline.store import schema_statements

KEY_COLUMNS = ("base", "variant", "stage", "pos")
HEAD_TABLES = ("diff_series", "diff_runs", "diff_stages")
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (diff_\w+)\s*\((.*?)\);", re.S)
_COLUMN = re.compile(r"^\s*(\w+)\s+([A-Z]+(?:\[\])?)", re.M)
_OPTIONAL = re.compile(r"COMMENT ON COLUMN (diff_\w+)\.(\w+) IS 'optional:")
_ARROW = {"TEXT": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "JSON": pa.string(), "TIMESTAMP": pa.timestamp("us"),
          "TEXT[]": pa.list_(pa.string()), "INTEGER[]": pa.list_(pa.int32())}


@dataclass(frozen=True)
class TableSpec:
    """One diff table: its columns in order, their SQL types, the optional ones."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    optional: frozenset[str]

    @property
    def fields(self) -> tuple[str, ...]:
        """The columns that are keys of the stored objects (all but the key columns)."""
        return tuple(c for c in self.columns if c not in KEY_COLUMNS)


@lru_cache(maxsize=1)
def specs() -> dict[str, TableSpec]:
    """Every diff table of `sql/schema`, parsed from its DDL (PRIMARY KEY lines are not columns)."""
    out = {}
    for ddl in schema_statements():
        optional = set(_OPTIONAL.findall(ddl))
        for name, body in _TABLE.findall(ddl):
            cols = [(c, t) for c, t in _COLUMN.findall(body) if c != "PRIMARY"]
            out[name] = TableSpec(name, tuple(c for c, _ in cols), tuple(t for _, t in cols),
                                  frozenset(c for t, c in optional if t == name))
    return out


def settle(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Finish a result an earlier ``execute(...).fetchone()`` left open (DuckDB ≥ 2 refuses relation-API
    work on the connection until then; e.g. `pipeline.report.context.root_info` leaves one); returns `conn`."""
    complete = getattr(conn, "complete", None)
    if complete is not None:
        complete()
    return conn


def list_tables() -> dict[str, str]:
    """Stage field → its `diff_<field>` table, for every table that stores the rows of a list."""
    return {name.removeprefix("diff_"): name for name in specs() if name not in HEAD_TABLES}


def _encode(value: object, sql_type: str) -> object:
    if sql_type == "JSON":
        return None if value is None else orjson.dumps(value).decode()
    return value


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Append `rows` (dicts keyed by column name) to `table`; a key without a column is an error."""
    if not rows:
        return
    spec = specs()[table]
    known = set(spec.columns)
    for row in rows:
        extra = [k for k in row if k not in known]
        if extra:
            raise ValueError(f"{table}: no column for field(s) {', '.join(extra)} "
                             f"(declare them in sql/schema and docs/json-schema.md)")
    arrays = [pa.array([_encode(r.get(c), t) for r in rows], _ARROW[t]) for c, t in zip(spec.columns, spec.types)]
    settle(conn).from_arrow(pa.Table.from_arrays(arrays, names=list(spec.columns))).insert_into(table)


def read_rows(conn: duckdb.DuckDBPyConnection, table: str, where: dict[str, object]) -> list[dict]:
    """Rows of `table` whose columns equal `where`, in key order, JSON decoded, NULL optional fields dropped."""
    spec = specs()[table]
    cond = None
    for column, value in where.items():
        term = ColumnExpression(column) == ConstantExpression(value)
        cond = term if cond is None else cond & term
    rel = settle(conn).table(table)
    if cond is not None:
        rel = rel.filter(cond)
    order = [ColumnExpression(c) for c in ("pos",) if c in spec.columns]
    rows = (rel.sort(*order) if order else rel).to_arrow_table().to_pylist()
    json_cols = [c for c, t in zip(spec.columns, spec.types) if t == "JSON"]
    for row in rows:
        for c in json_cols:
            if row[c] is not None:
                row[c] = orjson.loads(row[c])
        for c in spec.optional:
            if row[c] is None:
                del row[c]
    return rows


def as_object(row: dict, table: str) -> dict:
    """The stored object of a row: its fields in column order, without the key columns."""
    return {c: row[c] for c in specs()[table].fields if c in row}
