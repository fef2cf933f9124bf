"""Tables of stored JSON objects, with the DDL as the one definition of their columns.

The stored report (`report_*`) and the stored diffs (`diff_*`) share one contract: each table is
declared once in `sql/schema`; the columns after the family's key columns are, in order, the keys
of the JSON objects it stores (docs/json-schema.md); a JSON column holds a nested value; a column
whose comment starts with ``optional:`` is left out of the object when it is NULL. A field with no
column is an error, so every stored number has a documented column. `Family` holds that contract
for one prefix; `pipeline.report.tables` and `pipeline.diff.tables` are the two families.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import duckdb
import orjson
import pyarrow as pa
from duckdb import ColumnExpression, ConstantExpression

from pipeline.store import COLUMN_RE, one_thread, schema_statements, settle

_ARROW = {"TEXT": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_(), "JSON": pa.string(), "TIMESTAMP": pa.timestamp("us"),
          "TEXT[]": pa.list_(pa.string()), "INTEGER[]": pa.list_(pa.int32())}


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns in order, their SQL types, the optional ones, its key columns."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    optional: frozenset[str]
    keys: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The columns that are keys of the stored objects (all but the table's key columns)."""
        return tuple(c for c in self.columns if c not in self.keys)


def _encode(value: object, sql_type: str) -> object:
    if sql_type == "JSON":
        return None if value is None else orjson.dumps(value).decode()
    return value


def decode(row: dict, spec: TableSpec, json_decoded: bool = False) -> dict:
    """A row as read: JSON columns decoded (unless `json_decoded`: read through ``to_json``), NULL
    optional fields dropped (in place; returned)."""
    for c, t in zip(spec.columns, spec.types):
        if t == "JSON" and not json_decoded and isinstance(row.get(c), str):
            row[c] = orjson.loads(row[c])
    for c in spec.optional:
        if c in row and row[c] is None:
            del row[c]
    return row


@dataclass(frozen=True)
class Family:
    """The tables of one prefix (`report_`, `diff_`): their key columns and the tables that do not
    store a stage's list of rows (``heads``)."""

    prefix: str
    keys: tuple[str, ...]
    heads: tuple[str, ...]

    @cached_property
    def specs(self) -> dict[str, TableSpec]:
        """Every table of the family in `sql/schema`, parsed from its DDL (PRIMARY KEY lines skipped)."""
        table = re.compile(rf"CREATE TABLE IF NOT EXISTS ({self.prefix}\w+)\s*\((.*?)\);", re.S)
        optional = re.compile(rf"COMMENT ON COLUMN ({self.prefix}\w+)\.\"?(\w+)\"? IS 'optional:")
        out = {}
        for ddl in schema_statements():
            marked = set(optional.findall(ddl))
            for name, body in table.findall(ddl):
                cols = [(c, t) for c, t in COLUMN_RE.findall(body) if c != "PRIMARY"]
                out[name] = TableSpec(name, tuple(c for c, _ in cols), tuple(t for _, t in cols),
                                      frozenset(c for t, c in marked if t == name), self.keys)
        return out

    def list_tables(self) -> dict[str, str]:
        """Stage field → its `<prefix><field>` table, for every table that stores a list of rows."""
        return {name.removeprefix(self.prefix): name for name in self.specs if name not in self.heads}

    def insert_rows(self, conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
        """Append `rows` (dicts keyed by column name) to `table`; a key without a column is an error."""
        if not rows:
            return
        spec = self.specs[table]
        known = set(spec.columns)
        for row in rows:
            extra = [k for k in row if k not in known]
            if extra:
                raise ValueError(f"{table}: no column for field(s) {', '.join(extra)} "
                                 f"(declare them in sql/schema and docs/json-schema.md)")
        arrays = [pa.array([_encode(r.get(c), t) for r in rows], _ARROW[t]) for c, t in zip(spec.columns, spec.types)]
        with one_thread(conn, len(rows)):
            conn.from_arrow(pa.Table.from_arrays(arrays, names=list(spec.columns))).insert_into(table)

    def read_rows(self, conn: duckdb.DuckDBPyConnection, table: str, where: dict[str, object],
                  order: tuple[str, ...]) -> list[dict]:
        """Rows of `table` whose columns equal `where`, sorted by `order`, decoded (`decode`)."""
        spec = self.specs[table]
        rel = settle(conn).table(table)
        cond = None
        for column, value in where.items():
            term = ColumnExpression(column) == ConstantExpression(value)
            cond = term if cond is None else cond & term
        if cond is not None:
            rel = rel.filter(cond)
        sort = [ColumnExpression(c) for c in order if c in spec.columns]
        rows = (rel.sort(*sort) if sort else rel).to_arrow_table().to_pylist()
        return [decode(row, spec) for row in rows]

    def as_object(self, row: dict, table: str) -> dict:
        """The stored object of a row: its fields in column order, without the key columns."""
        return {c: row[c] for c in self.specs[table].fields if c in row}
