"""Diff tables (`diff_*`): the stored diffs, one `pipeline.tables.Family` — the DDL in
`sql/schema/4*_diff_*.sql` is the only definition of their columns, the key columns are ``base``,
``variant``, ``stage``, ``pos`` (docs/json-schema.md "diff"), the same contract as the report tables."""

from __future__ import annotations

import duckdb


from pipeline.tables import Family, TableSpec

DIFF = Family("diff_", ("base", "variant", "stage", "pos"), ("diff_series", "diff_runs", "diff_stages"))


def specs() -> dict[str, TableSpec]:
    """Every diff table, parsed from its DDL."""
    return DIFF.specs


def list_tables() -> dict[str, str]:
    """Stage field → its `diff_<field>` table, for every table that stores the rows of a list."""
    return DIFF.list_tables()


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Append `rows` to a diff table (`Family.insert_rows`)."""
    DIFF.insert_rows(conn, table, rows)


def read_rows(conn: duckdb.DuckDBPyConnection, table: str, where: dict[str, object]) -> list[dict]:
    """Rows of `table` whose columns equal `where`, by position (`Family.read_rows`)."""
    return DIFF.read_rows(conn, table, where, ("pos",))


def as_object(row: dict, table: str) -> dict:
    """The stored object of a row (`Family.as_object`)."""
    return DIFF.as_object(row, table)
