"""Data-quality rules on the warehouse tables, one SQL file each under `sql/checks/`.

Each rule runs its query for one root (bound `?` parameters) and judges the single row of counts
it returns. Plain Python: the Dagster asset checks (`assets/checks.py`) wrap these rules, and the
bundle asset re-runs the ERROR ones before it renders (blocking checks do not cross runs:
dagster#25112).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import duckdb

from pipeline.paths import read_sql

OVERLAP_TOLERANCE_NS = 1_000


@dataclass(frozen=True)
class Floors:
    """Minimum shares for the coverage and alignment rules."""

    attribution: float = 0.0
    alignment: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """The result of one rule on one root."""

    rule: str
    root: str
    passed: bool
    severity: str  # "ERROR" or "WARN"
    note: str
    row: dict


def _share(part: int, total: int) -> float:
    return part / total if total else 1.0


def _judge_kernels(row: dict, _: Floors) -> tuple[bool, str]:
    ok = row["files_mismatched"] == 0 and row["expected_kernels"] == row["loaded_kernels"]
    return ok, f"{row['loaded_kernels']} kernel rows loaded, {row['expected_kernels']} counted by the parser"


def _judge_facts(row: dict, _: Floors) -> tuple[bool, str]:
    ok = row["files_mismatched"] == 0 and row["files_without_facts"] == 0
    return ok, (f"{row['fact_rows']} fact rows / {row['kernel_rows']} kernel rows, "
                f"{row['fact_dur_ns']} / {row['kernel_dur_ns']} ns over {row['files_with_facts']} files; "
                f"{row['files_without_facts']} loaded files with kernels but no facts")


def _judge_negative(row: dict, _: Floors) -> tuple[bool, str]:
    bad = row["kernels_negative"] + row["memops_negative"] + row["facts_negative"]
    return bad == 0, f"{bad} of {row['rows_checked']} GPU activities have a negative or missing duration"


def _judge_overlap(row: dict, _: Floors) -> tuple[bool, str]:
    return row["unexplained"] == 0, (
        f"{row['overlapping']} of {row['kernels_checked']} kernels overlap an earlier kernel on the same stream by "
        f"more than {OVERLAP_TOLERANCE_NS} ns: {row['pdl_overlaps']} explained by programmatic dependent launch "
        f"(they outlast it, on a device of compute capability 9.0 or later); {row['unexplained']} unexplained "
        f"({row['contained']} contained in an earlier kernel, {row['no_pdl_device']} on a device without PDL; "
        f"max {row['max_overlap_ns']} ns)")


def _judge_coverage(row: dict, floors: Floors) -> tuple[bool, str]:
    share = _share(row["site_ns"], row["kernel_time_ns"])
    row["site_share"], row["cpu_op_share"] = share, _share(row["cpu_op_ns"], row["kernel_time_ns"])
    row["floor"] = floors.attribution
    return share >= floors.attribution, f"site share {share:.1%} of kernel time (floor {floors.attribution:.1%})"


def _judge_alignment(row: dict, floors: Floors) -> tuple[bool, str]:
    applies = row["graph_kernels"] > 0 and (row["mapping_files"] > 0 or row["eager_steps"] > 0)
    row["applies"], row["floor"] = applies, floors.alignment
    if not applies:
        return True, "alignment does not apply (no graph replays with a mapping trace or eager steps)"
    rate = _share(row["mapped_time_ns"], row["need_time_ns"])
    row["match_rate_by_time"] = rate
    row["match_rate_by_count"] = _share(row["mapped_kernels"], row["need_kernels"])
    return rate >= floors.alignment, f"match rate {rate:.1%} of the kernel time that needed mapping (floor {floors.alignment:.1%})"


@dataclass(frozen=True)
class Rule:
    """One check: its SQL file (`sql/checks/<name>.sql`), parameters, judge and severity."""

    name: str
    asset: str
    root_params: int
    judge: Callable[[dict, Floors], tuple[bool, str]]
    blocking: bool = True
    severity: str = "ERROR"
    extra_params: tuple = ()
    description: str = ""

    def params(self, root: str) -> list:
        return [root] * self.root_params + list(self.extra_params)


RULES: tuple[Rule, ...] = (
    Rule("kernels_match_trace_files", "raw_trace_files", 1, _judge_kernels,
         description="Kernel rows per file equal the parser's count in trace_files.kernels."),
    Rule("no_negative_durations", "raw_trace_files", 2, _judge_negative,
         description="No kernel, memop or fact has a negative or missing duration."),
    Rule("no_overlapping_kernels", "raw_trace_files", 2, _judge_overlap, blocking=False, severity="WARN",
         extra_params=(OVERLAP_TOLERANCE_NS,),
         description="Kernels on one (file, stream) do not overlap by more than 1 µs, unless programmatic dependent "
                     "launch explains it (the later kernel outlasts the earlier one, on a device of compute "
                     "capability 9.0 or later)."),
    Rule("kernel_facts_match_kernels", "kernel_facts", 2, _judge_facts,
         description="kernel_facts keeps every kernel of every loaded file (every rank) once, with the same summed duration."),
    Rule("attribution_coverage", "triage_report", 1, _judge_coverage,
         description="Share of kernel time attributed to a Python site is at least the attribution floor."),
    Rule("alignment_match_rate", "triage_report", 2, _judge_alignment,
         description="Graph-kernel time matched by alignment is at least the alignment floor, where alignment applies."),
)


def run_rule(conn: duckdb.DuckDBPyConnection, rule: Rule, root: str, floors: Floors) -> Outcome:
    """Run one rule's SQL for `root` and judge its row."""
    cur = conn.execute(read_sql(f"checks/{rule.name}.sql"), rule.params(root))
    columns = [d[0] for d in cur.description]
    values = cur.fetchone()
    row = dict(zip(columns, values)) if values else {c: 0 for c in columns}
    row = {k: (0 if v is None else v) for k, v in row.items()}
    passed, note = rule.judge(row, floors)
    return Outcome(rule.name, root, passed, rule.severity, note, row)


def evaluate_root(conn: duckdb.DuckDBPyConnection, root: str, floors: Floors,
                  severity: str | None = None) -> list[Outcome]:
    """Every rule (or those of one severity) on one root."""
    return [run_rule(conn, r, root, floors) for r in RULES if severity is None or r.severity == severity]
