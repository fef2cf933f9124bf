"""Triage: build the report of one trace root from the warehouse (schema in docs/json-schema.md).

Timing comes from the *formal* (or single) traces; attribution for graph replays comes from a
mapping trace of the same stage and rank when there is one, else from eager steps of the same
trace. Tables default to rank 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import orjson

from pipeline.analyze.fusion import match_fusions
from pipeline.analyze.kernel_table import (
    apply_cutoff, coverage, family_summary, kernel_rows, stage_summary,
)
from pipeline.analyze.launch_groups import launch_groups
from pipeline.analyze.layerwise_table import layerwise_report
from pipeline.analyze.overlap import analyze_overlap
from pipeline.analyze.table import as_table
from pipeline.attribute import attribute_files, ok_file_ids, store_facts
from pipeline.align.apply import apply_alignment
from pipeline.align.catalog import attribute_from_catalog  # issue 18
from pipeline.align.cross_root import attribute_cross_root  # issue 18
from pipeline.layers import assign_layers  # issue 18
from pipeline.layers.table import layer_table  # issue 18
from pipeline.report.ranks import (
    TIMELINE_RULE, add_rank_timelines, by_rank, combine_fusions, combine_overlaps, combine_summaries, rank_of_files,
    rank_spread, timeline_scope,
)
from pipeline.stage import OUTSIDE, group_by_stage
from pipeline.store import query_dicts
from pipeline.report.headline import headline

SCHEMA_VERSION = 1
ATTRIBUTION_KINDS = ("direct", "enclosing", "mapped", "cross_root", "catalog", "graph", "none")  # issue 18
STAGE_ORDER = ("prefill", "decode", "mixed", "unknown")


@dataclass
class TriageOptions:
    """Knobs of one triage run (CLI flags)."""

    cutoff_pct: float = 1.0
    rank: int | None = None
    all_ranks: bool = False
    kernel_limit: int | None = None
    overlap_limit: int | None = 30
    pid_substring: str | None = None


def _files(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    ids = ok_file_ids(conn, root)
    rows = query_dicts(
        conn, "SELECT file_id, path, framework, model, role, stage, rank, kind, status, error, note, kernels, metadata "
        "FROM trace_files WHERE root = ? ORDER BY path", [root]
    )
    for r in rows:
        r["loaded"] = r["file_id"] in ids
        meta = orjson.loads(r.pop("metadata")) if r.get("metadata") else {}
        r["platform"] = _platform(meta)
        r["tp"] = (meta.get("distributedInfo") or {}).get("world_size")
        r["has_cpu"] = any(k.startswith(("X:cpu_op", "X:python_function")) for k in meta.get("_categories", {}))
    return rows


def _platform(meta: dict) -> str:
    if any(k.startswith(("roctracer", "hip_")) for k in meta):
        return "rocm"
    names = " ".join(str(d.get("name", "")) for d in meta.get("deviceProperties") or [])
    if "AMD" in names or "Instinct" in names:
        return "rocm"
    if any(d.get("warpSize") == 64 for d in meta.get("deviceProperties") or []):
        return "rocm"
    return "cuda"


class UnknownRankError(ValueError):
    """``--rank N`` names a rank the root does not have (the message names the root and its ranks)."""


def _choose_rank(root: str, files: list[dict], opts: TriageOptions) -> tuple[int | None, str]:
    ranks = sorted({f["rank"] for f in files if f["rank"] is not None})
    if opts.rank is not None and not opts.all_ranks and opts.rank not in (ranks or [0]):
        have = (f"available ranks: {', '.join(map(str, ranks))}" if ranks else
                "its files carry no rank (one unlabelled rank, taken as rank 0)")
        raise UnknownRankError(f"--rank {opts.rank}: trace root {root!r} has no rank {opts.rank}; {have}")
    if opts.all_ranks or len(ranks) <= 1:
        return None, (f"all ranks {ranks} together: kernel tables pool the ranks and add each row's time per "
                      "rank, each stage names its straggler; window, busy, idle, overlap and fusions are "
                      f"computed per rank on its own timeline and summed over the {len(ranks)} ranks"
                      if opts.all_ranks and len(ranks) > 1 else "")
    rank = opts.rank if opts.rank is not None else ranks[0]
    return rank, f"rank {rank} of ranks {ranks} (use --rank N or --all-ranks)"


def _select(files: list[dict], rank: int | None) -> tuple[list[dict], list[dict]]:
    loaded = [f for f in files if f["loaded"] and (rank is None or f["rank"] in (rank, None))]
    mapping = [f for f in loaded if f["role"] == "mapping"]
    timing = [f for f in loaded if f["role"] != "mapping"] or mapping
    return timing, mapping if timing is not mapping else []


def _by_stage(records: list[dict]) -> dict[str, list[dict]]:
    out = group_by_stage(records)
    if set(out) == {"unknown"}:
        return {"all": out["unknown"]}
    return out


def _fusions(table, stage: str, ctx: dict, total_time_ns: int) -> dict:
    return match_fusions(
        table, stage=stage, framework=ctx["framework"], platform=ctx["platform"], tp=ctx["tp"],
        model=ctx["model"], total_time_ns=total_time_ns,
    )


def _rank_timelines(stage: str, kernels: list[dict], ctx: dict, spread: dict) -> tuple[dict, dict, dict, dict]:
    """--all-ranks: summary, overlap and fusions computed on each rank's own timeline (its own GPU and
    clock) and summed; each rank's window / busy / idle go into ``spread["per_rank"]``."""
    groups = by_rank(kernels, ctx["rank_of"])
    summaries, overlaps, fusions = {}, {}, {}
    for rank, records in groups.items():
        t = as_table(records)
        summaries[rank] = stage_summary(t)
        overlaps[rank] = analyze_overlap(t, launches=None)
        fusions[rank] = _fusions(t, stage, ctx, summaries[rank]["kernel_time_ns"])
    scope = timeline_scope(spread["ranks"], None in groups)
    summary = combine_summaries(list(summaries.values()), scope)
    overlap = combine_overlaps(overlaps, scope, summary["window_ns"])
    fusion = combine_fusions(fusions, summary["kernel_time_ns"])
    add_rank_timelines(spread, summaries, overlaps)
    timeline = {"scope": scope, "ranks": spread["ranks"], "unranked": None in groups, "rule": TIMELINE_RULE}
    return summary, overlap, fusion, timeline


