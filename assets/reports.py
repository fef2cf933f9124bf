"""Per-root triage report: analyse the root's stored facts into its stored report (`report_*`
tables), and export the default view as JSON (`<state_dir>/reports/<root>.json`) for tools that
do not query the warehouse."""

from pathlib import Path

import dagster as dg
import orjson

from assets.partitions import trace_roots
from assets.resources import TracePaths, WarehouseResource, column_schema, percent
from assets.roots import GROUP, kernel_facts
from pipeline.paths import safe_join
from pipeline.render.markdown import render_report_markdown
from pipeline.report.build import analyze_root
from pipeline.report.read import read_report
from pipeline.report.state import NotAnalyzed

MAX_PREVIEW = 60_000  # characters of the markdown report (or bundle) shown in the UI


def report_path(reports_dir: Path, root_key: str) -> Path:
    """Where the JSON report of a root is written (the key's `/` become folders); a key that
    would leave `reports_dir` (``..``, a leading ``/``) raises `pipeline.paths.UnsafePath`."""
    return safe_join(reports_dir, f"{root_key}.json")


def stage_rows(report: dict) -> list[dict]:
    """One summary row per stage: time, count, coverage, alignment rate, headline."""
    rows = []
    for s in report.get("stages", []):
        cov, align = s.get("coverage") or {}, s.get("alignment") or {}
        rows.append({
            "stage": s["stage"], "kernel_time_ns": s["kernel_time_ns"], "kernel_count": s["kernel_count"],
            "site_share": cov.get("site_share"), "cpu_op_share": cov.get("cpu_op_share"),
            "alignment": align.get("by_time") if align else None, "headline": s.get("headline", ""),
        })
    return rows


def _markdown(rows: list[dict]) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    lines = ["| stage | kernel time (ms) | kernels | site coverage | alignment | headline |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['kernel_time_ns'] / 1e6:.2f} | {r['kernel_count']} | {pct(r['site_share'])} "
                     f"| {pct(r['alignment'])} | {str(r['headline']).replace('|', '/')} |")
    return "\n".join(lines)


@dg.asset(
    partitions_def=trace_roots, deps=[kernel_facts], pool="tracedb", code_version="3",
    kinds={"duckdb", "json"}, group_name=GROUP,
)
def triage_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  paths: TracePaths) -> dg.MaterializeResult:
    """The triage report of one root — per view (each rank, all ranks) and stage: kernel rows,
    families, launch groups, overlap, fusions, coverage and alignment — computed once from the
    stored kernel facts and stored as the `report_*` tables, which bundles read."""
    with warehouse.connect() as conn:
        try:
            analyze_root(conn, context.partition_key)
        except NotAnalyzed as exc:
            raise dg.Failure(description=f"{exc.args[0]} — materialise kernel_facts for this root first") from exc
        report = read_report(conn, context.partition_key)
        schema = column_schema(conn, "report_stages")
    target = report_path(paths.reports_path(), context.partition_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2, default=str))
    rows = stage_rows(report)
    aligned = [r["alignment"] for r in rows if r["alignment"] is not None]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(rows),
        "dagster/table_name": "main.report_stages",
        "dagster/column_schema": schema,
        "report_path": dg.MetadataValue.path(str(target)),
        "mode": str(report.get("mode", "")),
        "kernel_count": sum(r["kernel_count"] for r in rows),
        "min_site_coverage_pct": percent(min((r["site_share"] or 0.0 for r in rows), default=0.0)),
        "min_alignment_pct": percent(min(aligned) if aligned else None),
        "warnings": len(report.get("warnings", [])),
        "stages": dg.MetadataValue.md(_markdown(rows)),
        "report": dg.MetadataValue.md(render_report_markdown(report)[:MAX_PREVIEW]),
        **({"rejected": str(report["rejected"])} if report.get("rejected") else {}),
    })
