"""Per-root assets: ingest a trace root into the warehouse, then build its kernel facts (every rank).

Both are partitioned by `trace_roots` and open DuckDB, so both sit in the `tracedb` pool.
"""

from pathlib import Path

import dagster as dg
import pyarrow.compute as pc

from assets.partitions import bundle_key_of, trace_roots
from assets.resources import TracePaths, WarehouseResource, column_schema, md_table, percent
from pipeline.analyze.kernel_table import coverage, family_summary
from pipeline.facts import build_facts, load_facts
from pipeline.discover import DiscoveryError, TraceRoot, discover
from pipeline.ingest import ingest_root

GROUP = "trace_roots"


def find_root(data_root: Path, key: str) -> TraceRoot:
    """The discovered trace root with partition key `key`, or a `dg.Failure` saying why not."""
    try:
        roots = discover(data_root)
    except DiscoveryError as exc:
        raise dg.Failure(description=f"cannot scan data root {data_root}: {exc}") from exc
    for root in roots:
        if root.key == key:
            return root
    raise dg.Failure(description=f"trace root {key!r} not found under {data_root} (moved or deleted?)")


def _file_rows(root: TraceRoot) -> list[dict]:
    return [{"file": f.rel_path, "role": f.role, "stage": f.stage, "rank": f.rank, "status": f.status,
             "MB": round(f.size_bytes / 1e6, 1)} for f in root.files]


@dg.asset(
    partitions_def=trace_roots, pool="tracedb", code_version="2", kinds={"duckdb", "python"}, group_name=GROUP,
)
def raw_trace_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    paths: TracePaths) -> dg.MaterializeResult:
    """Every trace file of one root, parsed once (streaming) and loaded into the event tables
    (`trace_files`, `kernels`, `gpu_memops`, `launches`, `cpu_ops`, `python_frames`, `annotations`)
    in one transaction; a file that fails is recorded with its error, never half-loaded."""
    root = find_root(paths.data_root_path(), context.partition_key)
    summary = ingest_root(root, warehouse.warehouse(), paths.spool_path())
    if summary.files and not summary.ok and summary.errors:
        raise dg.Failure(description=f"no file of {root.key} could be loaded: " + "; ".join(summary.errors[:3]))
    with warehouse.connect() as conn:
        schema = column_schema(conn, "kernels")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": summary.rows.get("kernels", 0),
        "dagster/table_name": "main.kernels",
        "dagster/column_schema": schema,
        "framework": root.framework, "model": root.model or "", "bundle_key": bundle_key_of(root),
        "fingerprint": root.fingerprint, "status": root.status,
        "files": summary.files, "files_loaded": summary.ok, "errors": len(summary.errors),
        "rows_by_table": dg.MetadataValue.json(summary.rows),
        "preview": md_table(_file_rows(root), ["file", "role", "stage", "rank", "status", "MB"]),
    })


@dg.asset(
    partitions_def=trace_roots, deps=[raw_trace_files], pool="tracedb", code_version="3",
    kinds={"duckdb", "python"}, group_name=GROUP,
)
def kernel_facts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One record per GPU activity of every file and rank of the root — launch, CPU op, Python site
    and how it was obtained (alignment included), family, step and stage — built once and stored
    (`kernel_facts`, `alignment_rates`; docs/architecture.md). Every later step reads it."""
    with warehouse.connect() as conn:
        facts = build_facts(conn, context.partition_key)
        table = load_facts(conn, context.partition_key)
        schema = column_schema(conn, "kernel_facts")
    kernels = table.filter(pc.equal(table.column("kind"), "kernel"))
    cov = coverage(kernels)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": facts.rows,
        "dagster/table_name": "main.kernel_facts",
        "dagster/column_schema": schema,
        "files": facts.files, "ranks": dg.MetadataValue.json(facts.ranks),
        "cpu_op_coverage_pct": percent(cov["cpu_op_share"]),
        "site_coverage_pct": percent(cov["site_share"]),
        "alignment": md_table(facts.alignment, ["rank", "stage", "by_time", "by_count", "source"]),
        "preview": md_table(family_summary(table), ["family", "time_ns", "share", "launches"]),
    })
