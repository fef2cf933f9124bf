"""Report tables (`report_*`): the stored report, one `pipeline.tables.Family` — the DDL in
`sql/schema/3*_report_*.sql` is the only definition of their columns, the key columns are
``root``, ``view``, ``stage``, ``pos``, and every list of rows ``stages[].<field>`` is the table
``report_<field>`` (docs/json-schema.md)."""

from __future__ import annotations

import duckdb
import orjson

from pipeline.paths import read_sql
from pipeline.store import run_statements, settle
from pipeline.tables import Family, TableSpec, decode

REPORT = Family("report_", ("root", "view", "stage", "pos"), ("report_roots", "report_views", "report_stages"))


def specs() -> dict[str, TableSpec]:
    """Every report table, parsed from its DDL."""
    return REPORT.specs


def list_tables() -> dict[str, str]:
    """Stage field → its `report_<field>` table, for every table that stores a list of rows."""
    return REPORT.list_tables()


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Append `rows` to a report table (`Family.insert_rows`)."""
    REPORT.insert_rows(conn, table, rows)


def as_object(row: dict, table: str) -> dict:
    """The stored object of a row (`Family.as_object`)."""
    return REPORT.as_object(row, table)


def read_rows(conn: duckdb.DuckDBPyConnection, table: str, root: str, view: str | None = None) -> list[dict]:
    """Rows of a head table for `root` (and one view), in key order (stages by position)."""
    where = {"root": root, **({"view": view} if view is not None else {})}
    order = ("view", "pos") if table == "report_stages" else REPORT.keys
    return REPORT.read_rows(conn, table, where, order)


def read_lists(conn: duckdb.DuckDBPyConnection, root: str, view: str) -> list[tuple[str, str, dict]]:
    """Every stored row list of one view in one query (`sql/report/read_lists.sql`): (field, stage,
    object) in order."""
    out = []
    rows = settle(conn).execute(read_sql("report/read_lists.sql"), {"root": root, "view": view}).fetchall()
    for field, stage, _, text in rows:
        table = f"report_{field}"
        out.append((field, stage, as_object(decode(orjson.loads(text), REPORT.specs[table]), table)))
    return out


def delete_root(conn: duckdb.DuckDBPyConnection, root: str) -> None:
    """Remove every report row of `root` (`sql/report/delete_root.sql`: one statement per table)."""
    run_statements(conn, "report/delete_root.sql", [root])
