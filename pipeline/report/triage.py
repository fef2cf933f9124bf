"""The engine calls of one root, in order: facts (attribute → align), report (analyse → store),
then read. `proftriage analyze` and the Dagster assets run the first two; `triage` runs all three
(over an in-memory warehouse for `--input`); `bundle` and `diff` only read.
"""

from __future__ import annotations

import duckdb

from pipeline.facts import FactsSummary, build_facts
from pipeline.gc_pause import without_gc
from pipeline.report.build import analyze_root
from pipeline.report.read import TriageOptions, read_report
from pipeline.report.state import facts_problem, report_problem


@without_gc  # every step allocates per-kernel containers over the whole root's records (pipeline.gc_pause)
def analyze(conn: duckdb.DuckDBPyConnection, root: str, rebuild_facts: bool = True) -> FactsSummary | None:
    """Build the root's facts (unless current and ``rebuild_facts`` is false), then its report."""
    facts = build_facts(conn, root) if rebuild_facts or facts_problem(conn, root) else None
    analyze_root(conn, root, facts.table if facts else None)  # facts just built: no read back
    return facts


def ensure_report(conn: duckdb.DuckDBPyConnection, root: str) -> None:
    """Bring the root's facts and report up to date, building only what is missing or stale."""
    if report_problem(conn, root):
        analyze(conn, root, rebuild_facts=False)


def triage_root(conn: duckdb.DuckDBPyConnection, root: str, opts: TriageOptions | None = None) -> dict:
    """The triage report of one root (docs/json-schema.md), analysed first if needed."""
    ensure_report(conn, root)
    return read_report(conn, root, opts)
