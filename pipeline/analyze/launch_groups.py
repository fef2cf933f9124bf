"""Launch groups: the ordered chain of kernels one CPU op instance launches.

A chain of two or more kernels behind one op (a cuBLAS GEMM and its ``splitKreduce_kernel``,
FlashAttention-3's prepare → forward → combine behind ``sgl_kernel::fwd``, cub's
``DeviceScanInitKernel`` → ``DeviceScanKernel``) can be intercepted as one unit. A group is
*invariant* when every instance of that op (same op name and same Python call path) launched the
same chain; rows with the same op, site and chain from several call paths are merged.
Graph replays are excluded: one replay launches a whole graph, not an op's chain.

The per-kernel grouping runs in DuckDB (`sql/analyze/launch_chains.sql`); the merge of call
paths, over a few hundred rows, in Python.
"""

from __future__ import annotations

from pipeline.analyze.protocol import Pooled, StagePart
from pipeline.analyze.table import Kernels, as_table, run_sql
from pipeline.gc_pause import without_gc

_COLUMNS = ["file_id", "cpu_op_ev", "is_graph", "attribution", "ts_ns", "ev", "display_name", "cpu_op", "site",
            "stack_id", "dur_ns"]


@without_gc
def launch_groups(kernels: Kernels, min_kernels: int = 2) -> list[dict]:
    """Rows ``cpu_op, site, kernels, occurrences, invariant, time_ns, variants``, largest time first."""
    chains = run_sql("launch_chains", _kernels=as_table(kernels, _COLUMNS))
    merged: dict[tuple, dict] = {}
    for op, site, chain, count, time_ns, variants in zip(*(chains.column(c).to_pylist() for c in (
            "cpu_op", "site", "chain", "occurrences", "time_ns", "variants"))):
        if len(chain) < min_kernels:
            continue
        row = merged.setdefault((op, site, tuple(chain)), {
            "cpu_op": op, "site": site, "kernels": list(chain), "occurrences": 0,
            "invariant": True, "time_ns": 0, "variants": 1,
        })
        row["occurrences"] += count
        row["time_ns"] += time_ns
        row["invariant"] = row["invariant"] and variants == 1
        row["variants"] = max(row["variants"], variants)
    return sorted(merged.values(), key=lambda r: (-r["time_ns"], r["cpu_op"]))


class LaunchGroups(Pooled):
    """Stage field ``launch_groups``, from the mapping traces' kernels when the stage has some (they
    keep every op → kernel link that graph replays lose), else from the stage's own kernels."""

    name = "launch_groups"

    def run(self, part: StagePart, done: dict) -> dict:
        source = part.mapping if part.mapping is not None and part.mapping.num_rows else part.table
        return {"launch_groups": launch_groups(source)}