def _stage_report(stage: str, kernels: list[dict], ctx: dict, opts: TriageOptions) -> dict:
    table = as_table(kernels)  # the stage's columns, converted once for every analysis below
    rows = kernel_rows(table)
    shown, cutoff = apply_cutoff(rows, opts.cutoff_pct)
    if opts.kernel_limit:
        shown = shown[: opts.kernel_limit]
    ranks = rank_spread(kernels, ctx["rank_of"], shown)  # --all-ranks: per-rank column + straggler
    if ranks is None:  # one timeline
        summary = stage_summary(table)
        overlap = analyze_overlap(table, launches=None)
        fusion = _fusions(table, stage, ctx, summary["kernel_time_ns"])
        timeline = None
    else:  # several ranks: each on its own clock, figures summed
        summary, overlap, fusion, timeline = _rank_timelines(stage, kernels, ctx, ranks)
    overlap_rows = overlap.get("rows", [])
    if opts.overlap_limit:
        overlap_rows = overlap_rows[: opts.overlap_limit]
    cov = coverage(table)
    cov["by_attribution_ns"] = {**dict.fromkeys(ATTRIBUTION_KINDS, 0), **cov["by_attribution_ns"]}  # issue 18
    if not ctx["has_cpu"]:
        cov["note"] = "no CPU-side events in the trace (GPU-only capture): kernels cannot be attributed"
    report = {
        "stage": stage,
        "kernel_time_ns": summary["kernel_time_ns"],
        "kernel_count": summary["kernel_count"],
        "summary": summary,
        "coverage": cov,
        "alignment": ctx["alignment"].get(stage),
        "kernels": shown,
        "cutoff": cutoff,
        "ranks": ranks,
        **({"timeline": timeline} if timeline else {}),
        "families": family_summary(table),
        "launch_groups": launch_groups(ctx["attribution_records"].get(stage, table)),
        "overlap": overlap_rows,
        "overlap_families": overlap.get("families", []),
        "busy_ns": overlap.get("busy_ns", summary["busy_ns"]),
        "idle_ns": overlap.get("idle_ns", summary["idle_ns"]),
        "launch_bound_ns": overlap.get("launch_bound_ns"),
        "multi_stream_ns": overlap.get("multi_stream_ns", 0),
        "category_overlap": overlap.get("category_overlap", {}),
        "overlap_note": overlap.get("note"),
        "fusions": fusion["fusions"],
        "near_misses": fusion["near_misses"],
        "steps": len({(k["file_id"], k["step"]) for k in kernels if k["step"] is not None}),
        # issue 18: per-layer table, and where graph replays got their sites from outside the trace
        "layers": layer_table(kernels, ctx["layers"].get(stage)),
        "cross_root": ctx["cross_root"].get(stage),
        "catalog_sites": ctx["catalog_sites"].get(stage),
    }
    report["headline"] = headline(report)
    return report


