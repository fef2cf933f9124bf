"""Report tables: rows in, rows out, with the DDL as the one definition of their columns.

Each `report_*` table is declared once, in `sql/schema/3*_report_*.sql`. The columns after the
key (``root``, ``view``, ``stage``, ``pos``) are, in order, the keys of the JSON objects they store
(docs/json-schema.md); a JSON column holds a nested value; a column whose comment starts with
``optional:`` is left out of the object when it is NULL. A field with no column is an error, so
every stored number has a documented column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import duckdb
from duckdb import ColumnExpression, ConstantExpression
import orjson
import pyarrow as pa

from pipeline.paths import read_sql
from pipeline.store import run_statements, schema_statements

KEY_COLUMNS = ("root", "view", "stage", "pos")
HEAD_TABLES = ("report_roots", "report_views", "report_stages")
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (report_\w+)\s*\((.*?)\);", re.S)
_COLUMN = re.compile(r"^\s*\"?(\w+)\"?\s+([A-Z]+(?:\[\])?)", re.M)
_OPTIONAL = re.compile(r"COMMENT ON COLUMN (report_\w+)\.(\w+) IS 'optional:")
_ARROW = {"TEXT": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "JSON": pa.string(), "TIMESTAMP": pa.timestamp("us"),
          "TEXT[]": pa.list_(pa.string()), "INTEGER[]": pa.list_(pa.int32())}


@dataclass(frozen=True)
class TableSpec:
    """One report table: its columns in order, their SQL types, the optional ones."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    optional: frozenset[str]

    @property
    def fields(self) -> tuple[str, ...]:
        """The columns that are keys of the stored objects (all but the table's key columns)."""
        return tuple(c for c in self.columns if c not in KEY_COLUMNS)


@lru_cache(maxsize=1)
def specs() -> dict[str, TableSpec]:
    """Every report table of `sql/schema`, parsed from its DDL."""
    out = {}
    for ddl in schema_statements():
        optional = {(t, c) for t, c in _OPTIONAL.findall(ddl)}
        for name, body in _TABLE.findall(ddl):
            cols = _COLUMN.findall(body)
            out[name] = TableSpec(name, tuple(c for c, _ in cols), tuple(t for _, t in cols),
                                  frozenset(c for t, c in optional if t == name))
    return out


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
    conn.from_arrow(pa.Table.from_arrays(arrays, names=list(spec.columns))).insert_into(table)


def delete_root(conn: duckdb.DuckDBPyConnection, root: str) -> None:
    """Remove every report row of `root` (`sql/report/delete_root.sql`: one statement per table)."""
    run_statements(conn, "report/delete_root.sql", [root])


def read_rows(conn: duckdb.DuckDBPyConnection, table: str, root: str, view: str | None = None) -> list[dict]:
    """Rows of `table` for `root` (and one view) in key order, JSON columns decoded, NULL optional
    fields dropped."""
    spec = specs()[table]
    where = ColumnExpression("root") == ConstantExpression(root)
    if view is not None:
        where = where & (ColumnExpression("view") == ConstantExpression(view))
    order = [ColumnExpression(c) for c in KEY_COLUMNS
             if c in spec.columns and not (c == "stage" and table == "report_stages")]  # stages by position
    rows = conn.table(table).filter(where).sort(*order).to_arrow_table().to_pylist()
    json_cols = [c for c, t in zip(spec.columns, spec.types) if t == "JSON"]
    for row in rows:
        for c in json_cols:
            if row[c] is not None:
                row[c] = orjson.loads(row[c])
        for c in spec.optional:
            if row[c] is None:
                del row[c]
    return rows


def read_lists(conn: duckdb.DuckDBPyConnection, root: str, view: str) -> list[tuple[str, str, dict]]:
    """Every stored row list of one view in one query (`sql/report/read_lists.sql`): (field, stage,
    object) in order, NULL optional fields dropped."""
    out = []
    for field, stage, _, text in conn.execute(read_sql("report/read_lists.sql"), {"root": root, "view": view}).fetchall():
        row = orjson.loads(text)
        out.append((field, stage, {k: v for k, v in as_object(row, f"report_{field}").items()
                                   if v is not None or k not in specs()[f"report_{field}"].optional}))
    return out


def list_tables() -> dict[str, str]:
    """Stage field → its `report_<field>` table, for every table that stores rows of a list."""
    return {name.removeprefix("report_"): name for name in specs() if name not in HEAD_TABLES}


def as_object(row: dict, table: str) -> dict:
    """The stored object of a row: its fields in column order, without the key columns."""
    return {c: row[c] for c in specs()[table].fields if c in row}
