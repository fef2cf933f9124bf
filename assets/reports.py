"""Per-root triage report: the JSON report of one trace root (`<state_dir>/reports/<root>.json`)."""

from pathlib import Path

import dagster as dg
import orjson

from assets.partitions import trace_roots
from assets.resources import TracePaths, WarehouseResource
from assets.roots import GROUP, kernel_facts
from pipeline.paths import safe_join
from pipeline.report.build import TriageOptions, triage_root

STAGE_COLUMNS = ("stage", "kernel_time_ns", "kernel_count", "site_share", "cpu_op_share", "alignment", "headline")


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
    partitions_def=trace_roots, deps=[kernel_facts], pool="tracedb", code_version="1",
    kinds={"duckdb", "json"}, group_name=GROUP,
)
def triage_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  paths: TracePaths) -> dg.MaterializeResult:
    """The triage report of one root (stages, kernel tables, launch groups, overlap, fusions,
    coverage and alignment), as the stable JSON schema of `proftriage triage --format json`."""
    with warehouse.connect() as conn:
        report = triage_root(conn, context.partition_key, TriageOptions())
    target = report_path(paths.reports_path(), context.partition_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2, default=str))
    rows = stage_rows(report)
    aligned = [r["alignment"] for r in rows if r["alignment"] is not None]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(rows),
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(c) for c in STAGE_COLUMNS]),
        "report_path": dg.MetadataValue.path(str(target)),
        "mode": str(report.get("mode", "")),
        "kernel_count": sum(r["kernel_count"] for r in rows),
        "min_site_share": min((r["site_share"] or 0.0 for r in rows), default=0.0),
        "alignment_rate": min(aligned) if aligned else dg.MetadataValue.null(),
        "warnings": len(report.get("warnings", [])),
        "stages": dg.MetadataValue.md(_markdown(rows)),
        **({"rejected": str(report["rejected"])} if report.get("rejected") else {}),
    })
