"""The kernel table of one stage: which kernels dominate, from where, plus family and stage summaries.

Shares are of the stage's *summed kernel time net of same-stream overlap*: the part of a record
that lies under an earlier kernel of its own stream (programmatic dependent launch,
`pipeline.analyze.same_stream`) is in `time_ns` (which reconciles with the trace) and in
`same_stream_overlap_ns`, but not in the share. The cutoff is a per-row cutoff: rows whose share
is below it are hidden and the table reports how many rows and how much time were hidden.

Per-kernel work is Arrow group-bys over the stage's columns (`pipeline.analyze.table`); only
per-row work (a few hundred names) runs in Python. Ties among sites and CPU ops go to the
one seen first, as a first-seen-first-kept loop over the kernels would.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analyze.protocol import Pooled, StagePart
from pipeline.analyze.same_stream import same_stream_overlap
from pipeline.analyze.table import ROW, Kernels, as_table
from pipeline.gc_pause import without_gc

TOP_SITES = 3
_INT64_MIN = -(2**63)


def _sum(values: pa.ChunkedArray | pa.Array) -> int:
    return pc.sum(values, min_count=0).as_py()


def _truthy(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Non-null and non-empty (strings), as ``bool(value)`` reads them."""
    return pc.and_kleene(pc.is_valid(values), pc.not_equal(values, ""))


def busy_ns(kernels: Kernels) -> int:
    """Length of the union of the kernels' intervals (any stream)."""
    t = as_table(kernels, ["ts_ns", "dur_ns"])
    if not t.num_rows:
        return 0
    start = t.column("ts_ns")
    spans = pa.table({"s": start, "e": pc.add(start, t.column("dur_ns"))})
    spans = spans.take(pc.sort_indices(spans, [("s", "ascending"), ("e", "ascending")]))
    s, e = spans.column("s").combine_chunks(), spans.column("e").combine_chunks()
    reach = pc.cumulative_max(e)  # furthest end so far; a span past it opens a new merged interval
    before = pa.concat_arrays([pa.array([_INT64_MIN], pa.int64()), reach.slice(0, len(reach) - 1)])
    segment = pc.cumulative_sum(pc.cast(pc.greater(s, before), pa.int64()))
    merged = pa.table({"g": segment, "s": s, "e": e}).group_by("g").aggregate([("s", "min"), ("e", "max")])
    return _sum(pc.subtract(merged.column("e_max"), merged.column("s_min")))


@without_gc
def stage_summary(kernels: Kernels) -> dict:
    """Window, busy, idle and summed kernel time, each with its definition."""
    t = as_table(kernels, ["ts_ns", "dur_ns"])
    if not t.num_rows:
        return {"window_ns": 0, "busy_ns": 0, "idle_ns": 0, "kernel_time_ns": 0, "kernel_count": 0}
    start = pc.min(t.column("ts_ns")).as_py()
    end = pc.max(pc.add(t.column("ts_ns"), t.column("dur_ns"))).as_py()
    busy = busy_ns(t)
    return {
        "window_ns": end - start,
        "busy_ns": busy,
        "idle_ns": end - start - busy,
        "kernel_time_ns": _sum(t.column("dur_ns")),
        "kernel_count": t.num_rows,
        "definitions": {
            "window_ns": "first kernel start to last kernel end",
            "busy_ns": "union of kernel intervals on any stream",
            "idle_ns": "window minus busy",
            "kernel_time_ns": "sum of kernel durations (can exceed busy when streams overlap, or when a kernel "
                              "starts under its predecessor on the same stream: PDL)",
        },
    }


def _percentile_index(n: int, q: float) -> int:
    return min(n - 1, max(0, int(round(q * (n - 1)))))


def _site_labels(t: pa.Table) -> pa.ChunkedArray:
    graph = pc.fill_null(t.column("is_graph"), False)
    fallback = pc.if_else(graph, "(graph replay, unmapped)", "(unattributed)")
    return pc.if_else(_truthy(t.column("site")), t.column("site"), fallback)


def _ranked(t: pa.Table, key: str) -> dict[str, list[tuple[str, int]]]:
    """Per display name, ``(key value, summed duration)`` by time, largest first; ties: first seen."""
    g = t.group_by(["display_name", key], use_threads=False).aggregate([("dur_ns", "sum"), (ROW, "min")])
    out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for name, value, time_ns, first in zip(*(g.column(c).to_pylist() for c in ("display_name", key, "dur_ns_sum",
                                                                              f"{ROW}_min"))):
        out[name].append((-time_ns, first, value))
    return {name: [(v, -neg) for neg, _, v in sorted(items)] for name, items in out.items()}


