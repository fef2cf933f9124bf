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


def read_root(conn: duckdb.DuckDBPyConnection, root: str) -> dict | None:
    """The `report_roots` row of `root`, decoded (None when the root has no stored report)."""
    rows = settle(conn).execute(read_sql("report/read_root.sql"), [root]).fetchall()
    return _row(rows[0][0], "report_roots") if rows else None


def read_view(conn: duckdb.DuckDBPyConnection, root: str, view: str) -> tuple[dict | None, list[dict], list]:
    """One view of the stored report in one query (`sql/report/read_view.sql`): the view's row, its
    stage rows (by position) and (field, stage, object) for every stored row list, in order."""
    rows = settle(conn).execute(read_sql("report/read_view.sql"), {"root": root, "view": view}).fetchall()
    meta, stages, lists = None, [], []
    for field, stage, _, text in rows:
        if field == "views":
            meta = _row(text, "report_views")
        elif field == "stages":
            stages.append(_row(text, "report_stages"))
        else:
            lists.append((field, stage, as_object(_row(text, f"report_{field}"), f"report_{field}")))
    return meta, stages, lists


def _row(text: str, table: str) -> dict:
    """A row read as `to_json(t)`: its JSON columns are already values; NULL optional fields dropped."""
    return decode(orjson.loads(text), REPORT.specs[table], json_decoded=True)


def delete_root(conn: duckdb.DuckDBPyConnection, root: str) -> None:
    """Remove every report row of `root` (`sql/report/delete_root.sql`: one statement per table)."""
    run_statements(conn, "report/delete_root.sql", [root])
