"""One side of a diff, read from the warehouse: the root's stored report and, per stage, its kernel
rows with their time in each step (from the stored facts, `sql/diff/kernel_steps.sql`).

Nothing here analyses: the report must be current (`pipeline.report.read.read_report` raises
`NotAnalyzed` naming `proftriage analyze` otherwise) and the facts are the ones it was built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.paths import read_sql
from pipeline.report.build import views_of
from pipeline.report.context import root_files
from pipeline.report.read import TriageOptions, read_report
from pipeline.store import settle
from pipeline.store import query_dicts

StepKey = tuple[int, int]  # (file_id, step)


@dataclass
class Row:
    """One kernel row of a stage on one side: (display name, family, site label)."""

    name: str
    family: str
    site: str
    total_ns: int = 0
    launches: int = 0
    first_seq: int = 0
    steps: dict[StepKey, int] = field(default_factory=dict)  # time per step (absent: 0)
    slot: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.name, self.family, self.site


@dataclass
class StageSide:
    """One stage of one side: the stored stage object and the kernel rows of the facts."""

    stage: str
    report: dict | None  # None: the side has no such stage
    rows: list[Row]
    steps: list[StepKey]  # the stage's steps (file, step) holding kernels

    @property
    def total_ns(self) -> int:
        return int(self.report["kernel_time_ns"]) if self.report else 0


@dataclass
class Side:
    """A root as a diff reads it."""

    info: dict  # the JSON `base` / `variant` object
    report: dict
    view: str
    stages: dict[str, StageSide]

    @property
    def root(self) -> str:
        return self.info["root"]

    def stage(self, name: str) -> StageSide:
        """The side's stage `name` (an empty one when the side lacks it)."""
        return self.stages.get(name) or StageSide(name, None, [], [])


def read_options(rank: int | None = None, all_ranks: bool = False) -> TriageOptions:
    """Reader options of a diff: every row (no cutoff, no limits), the chosen view."""
    return TriageOptions(cutoff_pct=0.0, rank=rank, all_ranks=all_ranks, kernel_limit=None, overlap_limit=None)


def facts_have(conn: duckdb.DuckDBPyConnection, column: str) -> bool:
    """Whether `kernel_facts` has `column` (the `slot` of issue 18's layer structure)."""
    return bool(conn.execute(read_sql("diff/facts_has_column.sql"), [column]).fetchall()[0][0])


def _timing_ids(conn: duckdb.DuckDBPyConnection, root: str, view: str) -> list[int]:
    for v in views_of(root_files(conn, root)):
        if v.name == view:
            return [f["file_id"] for f in v.timing]
    return []


def _rows(conn: duckdb.DuckDBPyConnection, root: str, ids: list[int], stage: str, slots: bool) -> list[Row]:
    facts_stage = "unknown" if stage == "all" else stage
    by_key: dict[tuple[str, str, str], Row] = {}
    for r in query_dicts(settle(conn), read_sql("diff/kernel_steps.sql"), [root, ids, facts_stage]):
        key = (r["name"], r["family"], r["site"])
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = Row(*key, first_seq=r["first_seq"])
        row.total_ns += r["time_ns"]
        row.launches += r["launches"]
        row.first_seq = min(row.first_seq, r["first_seq"])
        if r["step"] is not None:
            step = (r["file_id"], r["step"])
            row.steps[step] = row.steps.get(step, 0) + r["time_ns"]
    if slots:
        for r in query_dicts(settle(conn), read_sql("diff/row_slots.sql"), [root, ids, facts_stage]):
            row = by_key.get((r["name"], r["family"], r["site"]))
            if row is not None:
                row.slot = r["slot"]
    return sorted(by_key.values(), key=lambda row: row.first_seq)


def load_side(conn: duckdb.DuckDBPyConnection, root: str, opts: TriageOptions | None = None,
              label: str | None = None) -> Side:
    """Read one root's stored report and the per-step kernel rows of each of its stages."""
    opts = opts or read_options()
    report = read_report(conn, root, opts)
    rank = (report.get("rank") or {}).get("rank")
    view = "all" if rank is None else str(rank)
    info = {k: report["root"][k] for k in ("root", "path", "framework", "model", "run")}
    info.update({"input": label or root, "view": view})
    ids = _timing_ids(conn, root, view)
    slots = facts_have(conn, "slot")
    stages = {}
    for s in report.get("stages", []):
        rows = _rows(conn, root, ids, s["stage"], slots)
        steps = sorted({k for row in rows for k in row.steps})
        stages[s["stage"]] = StageSide(s["stage"], s, rows, steps)
    return Side(info, report, view, stages)