def _with_overlap(kernels: Kernels, columns: list[str]) -> pa.Table:
    """`columns` of the kernels plus ``same`` (ns of each record under an earlier kernel of its stream)."""
    t = as_table(kernels, [*columns, "file_id", "device", "stream", "ts_ns"])
    return t.append_column("same", same_stream_overlap(t)[0])


@without_gc
def kernel_rows(kernels: Kernels) -> list[dict]:
    """All rows by display name, largest first (net of same-stream overlap), with cumulative share."""
    t = _with_overlap(kernels, ["display_name", "family", "dur_ns", "site", "is_graph", "cpu_op"])
    total = _sum(t.column("dur_ns")) - _sum(t.column("same"))
    keys = t.select(["display_name", "dur_ns", "same", ROW])
    ordered = keys.take(pc.sort_indices(keys, [("display_name", "ascending"), ("dur_ns", "ascending")]))
    ordered = ordered.append_column("pos", pa.array(range(t.num_rows), pa.int64()))
    groups = ordered.group_by("display_name", use_threads=False).aggregate(
        [("dur_ns", "sum"), ("dur_ns", "count"), ("dur_ns", "max"), ("same", "sum"), (ROW, "min"), ("pos", "min")])
    names, times, counts, maxes, sames, firsts, starts = (groups.column(c).to_pylist() for c in (
        "display_name", "dur_ns_sum", "dur_ns_count", "dur_ns_max", "same_sum", f"{ROW}_min", "pos_min"))
    # each name's durations are one ascending run of `ordered`, starting at pos_min
    p50 = ordered.column("dur_ns").take(pa.array([s + _percentile_index(n, 0.5) for s, n in zip(starts, counts)],
                                                 pa.int64())).to_pylist()
    family = t.column("family").take(pa.array(firsts, pa.int64())).to_pylist()
    sites = _ranked(t.append_column("label", _site_labels(t)), "label")
    ops = _ranked(t.filter(_truthy(t.column("cpu_op"))), "cpu_op")
    rows = []
    for j, name in enumerate(names):
        time_ns = times[j]
        top = [{"site": s, "share": v / time_ns if time_ns else 0.0} for s, v in sites[name][:TOP_SITES]]
        rows.append({
            "name": name,
            "family": family[j],
            "time_ns": time_ns,
            "share": (time_ns - sames[j]) / total if total else 0.0,
            "launches": counts[j],
            "mean_ns": time_ns // counts[j],
            "p50_ns": p50[j],
            "max_ns": maxes[j],
            "site": top[0]["site"] if top else None,
            "sites": top,
            "cpu_op": ops[name][0][0] if name in ops else None,
            "same_stream_overlap_ns": sames[j],
        })
    rows.sort(key=lambda r: (r["same_stream_overlap_ns"] - r["time_ns"], r["name"]))
    cumulative = 0
    for r in rows:
        cumulative += r["time_ns"] - r["same_stream_overlap_ns"]
        r["cumulative_share"] = cumulative / total if total else 0.0
    return rows


def apply_cutoff(rows: list[dict], cutoff_pct: float) -> tuple[list[dict], dict]:
    """Keep rows with share ≥ cutoff %; report what was hidden."""
    keep = [r for r in rows if r["share"] * 100 >= cutoff_pct] if cutoff_pct > 0 else list(rows)
    hidden = [r for r in rows if r not in keep] if len(keep) != len(rows) else []
    return keep, {
        "cutoff_pct": cutoff_pct,
        "rule": "per-row: rows whose share of stage kernel time is below the cutoff are hidden",
        "hidden_rows": len(hidden),
        "hidden_time_ns": sum(r["time_ns"] for r in hidden),
        "hidden_share": sum(r["share"] for r in hidden),
    }


@without_gc
def family_summary(kernels: Kernels) -> list[dict]:
    """Time, share (net of same-stream overlap, as the kernel rows) and count per family, largest first."""
    t = _with_overlap(kernels, ["family", "dur_ns"])
    total = _sum(t.column("dur_ns")) - _sum(t.column("same"))
    g = t.group_by("family", use_threads=False).aggregate([("dur_ns", "sum"), ("dur_ns", "count"), ("same", "sum")])
    rows = [{"family": f, "time_ns": tm, "share": (tm - same) / total if total else 0.0, "launches": n,
             "same_stream_overlap_ns": same}
            for f, tm, n, same in zip(*(g.column(c).to_pylist()
                                        for c in ("family", "dur_ns_sum", "dur_ns_count", "same_sum")))]
    return sorted(rows, key=lambda r: (r["same_stream_overlap_ns"] - r["time_ns"], r["family"]))


