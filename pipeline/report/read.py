"""Read a root's stored report back as the JSON of docs/json-schema.md.

The stored tables hold every row; what a reader chooses is applied here: the view (``--rank N`` /
``--all-ranks``, default the lowest rank), the per-row cutoff, the table limits, and the sentences
computed from the shown rows (headline). `triage`, `bundle` and `diff` all read through here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import duckdb

from pipeline.analyze.kernel_table import apply_cutoff
from pipeline.report.context import root_files, root_info
from pipeline.report.headline import headline
from pipeline.report.state import require_report
from pipeline.report.tables import as_object, list_tables, read_root, read_view

SCHEMA_VERSION = 2  # docs/json-schema.md "Changes": version 2 renamed and redefined overlap fields
# the keys of a stage object, in order; `cutoff` and `headline` are computed on read
STAGE_KEYS = ("stage", "kernel_time_ns", "kernel_count", "summary", "coverage", "alignment", "kernels", "cutoff",
              "ranks", "timeline", "families", "launch_groups", "overlap", "overlap_families", "busy_ns", "idle_ns",
              "launch_bound_ns", "multi_stream_ns", "pdl_overlaps", "pdl_overlap_ns", "category_overlap",
              "family_category_overlap", "anomalies", "overlap_note", "fusions", "near_misses", "steps", "layers",
              "cross_root", "catalog_sites", "collectives", "collective_matching", "host_bound", "roofline", "headline")
OUTSIDE_NOTE = ("GPU activity outside every step window (e.g. launched before the profiler's CPU side started); "
                "excluded from the stage tables")
LAYERWISE_RULE = "per-row: rows whose share of the step's kernel time is below the cutoff are hidden"


@dataclass
class TriageOptions:
    """What a reader chooses (CLI flags of `triage`)."""

    cutoff_pct: float = 1.0
    rank: int | None = None
    all_ranks: bool = False
    kernel_limit: int | None = None
    overlap_limit: int | None = 30
    pid_substring: str | None = None  # the reference tool's flag: accepted, no effect


class UnknownRankError(ValueError):
    """``--rank N`` names a rank the root does not have (the message names the root and its ranks)."""


def choose_view(root: str, ranks: list[int], opts: TriageOptions) -> tuple[str, int | None, str]:
    """(view, rank, note) for the reader's options."""
    if opts.rank is not None and not opts.all_ranks and opts.rank not in (ranks or [0]):
        have = (f"available ranks: {', '.join(map(str, ranks))}" if ranks else
                "its files carry no rank (one unlabelled rank, taken as rank 0)")
        raise UnknownRankError(f"--rank {opts.rank}: trace root {root!r} has no rank {opts.rank}; {have}")
    if opts.all_ranks or len(ranks) <= 1:
        return "all", None, (f"all ranks {ranks} together: kernel tables pool the ranks and add each row's time per "
                             "rank, each stage names its straggler; window, busy, idle, overlap and fusions are "
                             f"computed per rank on its own timeline and summed over the {len(ranks)} ranks"
                             if opts.all_ranks and len(ranks) > 1 else "")
    rank = opts.rank if opts.rank is not None else ranks[0]
    return str(rank), rank, f"rank {rank} of ranks {ranks} (use --rank N or --all-ranks)"


def present_kernels(table: dict, cutoff_pct: float, limit: int | None, rule: str | None = None) -> None:
    """Apply the cutoff and the row limit to a table's stored ``kernels`` (every row, in place);
    ``cutoff`` says what both hid."""
    shown, cutoff = apply_cutoff(table["kernels"], cutoff_pct)
    if rule:
        cutoff["rule"] = rule
    if limit and limit > 0 and len(shown) > limit:
        cut = shown[limit:]
        shown = shown[:limit]
        cutoff["hidden_rows"] += len(cut)
        cutoff["hidden_time_ns"] += sum(r["time_ns"] for r in cut)
        cutoff["hidden_share"] += sum(r["share"] for r in cut)
    cutoff["row_limit"] = limit
    table["kernels"], table["cutoff"] = shown, cutoff


def _stage(stored: dict, lists: dict, opts: TriageOptions) -> dict:
    data = {**stored, **lists}
    present_kernels(data, opts.cutoff_pct, opts.kernel_limit)
    if opts.overlap_limit:
        data["overlap"] = data["overlap"][: opts.overlap_limit]
    out = {k: data[k] for k in STAGE_KEYS if k in data and k != "headline"}
    out.update({k: v for k, v in data.items() if k not in out and k not in ("pos", "view", "root", "headline")})
    out["headline"] = headline(out)
    return out


def _by_stage(lists: list[tuple[str, str, dict]]) -> dict[str, dict[str, list[dict]]]:
    """stage → field → rows, for every `report_<field>` table (a field without rows: [])."""
    fields = list_tables()
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {field: [] for field in fields})
    for field, stage, row in lists:
        out[stage][field].append(row)
    return out


def _layerwise(tables: list[dict], opts: TriageOptions) -> list[dict]:
    for t in tables:
        present_kernels(t, opts.cutoff_pct, opts.kernel_limit, LAYERWISE_RULE)
        t["headline"] = headline({**t, "stage": t["label"], "alignment": None})
    return tables


def read_report(conn: duckdb.DuckDBPyConnection, root: str, opts: TriageOptions | None = None) -> dict:
    """The stored report of `root` (docs/json-schema.md); `NotAnalyzed` when missing or stale."""
    opts = opts or TriageOptions()
    require_report(conn, root)
    info = root_info(conn, root)
    files = root_files(conn, root)
    head = read_root(conn, root)
    report = {"schema_version": SCHEMA_VERSION, "tool": "proftriage", "root": info, "files": files, "stages": [],
              "warnings": [f"{f['path']}: {f['error']}" for f in files if f["error"]] + list(head["warnings"] or []),
              "layerwise": _layerwise(head["layerwise"] or [], opts), "layerwise_files": head["layerwise_files"] or []}
    if info["status"] == "rejected":
        report["rejected"] = info["reason"]
        return report
    view, rank, note = choose_view(root, list(head["ranks"] or []), opts)
    meta, stages, lists = read_view(conn, root, view)
    report["outside_steps"] = {"kernels": meta["outside_kernels"], "time_ns": meta["outside_time_ns"],
                               "note": OUTSIDE_NOTE}
    report["rank"] = {"rank": rank, "note": note}
    report["mode"], report["overlap_source"] = meta["mode"], meta["overlap_source"]
    report["device"] = meta["device"]
    rows = _by_stage(lists)
    report["stages"] = [_stage(as_object(s, "report_stages") | {"stage": s["stage"]}, rows[s["stage"]], opts)
                        for s in stages]
    return report
