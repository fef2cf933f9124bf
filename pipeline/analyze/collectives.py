"""Stage analyzer: the collectives table of one stage, read across every rank of the root.

```python
from pipeline.analyze.collectives import analyze_collectives
out = analyze_collectives(kernels, {"rank_of": {file_id: rank}, "rank": 0, "world_size": 4})
out["collectives"], out["collective_matching"]
```

`kernels` are the stage's records of **all** ranks (the collective facts of
`pipeline.collectives.facts` on them); ``rank`` is the reported rank (None: all ranks). The
output is already cross-rank, so there is no per-rank `combine`. Method: docs/collectives.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analyze.overlap import load_config as overlap_config
from pipeline.analyze.overlap import mark_rank_skew
from pipeline.collectives.hostbound import combine_host_bound, host_bound, host_bounds
from pipeline.collectives import load_config
from pipeline.collectives.match import Matched, clock_check, match_collectives
from pipeline.collectives.metrics import collective_row
from pipeline.gc_pause import without_gc
from pipeline.report.ranks import add_wait_straggler

MATCH_RULE = ("per collective (display name + process group, or + stream when the trace has no process group and "
              "every rank uses the same streams), the k-th occurrence in a step on one rank is the k-th on every other "
              "rank; transfer = the shortest duration across the ranks of an instance, wait = duration − transfer; "
              "the late rank starts last, read only when the ends of the instances line up")


@dataclass
class StageCollectives:
    """The matched instances (for the host-bound walk and the verdicts) and the JSON parts."""

    matched: list[Matched]
    rows: list[dict]
    matching: dict


def _records(kernels: Any) -> list[dict]:
    return kernels.to_pylist() if isinstance(kernels, pa.Table) else list(kernels)


def _matching(rows: list[dict], ranks: list[int], rank: int | None, clock: dict) -> dict:
    shifted = [r["name"] + (f" ({r['group']})" if r["group"] else "") for r in rows if r["ends_aligned"] is False]
    note = None
    if shifted:
        note = ("the ends of matched instances do not line up for " + ", ".join(shifted) + ": clocks not "
                "comparable (or the instances are not the same calls): durations only, late rank unknown")
    return {
        "ranks": ranks,
        "reported_rank": rank,
        "collectives": len(rows),
        "instances": sum(r["instances"] for r in rows),
        "unmatched": sum(r["unmatched"] for r in rows),
        "mismatched": sum(r["mismatched"] for r in rows),
        "rule": MATCH_RULE,
        "clock_rule": (f"ends line up when every rank has ≥ {clock['min_aligned_share']:.0%} of its instances within "
                       f"max({clock['end_tolerance_ns']} ns, {clock['end_tolerance_frac']} × transfer) of the "
                       "instance's median end"),
        "note": note,
    }


@without_gc
def stage_collectives(kernels: Any, ctx: dict) -> StageCollectives:
    """Match, check the clocks and build the rows (largest summed time first)."""
    cfg = load_config()
    records = _records(kernels)
    rank_of = ctx.get("rank_of") or {}
    matched = match_collectives(records, rank_of)
    max_gap = int(overlap_config()["launch"]["max_gap_ns"])
    for m in matched:
        clock_check(m, cfg["clock"])
    rows = [collective_row(m, cfg, ctx.get("world_size"), max_gap) for m in matched]
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["time_ns"], rows[i]["name"], str(rows[i]["group"])))
    ranks = sorted({rank_of[r["file_id"]] for r in records if r["file_id"] in rank_of})
    return StageCollectives([matched[i] for i in order], [rows[i] for i in order],
                            _matching(rows, ranks, ctx.get("rank"), cfg["clock"]))


def analyze_collectives(kernels: Any, ctx: dict) -> dict:
    """``{"collectives": [...], "collective_matching": {...}}`` of one stage (JSON-able)."""
    sc = stage_collectives(kernels, ctx)
    return {"collectives": sc.rows, "collective_matching": sc.matching}


def wait_by_name(rows: list[dict], rank: int | None) -> dict[str, dict]:
    """Per kernel display name, its collective time and wait on `rank` (None: summed over the ranks),
    the late rank of its largest row and what that rank did before (for the overlap verdict)."""
    out: dict[str, dict] = {}
    for row in rows:  # largest first: the first row of a name gives the late rank
        mine = [p for p in row["per_rank"] if rank is None or p["rank"] == rank]
        if not mine:
            continue
        agg = out.setdefault(row["name"], {"time_ns": 0, "wait_ns": 0, "late_rank": row["late_rank"],
                                           "late_share": row["late_share"], "ends_aligned": row["ends_aligned"],
                                           "before": row["late_rank_before"]})
        agg["time_ns"] += sum(p["time_ns"] for p in mine)
        agg["wait_ns"] += sum(p["wait_ns"] for p in mine)
    return out


_READ = ("file_id", "ev", "kind", "name", "display_name", "family", "ts_ns", "dur_ns", "stream", "device",
         "launch_ts_ns", "step", "stage", "rank", "is_graph")
# what the matcher's test (`is_collective`) and the host-bound walk read of a kernel that is no collective
_LANE = ("file_id", "ev", "kind", "family", "coll_name", "ts_ns", "dur_ns", "step", "launch_ts_ns")


def _dicts(table: pa.Table) -> list[dict]:
    """`table.to_pylist()`, built column by column (the same dicts, faster)."""
    names = table.column_names
    return [dict(zip(names, row)) for row in zip(*(table.column(c).to_pylist() for c in names))]


def _collective_mask(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """`is_collective` per row, in Arrow (a missing column reads as `record.get` would)."""
    cols = table.column_names
    n = table.num_rows
    kernel = pc.equal(table.column("kind"), "kernel") if "kind" in cols else pa.array([True] * n)
    comm = pc.equal(table.column("family"), "communication") if "family" in cols else pa.nulls(n, pa.bool_())
    meta = pc.is_valid(table.column("coll_name")) if "coll_name" in cols else pa.array([False] * n)
    return pc.fill_null(pc.and_kleene(kernel, pc.or_kleene(comm, meta)), False)


def _rows(table: pa.Table) -> list[dict]:
    """The records the matcher and the host-bound walk read: only the columns they use (identity,
    time, stream, step, the collective metadata and CPU-gap columns) for the collective kernels, the
    `_LANE` columns for every other one (building 80k wide dicts cost more than the analysis)."""
    keep = [c for c in table.column_names if c in _READ or c.startswith(("coll_", "gap_"))]
    mask = _collective_mask(table)
    where = pc.indices_nonzero(mask)
    if len(where) == table.num_rows:
        return _dicts(table.select(keep))
    rows = _dicts(table.select([c for c in _LANE if c in table.column_names]))
    if len(where):
        for i, row in zip(where.to_pylist(), _dicts(table.select(keep).take(where))):
            rows[i] = row
    return rows


def _by_rank(records: list[dict], rank_of: dict[int, int]) -> dict[int | None, list[dict]]:
    groups: dict[int | None, list[dict]] = {}
    for r in records:
        groups.setdefault(rank_of.get(r["file_id"]), []).append(r)
    return groups


class Collectives:
    """Stage fields ``collectives``, ``collective_matching`` and ``host_bound``; marks ``rank_skew``
    on the overlap rows and, over several ranks, the straggler by wait. Every view reads the stage's
    kernels of every rank (``part.siblings``): a rank's collectives are matched with its siblings'."""

    name = "collectives"

    def _fields(self, every: list[dict], part, rank: int | None, done: dict) -> tuple[StageCollectives, dict]:
        rank_of = part.ctx.rank_of
        coll = stage_collectives(every, {"rank_of": rank_of, "rank": rank, "world_size": part.ctx.tp})
        mark_rank_skew(done["overlap"], wait_by_name(coll.rows, rank), done["summary"]["window_ns"])
        return coll, {"collectives": coll.rows, "collective_matching": coll.matching if rank_of else None}

    def run(self, part, done: dict) -> dict:
        rank = part.ranks[0] if len(part.ranks) == 1 and not part.unranked else None
        siblings = part.siblings is not None and part.ctx.rank_of
        every = _rows(part.siblings if siblings else part.table)
        coll, out = self._fields(every, part, rank, done)
        groups = _by_rank(every, part.ctx.rank_of) if part.ctx.rank_of else {None: every}
        out["host_bound"] = host_bound(groups, rank, coll.matched, window_ns=done["summary"]["window_ns"],
                                       idle_ns=done["idle_ns"], launch_bound_ns=done["launch_bound_ns"])
        return out

    def combine(self, parts: dict, whole, done: dict) -> dict:
        every = _rows(whole.table)
        coll, out = self._fields(every, whole, None, done)
        spread = done.get("ranks")
        if spread:
            add_wait_straggler(spread, coll.rows)
            figures = {p["rank"]: (p["window_ns"], p["idle_ns"], p["launch_bound_ns"]) for p in spread["per_rank"]}
        else:
            figures = {r: (p["summary"]["window_ns"], p["idle_ns"], p["launch_bound_ns"]) for r, p in parts.items()}
        out["host_bound"] = combine_host_bound(host_bounds(_by_rank(every, whole.ctx.rank_of), coll.matched, figures))
        return out
