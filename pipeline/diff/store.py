"""Stored diffs: write a computed diff as the `diff_*` tables, read it back as the same JSON.

A stored diff is current while both reports it compared are the ones in the warehouse
(`report_roots.built_at` as recorded) and it was written by this `DIFF_VERSION`; otherwise
`read_diff` raises `DiffStale` naming what rebuilds it. Bundles read only through here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import duckdb

from pipeline.diff.compare import DIFF_SCHEMA_VERSION, DIFF_VERSION
from pipeline.diff.present import apply_cutoff
from pipeline.diff.tables import as_object, insert_rows, list_tables, read_rows
from pipeline.paths import read_sql
from pipeline.store import run_statements, transaction

REBUILD = "materialise the `regressions` asset of the bundle (Dagster), which diffs each root with its previous run"


class DiffNotStored(LookupError):
    """No diff of these two roots is stored."""


class DiffStale(LookupError):
    """A stored diff compared reports that have been rebuilt since (the message says what to run)."""


def report_built_at(conn: duckdb.DuckDBPyConnection, root: str) -> dt.datetime | None:
    """`report_roots.built_at` of `root` (None when it has no stored report)."""
    rows = conn.execute(read_sql("diff/report_built_at.sql"), [root]).fetchall()
    return rows[0][0] if rows else None


def _split_stage(key: dict, stage: dict, pos: int, lists: dict[str, list[dict]]) -> dict:
    tables = set(list_tables().values())
    scalar = {**key, "stage": stage["stage"], "pos": pos}
    for field, value in stage.items():
        table = f"diff_{field}"
        if table in tables:
            lists[table].extend({**key, "stage": stage["stage"], "pos": i, **row} for i, row in enumerate(value))
        elif field not in ("stage", "cutoff"):
            scalar[field] = value
    return scalar


def store_diff(conn: duckdb.DuckDBPyConnection, diff: dict) -> None:
    """Replace the stored diff of (diff.base.root, diff.variant.root) in one transaction (every row:
    a diff computed without a cutoff)."""
    base, variant = diff["base"]["root"], diff["variant"]["root"]
    key = {"base": base, "variant": variant}
    head = {**key, "diff_version": DIFF_VERSION,
            "built_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            "view": diff["variant"]["view"], "base_report_at": report_built_at(conn, base),
            "variant_report_at": report_built_at(conn, variant), "base_info": diff["base"],
            "variant_info": diff["variant"], "rule": diff["rule"], "warnings": diff["warnings"]}
    lists: dict[str, list[dict]] = defaultdict(list)
    stages = [_split_stage(key, s, pos, lists) for pos, s in enumerate(diff["stages"])]
    with transaction(conn):
        run_statements(conn, "diff/delete_diff.sql", [base, variant])
        insert_rows(conn, "diff_runs", [head])
        insert_rows(conn, "diff_stages", stages)
        for table, rows in lists.items():
            insert_rows(conn, table, rows)


def diff_problem(conn: duckdb.DuckDBPyConnection, run: dict) -> str | None:
    """Why a stored diff (its `diff_runs` row) is not current (None when it is)."""
    pair = f"diff {run['base']} → {run['variant']}"
    if run["diff_version"] != DIFF_VERSION:
        return f"{pair} was written by another version of proftriage ({run['diff_version']}, this one {DIFF_VERSION}); {REBUILD}"
    for side in ("base", "variant"):
        if report_built_at(conn, run[side]) != run[f"{side}_report_at"]:
            return f"{pair}: the {side} report was rebuilt after the diff; {REBUILD}"
    return None


def read_diff(conn: duckdb.DuckDBPyConnection, base: str, variant: str, cutoff_pct: float = 1.0,
              limit: int | None = None) -> dict:
    """The stored diff of two roots as the JSON of docs/json-schema.md "diff", the cutoff applied."""
    key = {"base": base, "variant": variant}
    runs = read_rows(conn, "diff_runs", key)
    if not runs:
        raise DiffNotStored(f"no stored diff {base} → {variant}; {REBUILD}")
    run = runs[0]
    problem = diff_problem(conn, run)
    if problem:
        raise DiffStale(problem)
    lists: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {f: [] for f in list_tables()})
    for field, table in list_tables().items():
        for row in read_rows(conn, table, key):
            lists[row["stage"]][field].append(as_object(row, table))
    stages = [{"stage": s["stage"], **as_object(s, "diff_stages"), **lists[s["stage"]]}
              for s in read_rows(conn, "diff_stages", key)]
    diff = {"schema_version": DIFF_SCHEMA_VERSION, "tool": "proftriage", "kind": "diff",
            "base": run["base_info"], "variant": run["variant_info"], "rule": run["rule"],
            "warnings": list(run["warnings"] or []), "stages": [_ordered(s) for s in stages]}
    return apply_cutoff(diff, cutoff_pct, limit)


STAGE_KEYS = ("stage", "present", "basis", "base_steps", "variant_steps", "base_ns", "variant_ns", "delta_ns",
              "delta_share", "noise_ns", "noise_note", "significant", "significant_count", "summary", "totals",
              "coverage", "alignment", "kernels", "families", "fusions", "launch_groups")


def _ordered(stage: dict) -> dict:
    """A stage object's keys in the order the comparison writes them."""
    return {k: stage[k] for k in STAGE_KEYS if k in stage}