def _root_info(conn: duckdb.DuckDBPyConnection, root: str) -> dict:
    row = conn.execute(
        "SELECT root, path, framework, model, run, status, reason, server_args FROM trace_roots WHERE root = ?", [root]
    ).fetchone()
    if row is None:
        raise KeyError(f"trace root {root!r} is not in the warehouse (ingest it first)")
    keys = ("root", "path", "framework", "model", "run", "status", "reason", "server_args")
    info = dict(zip(keys, row))
    info["server_args"] = orjson.loads(info["server_args"]) if info["server_args"] else None
    return info


def triage_root(conn: duckdb.DuckDBPyConnection, root: str, opts: TriageOptions | None = None) -> dict:
    """The full triage report of one root."""
    opts = opts or TriageOptions()
    info = _root_info(conn, root)
    files = _files(conn, root)
    report = {"schema_version": SCHEMA_VERSION, "tool": "proftriage", "root": info, "files": files,
              "stages": [], "warnings": [f"{f['path']}: {f['error']}" for f in files if f["error"]]}
    # vLLM layer-wise profiles: per-step kernel tables from the module tree (no timeline)
    report["layerwise"], report["layerwise_files"] = layerwise_report(conn, files, opts.cutoff_pct, opts.kernel_limit)
    if info["status"] == "rejected":
        report["rejected"] = info["reason"]
        return report
    rank, rank_note = _choose_rank(root, files, opts)
    timing, mapping = _select(files, rank)
    records = attribute_files(conn, [f["file_id"] for f in timing + mapping])
    timing_ids = {f["file_id"] for f in timing}
    formal = [k for k in records if k["file_id"] in timing_ids]
    mapped = [k for k in records if k["file_id"] not in timing_ids]
    layers = assign_layers(records)  # issue 18: layer, slot, … on every record, before alignment uses them
    alignment = apply_alignment(formal, mapped, mapping_paths=[f["path"] for f in mapping])
    cross_root = attribute_cross_root(conn, root, formal)  # issue 18
    catalog_sites = attribute_from_catalog(formal, info["framework"], info["model"])  # issue 18
    store_facts(conn, root, records)
    ctx = {
        "framework": info["framework"], "model": info["model"],
        "platform": next((f["platform"] for f in timing), "cuda"),
        "tp": next((f["tp"] for f in timing if f["tp"]), None),
        "has_cpu": any(f["has_cpu"] for f in timing + mapping),
        "alignment": alignment, "attribution_records": _by_stage(mapped) if mapped else {},
        "rank_of": rank_of_files(timing) if opts.all_ranks else {},
        **_layer_ctx(layers, cross_root, catalog_sites, formal),  # issue 18
    }
    outside = [k for k in formal if k["stage"] == OUTSIDE]
    stages = _by_stage([k for k in formal if k["stage"] != OUTSIDE])
    report["outside_steps"] = {
        "kernels": len(outside), "time_ns": sum(k["dur_ns"] for k in outside),
        "note": "GPU activity outside every step window (e.g. launched before the profiler's CPU side "
                "started); excluded from the stage tables",
    }
    report["rank"] = {"rank": rank, "note": rank_note}
    report["mode"] = "pair" if mapping else "single"
    report["overlap_source"] = "formal trace of a mapping/formal pair" if mapping else "single trace"
    for stage in sorted(stages, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else -1):
        report["stages"].append(_stage_report(stage, stages[stage], ctx, opts))
        if report["stages"][-1]["layers"] is None:  # issue 18: say why a stage has no per-layer table
            why = (ctx["layers"].get(stage) or {}).get("reason") or "no decoder layers found"
            report["warnings"].append(f"stage {stage}: no per-layer table: {why}")
    return report


def _layer_ctx(layers: dict, cross_root: dict, catalog_sites: dict, formal: list[dict]) -> dict:
    """Issue 18: the per-stage results of the layer / cross-root / catalog steps under the report's stage keys."""
    key = "all" if {k["stage"] for k in formal if k["stage"] != OUTSIDE} == {"unknown"} else None
    rekey = (lambda d: {key or s: v for s, v in d.items()})
    return {"layers": rekey(layers), "cross_root": rekey(cross_root), "catalog_sites": rekey(catalog_sites)}