@without_gc
def coverage(kernels: Kernels) -> dict:
    """How much kernel time reached a CPU op and a site, and by which attribution path."""
    t = as_table(kernels, ["dur_ns", "attribution", "cpu_op", "site"])
    total = _sum(t.column("dur_ns"))
    g = t.group_by("attribution", use_threads=False).aggregate([("dur_ns", "sum")])
    by_how = dict(zip(g.column("attribution").to_pylist(), g.column("dur_ns_sum").to_pylist()))
    cpu = _sum(t.filter(_truthy(t.column("cpu_op"))).column("dur_ns"))
    site = _sum(t.filter(_truthy(t.column("site"))).column("dur_ns"))
    return {
        "kernel_time_ns": total,
        "cpu_op_ns": cpu,
        "site_ns": site,
        "cpu_op_share": cpu / total if total else 0.0,
        "site_share": site / total if total else 0.0,
        "by_attribution_ns": dict(sorted(by_how.items())),
    }


def step_count(kernels: Kernels) -> int:
    """Step annotations holding kernels: distinct (file, step) pairs."""
    t = as_table(kernels, ["file_id", "step"])
    t = t.filter(pc.is_valid(t.column("step")))
    return t.group_by(["file_id", "step"], use_threads=False).aggregate([]).num_rows if t.num_rows else 0


# every kind that can give a kernel its site (docs/layers.md); `coverage.by_attribution_ns` lists all
ATTRIBUTION_KINDS = ("direct", "enclosing", "mapped", "cross_root", "catalog", "graph", "none")
NO_CPU_NOTE = "no CPU-side events in the trace (GPU-only capture): kernels cannot be attributed"


class KernelTable(Pooled):
    """Stage fields ``kernels`` (every row, by time; the cutoff is applied on read), ``families``,
    ``coverage`` and ``steps`` — no clock involved, so several ranks are pooled."""

    name = "kernel_table"

    def run(self, part: StagePart, done: dict) -> dict:
        cov = coverage(part.table)
        cov["by_attribution_ns"] = {**dict.fromkeys(ATTRIBUTION_KINDS, 0), **cov["by_attribution_ns"]}
        if not part.ctx.has_cpu:
            cov["note"] = NO_CPU_NOTE
        return {"kernels": kernel_rows(part.table), "families": family_summary(part.table), "coverage": cov,
                "steps": step_count(part.table)}


def timeline_scope(ranks: Sequence, unranked: bool) -> str:
    """The label of figures summed over per-rank timelines: ``summed over N ranks``."""
    return f"summed over {len(ranks)} ranks" + (" and the files without a rank" if unranked else "")


def combine_summaries(parts: list[dict], scope: str) -> dict:
    """`stage_summary` of every rank → one summary whose figures are summed (definitions say so)."""
    out = {key: sum(p[key] for p in parts) for key in ("window_ns", "busy_ns", "idle_ns", "kernel_time_ns",
                                                        "kernel_count")}
    out["scope"] = scope
    out["definitions"] = {
        "window_ns": f"first kernel start to last kernel end on each rank's own clock, {scope}",
        "busy_ns": f"union of kernel intervals on any stream of the rank, {scope}",
        "idle_ns": f"window minus busy, {scope}",
        "kernel_time_ns": f"sum of kernel durations, {scope} (can exceed busy when streams overlap)",
    }
    return out


class Summary:
    """Stage fields ``summary``, ``kernel_time_ns`` and ``kernel_count``: the stage's window, busy
    and idle time on one clock; over several ranks each rank's figures, summed."""

    name = "summary"

    def run(self, part: StagePart, done: dict) -> dict:
        s = stage_summary(part.table)
        return {"summary": s, "kernel_time_ns": s["kernel_time_ns"], "kernel_count": s["kernel_count"]}

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict:
        s = combine_summaries([p["summary"] for p in parts.values()], timeline_scope(whole.ranks, whole.unranked))
        return {"summary": s, "kernel_time_ns": s["kernel_time_ns"], "kernel_count": s["kernel_count"]}
