"""Analyse a root's stored facts into its report, stored as the `report_*` tables.

`analyze_root` reads `kernel_facts` (built once by `pipeline.facts`), runs every registered
analyzer (`pipeline.report.registry`) per view and stage, and replaces the root's report rows in
one transaction. Views: a root with two or more ranks gets one view per rank (the rank's files
plus files without a rank, one timeline) and the view ``all`` (the ranks combined: analyses that
read timestamps run per rank and are combined, the rest pool the ranks); any other root gets
``all`` as one timeline. Timing comes from the formal (or single) traces; mapping traces supply
launch groups. Nothing here attributes or aligns: that happened when the facts were built.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analyze.layerwise_table import layerwise_report
from pipeline.analyze.layers import no_layer_warnings
from pipeline.analyze.protocol import RootContext, StagePart
from pipeline.facts import alignment_rates, load_facts, report_facts, stage_notes
from pipeline.report.context import context_of, file_ranks, root_files, root_info
from pipeline.report.registry import ANALYZERS
from pipeline.report.state import REPORT_VERSION, require_facts
from pipeline.report.tables import delete_root, insert_rows, list_tables
from pipeline.roofline.devices import trace_device
from pipeline.stage import OUTSIDE
from pipeline.store import transaction

STAGE_ORDER = ("prefill", "decode", "mixed", "unknown")


@dataclass(frozen=True)
class View:
    """The files one view of the report reads."""

    name: str  # 'all' or the rank as text
    rank: int | None
    timing: list[dict]
    mapping: list[dict]
    combined: bool  # several ranks: per-rank runs combined


@dataclass(frozen=True)
class RootFacts:
    """What every view of a root shares."""

    info: dict
    rates: dict  # (rank, stage) → stored alignment rate
    rank_of: dict  # file_id → rank of every timing file (empty below two ranks)
    siblings: dict  # stage → that stage's timing rows of every rank
    notes: dict  # stage → the facts steps' stored findings (layers, cross_root, catalog_sites)


def _select(files: list[dict]) -> tuple[list[dict], list[dict]]:
    loaded = [f for f in files if f["loaded"]]
    mapping = [f for f in loaded if f["role"] == "mapping"]
    timing = [f for f in loaded if f["role"] != "mapping"] or mapping
    return timing, mapping if timing is not mapping else []


def views_of(files: list[dict]) -> list[View]:
    """The views of a root: ``all``, then one per rank when the files carry two or more ranks."""
    ranks = file_ranks(files)
    views = [View("all", None, *_select(files), combined=len(ranks) >= 2)]
    if len(ranks) >= 2:
        views += [View(str(r), r, *_select([f for f in files if f["rank"] in (r, None)]), combined=False)
                  for r in ranks]
    return views


def _where(table: pa.Table, mask: pa.ChunkedArray) -> pa.Table:
    """`table` filtered by `mask`; the table itself when the mask keeps every row (no copy)."""
    return table if pc.all(mask, skip_nulls=False).as_py() is True else table.filter(mask)


def _rows_of(facts: pa.Table, files: list[dict]) -> pa.Table:
    ids = pa.array([f["file_id"] for f in files], pa.int64())
    return _where(facts, pc.is_in(facts.column("file_id"), value_set=ids))


def by_stage(table: pa.Table) -> dict[str, pa.Table]:
    """The table's rows per stage (``outside`` excluded); a trace without any stage is ``all``."""
    stages = [s for s in pc.unique(table.column("stage")).to_pylist() if s != OUTSIDE]
    out = {s: _where(table, pc.equal(table.column("stage"), s)) for s in stages}
    if set(out) == {"unknown"}:
        return {"all": out["unknown"]}
    return {s: out[s] for s in sorted(out, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else -1)}


def _run(part: StagePart) -> dict:
    done: dict = {}
    for analyzer in ANALYZERS:
        done.update(analyzer.run(part, done))
    return done


class _Runs:
    """Per-timeline runs, cached by (files, stage): a rank's run serves its own view and ``all``."""

    def __init__(self) -> None:
        self._done: dict[tuple, dict] = {}

    def get(self, key: tuple, part: StagePart) -> dict:
        if key not in self._done:
            self._done[key] = _run(part)
        return self._done[key]


def _stage(view: View, stage: str, table: pa.Table, mapping: pa.Table | None, ctx: RootContext, runs: _Runs,
           siblings: pa.Table | None) -> dict:
    ranks = tuple(sorted({f["rank"] for f in view.timing if f["rank"] is not None}))
    unranked = table.column("rank").null_count > 0
    whole = StagePart(stage, table, ctx, ranks, unranked, mapping, siblings)
    if not view.combined:
        files = tuple(sorted(f["file_id"] for f in view.timing))
        return {"stage": stage, **runs.get((files, stage, ctx.platform, ctx.tp, ctx.has_cpu), whole)}
    parts = {}
    for rank in [*ranks, None]:
        mine = [f for f in view.timing if f["rank"] == rank]
        rows = _rows_of(table, mine)
        if rows.num_rows:
            key = (tuple(sorted(f["file_id"] for f in mine)), stage, ctx.platform, ctx.tp, ctx.has_cpu)
            parts[rank] = runs.get(key, StagePart(stage, rows, ctx, (rank,) if rank is not None else (), rank is None,
                                                  siblings=siblings))
    done: dict = {}
    for analyzer in ANALYZERS:
        done.update(analyzer.combine(parts, whole, done))
    return {"stage": stage, **done}


