"""Whether a root's facts and report are current, and the commands that make them so.

Facts are stale when the root was loaded again after they were built; a report is stale when its
facts were rebuilt since, or when it was written by an older version of the analyses.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.paths import read_sql

REPORT_VERSION = 7  # bump when an analysis changes what it stores
FACTS_VERSION = 2  # bump when the facts step changes what it stores (2: costs of MoE ops and collectives)


class NotAnalyzed(LookupError):
    """A root's facts or report are missing or stale; the message names the command that builds them."""


def analyze_command(root: str) -> str:
    """The command that builds a root's facts and report."""
    return f"proftriage analyze {root} --warehouse <warehouse>"


def _state(conn: duckdb.DuckDBPyConnection, root: str) -> dict:
    cur = conn.execute(read_sql("facts/state.sql"), [root])
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def facts_problem(conn: duckdb.DuckDBPyConnection, root: str, state: dict | None = None) -> str | None:
    """Why the root's facts cannot be used (None when they are current)."""
    s = state or _state(conn, root)
    if s["loaded_at"] is None:
        return f"trace root {root!r} is not in the warehouse (ingest it first)"
    if s["facts_built_at"] is None:
        return f"{root}: no kernel facts yet (run `{analyze_command(root)}`)"
    if s["facts_loaded_at"] != s["loaded_at"]:
        return f"{root}: kernel facts are older than the last ingest of the root (run `{analyze_command(root)}`)"
    if s["facts_version"] != FACTS_VERSION:
        return (f"{root}: kernel facts were built by an older version of the facts step "
                f"(facts version {s['facts_version']}, this one writes {FACTS_VERSION}; run `{analyze_command(root)}`)")
    return None


def report_problem(conn: duckdb.DuckDBPyConnection, root: str) -> str | None:
    """Why the root's stored report cannot be used (None when it is current)."""
    s = _state(conn, root)
    problem = facts_problem(conn, root, s)
    if problem:
        return problem
    if s["report_facts_at"] is None:
        return f"{root}: no stored report (run `{analyze_command(root)}`)"
    if s["report_facts_at"] != s["facts_built_at"]:
        return f"{root}: the stored report predates the root's kernel facts (run `{analyze_command(root)}`)"
    if s["report_version"] != REPORT_VERSION:
        return (f"{root}: the stored report was written by another version of proftriage "
                f"(report version {s['report_version']}, this one writes {REPORT_VERSION}; run `{analyze_command(root)}`)")
    return None


def require_facts(conn: duckdb.DuckDBPyConnection, root: str) -> dt.datetime:
    """The build time of the root's current facts, or `NotAnalyzed`."""
    problem = facts_problem(conn, root)
    if problem:
        raise NotAnalyzed(problem)
    return _state(conn, root)["facts_built_at"]


def require_report(conn: duckdb.DuckDBPyConnection, root: str) -> None:
    """`NotAnalyzed` unless the root's stored report is current."""
    problem = report_problem(conn, root)
    if problem:
        raise NotAnalyzed(problem)
