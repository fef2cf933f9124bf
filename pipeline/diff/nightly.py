"""Nightly regressions: place each root in its series, diff it with its previous run, store the diff,
and judge the latest diffs against a threshold (docs/diff.md "Nightly regressions").

`run_nightly` is what the Dagster asset `regressions` calls per bundle; `regressions` is its check;
`since_previous` is what a bundle shows. All three read only stored reports, facts and diffs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import duckdb

from pipeline.diff.inputs import diff_roots
from pipeline.diff.series import SeriesRow, latest_of_series, record_series, series_row
from pipeline.diff.store import DiffNotStored, DiffStale, diff_problem, read_diff, store_diff
from pipeline.diff.tables import read_rows
from pipeline.report.context import file_ranks, root_files, root_info
from pipeline.report.state import report_problem

THRESHOLD_ENV = "PROFTRIAGE_REGRESSION_THRESHOLD"
DEFAULT_THRESHOLD_PCT = 2.0


def threshold_pct(configured: float | None = None) -> float:
    """The regression threshold in % of a stage's kernel time per step: `configured` when ≥ 0, else
    ``$PROFTRIAGE_REGRESSION_THRESHOLD``, else 2."""
    if configured is not None and configured >= 0:
        return configured
    value = os.environ.get(THRESHOLD_ENV)
    return float(value) if value else DEFAULT_THRESHOLD_PCT


@dataclass
class NightlyResult:
    """What `run_nightly` did for one root."""

    root: str
    status: str  # diffed | current (stored diff reused) | first (no previous run) | skipped
    previous: str | None = None
    note: str = ""
    summaries: list[str] = field(default_factory=list)
    significant: int = 0


def _current_diff(conn: duckdb.DuckDBPyConnection, base: str, variant: str) -> bool:
    runs = read_rows(conn, "diff_runs", {"base": base, "variant": variant})
    return bool(runs) and diff_problem(conn, runs[0]) is None


def _place(conn: duckdb.DuckDBPyConnection, roots: list[str]) -> tuple[list[SeriesRow], list[NightlyResult]]:
    rows, skipped = [], []
    for root in roots:
        problem = report_problem(conn, root)
        if problem:
            skipped.append(NightlyResult(root, "skipped", note=problem))
            continue
        rows.append(series_row(conn, root, root_info(conn, root), file_ranks(root_files(conn, root))))
    record_series(conn, rows)
    return rows, skipped


def run_nightly(conn: duckdb.DuckDBPyConnection, roots: list[str]) -> list[NightlyResult]:
    """Place `roots` (those with a current report) in their series, then diff each with its previous
    run (every rank pooled) and store the diff; a current stored diff is kept."""
    rows, results = _place(conn, roots)
    for row in rows:
        [stored] = read_rows(conn, "diff_series", {"root": row.root})
        prev = stored["previous"]
        if prev is None:
            results.append(NightlyResult(row.root, "first", note=f"first capture of series {row.series} in the warehouse"))
            continue
        problem = report_problem(conn, prev)
        if problem:
            results.append(NightlyResult(row.root, "skipped", prev, note=f"previous run: {problem}"))
            continue
        status = "current"
        if not _current_diff(conn, prev, row.root):
            store_diff(conn, diff_roots(conn, prev, row.root, all_ranks=True))
            status = "diffed"
        diff = read_diff(conn, prev, row.root, cutoff_pct=0.0)
        results.append(NightlyResult(row.root, status, prev, summaries=[s["summary"] for s in diff["stages"]],
                                     significant=sum(s["significant_count"] for s in diff["stages"])))
    return sorted(results, key=lambda r: r.root)


@dataclass(frozen=True)
class Regression:
    """A significant slowdown in the latest diff of a series, at or above the threshold."""

    root: str
    previous: str
    stage: str
    what: str  # 'stage' or the kernel's display name
    site: str | None
    delta_ns: int
    noise_ns: int | None
    impact: float  # delta / the stage's base kernel time per step


def _stage_regressions(root: str, prev: str, stage: dict, limit: float) -> list[Regression]:
    out = []
    if stage["significant"] and stage["delta_ns"] > 0 and stage.get("delta_share") and stage["delta_share"] >= limit:
        out.append(Regression(root, prev, stage["stage"], "stage", None, stage["delta_ns"], stage.get("noise_ns"),
                              stage["delta_share"]))
    for k in stage["kernels"]:
        if k["significant"] and k["delta_ns"] > 0 and k["impact"] is not None and k["impact"] >= limit:
            out.append(Regression(root, prev, stage["stage"], k["name"], k["site"], k["delta_ns"], k.get("noise_ns"),
                                  k["impact"]))
    return out


def regressions(conn: duckdb.DuckDBPyConnection, roots: list[str], threshold: float) -> tuple[list[Regression], list[str]]:
    """Significant slowdowns of at least `threshold` % of the stage's per-step kernel time in the stored
    diff of the last capture of each series among `roots`; and the notes of series not judged."""
    found, notes = [], []
    for latest in latest_of_series(conn, roots):
        if latest["previous"] is None:
            continue
        try:
            diff = read_diff(conn, latest["previous"], latest["root"], cutoff_pct=0.0)
        except (DiffNotStored, DiffStale) as exc:
            notes.append(str(exc))
            continue
        for stage in diff["stages"]:
            found += _stage_regressions(latest["root"], latest["previous"], stage, threshold / 100.0)
    return sorted(found, key=lambda r: -r.impact), notes


def since_previous(conn: duckdb.DuckDBPyConnection, roots: list[str], cutoff_pct: float = 1.0) -> list[dict]:
    """Per root, its stored diff with the previous run of its series (or why there is none): what a
    bundle's "Since the previous run" section shows. Reads stored rows only."""
    out = []
    for root in roots:
        rows = read_rows(conn, "diff_series", {"root": root})
        item = {"root": root, "previous": None, "captured_at": None, "captured_from": None, "diff": None, "note": ""}
        if not rows:
            item["note"] = "Not placed in a series yet: materialise the `regressions` asset of this bundle."
        elif rows[0].get("previous") is None:
            item.update(captured_at=rows[0]["captured_at"], captured_from=rows[0]["captured_from"],
                        note="First capture of its configuration in the warehouse: nothing to compare with yet.")
        else:
            item.update(previous=rows[0]["previous"], captured_at=rows[0]["captured_at"],
                        captured_from=rows[0]["captured_from"])
            try:
                item["diff"] = read_diff(conn, rows[0]["previous"], root, cutoff_pct)
            except (DiffNotStored, DiffStale) as exc:
                item["note"] = f"Previous run {rows[0]['previous']}: {exc}"
        out.append(item)
    return out