def _mapping_stages(facts: pa.Table, view: View) -> dict[str, pa.Table]:
    return by_stage(_rows_of(facts, view.mapping)) if view.mapping else {}


def analyze_view(conn: duckdb.DuckDBPyConnection, facts: pa.Table, view: View, root: RootFacts, runs: _Runs) -> dict:
    """Every stage of one view, plus what lies outside the steps."""
    timing = _rows_of(facts, view.timing)
    per_device = timing.group_by(["file_id", "device"]).aggregate([("dur_ns", "sum")])  # a row per GPU, not kernel
    per_device = per_device.select(["file_id", "device", "dur_ns_sum"]).rename_columns(["file_id", "device", "dur_ns"])
    device = trace_device(conn, per_device.to_pylist())
    ctx = context_of(root.info, view.timing, view.mapping, root.rates, device, root.rank_of, root.notes)
    mapping = _mapping_stages(facts, view)
    stages = [_stage(view, s, t, mapping.get(s), ctx, runs, root.siblings.get(s)) for s, t in by_stage(timing).items()]
    outside = timing.filter(pc.equal(timing.column("stage"), OUTSIDE))
    return {
        "view": view.name, "rank": view.rank,
        "mode": "pair" if view.mapping else "single",
        "overlap_source": "formal trace of a mapping/formal pair" if view.mapping else "single trace",
        "outside_kernels": outside.num_rows,
        "outside_time_ns": pc.sum(outside.column("dur_ns")).as_py() or 0,
        "device": device.as_json(),
        "stages": stages,
    }


def _store(conn: duckdb.DuckDBPyConnection, root: str, head: dict, views: list[dict]) -> None:
    """Replace the root's report rows: a stage field with a `report_<field>` table goes there, one row
    per item; every other field is a `report_stages` column."""
    lists_of = set(list_tables().values())
    with transaction(conn):
        delete_root(conn, root)
        insert_rows(conn, "report_roots", [{"root": root, **head}])
        insert_rows(conn, "report_views", [{"root": root, **{k: v for k, v in view.items() if k != "stages"}}
                                           for view in views])
        stage_rows, lists = [], {}
        for view in views:
            for pos, stage in enumerate(view["stages"]):
                key = {"root": root, "view": view["view"], "stage": stage["stage"]}
                scalar = {"pos": pos}
                for field, value in stage.items():
                    table = f"report_{field}"
                    if table in lists_of:
                        lists.setdefault(table, []).extend({**key, "pos": i, **row} for i, row in enumerate(value))
                    elif field != "stage":
                        scalar[field] = value
                stage_rows.append({**key, **scalar})
        insert_rows(conn, "report_stages", stage_rows)
        for table, rows in lists.items():
            insert_rows(conn, table, rows)


def analyze_root(conn: duckdb.DuckDBPyConnection, root: str, facts: pa.Table | None = None) -> dict:
    """Compute and store the report of `root` from its stored facts; return what was stored
    (``views``: the views with their stages; the head row of `report_roots`). `facts`: the root's
    facts table as `build_facts` just stored it (spares reading it back), else None."""
    info = root_info(conn, root)
    facts_built_at = require_facts(conn, root)
    files = root_files(conn, root)
    layerwise, layerwise_files = layerwise_report(conn, files, cutoff_pct=0.0)
    head = {"report_version": REPORT_VERSION, "built_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            "facts_built_at": facts_built_at, "ranks": file_ranks(files),
            "warnings": [], "layerwise": layerwise, "layerwise_files": layerwise_files}
    views: list[dict] = []
    if info["status"] != "rejected":
        facts = load_facts(conn, root, for_report=True) if facts is None else report_facts(facts)
        plan = views_of(files)
        everyone = plan[0].timing  # the view `all`: every rank's timing files
        rank_of = {f["file_id"]: f["rank"] for f in everyone if f["rank"] is not None}
        rf = RootFacts(info, {(r["rank"], r["stage"]): r for r in alignment_rates(conn, root)},
                       rank_of if len(set(rank_of.values())) >= 2 else {}, by_stage(_rows_of(facts, everyone)),
                       stage_notes(conn, root))
        runs = _Runs()
        views = [analyze_view(conn, facts, v, rf, runs) for v in plan]
        head["warnings"] = no_layer_warnings(rf.notes)
    head["default_view"] = views[1]["view"] if len(views) > 1 else "all"
    _store(conn, root, head, views)
    return {"head": head, "views": views}
