"""Markdown bundles: one per framework × model (`bundles` partitions) and the index.

Partition mapping. A bundle reads the roots of its model (its own framework's roots, and the
other frameworks' for the cross-framework section). Dagster 1.13.27 has no built-in mapping
from one dynamic partitions definition to a *computed* subset of another one, and a custom
`PartitionMapping` subclass is deprecated there and dropped from the asset snapshot the UI and
daemon use (`external_data.py` keeps only built-in mappings), which would silently fall back to
the inferred identity mapping (empty lineage). So the dependency is declared with an explicit
`AllPartitionMapping`, and the body selects the bundle's roots by framework/model and refuses to
render unless every one of them has a triage report materialised, stored and current, and passes every
ERROR check. It only reads the stored reports (`pipeline.report.read`): it never analyses a root.
"""

from dataclasses import dataclass

import dagster as dg
import duckdb

from assets.checks import floors_of
from pipeline.checks import Outcome, evaluate_root
from assets.partitions import bundle_parts, bundles
from assets.reports import MAX_PREVIEW, triage_report
from assets.resources import QualityFloors, TracePaths, WarehouseResource, md_table
from pipeline.render.bundle import require_reports, slug, write_bundle, write_index
from pipeline.report.state import NotAnalyzed
from pipeline.paths import read_sql

GROUP = "bundles"


@dataclass(frozen=True)
class BundleRoots:
    """The roots one bundle renders from."""

    model: str  # the raw model name (the key holds its slug)
    own: list[str]  # roots of the bundle's framework
    read: list[str]  # every root of the model (cross-framework section included)


def bundle_roots(conn: duckdb.DuckDBPyConnection, key: str) -> BundleRoots:
    """Select the roots of bundle `key` (`<framework>/<model slug>`) from the warehouse."""
    framework, model_slug = bundle_parts(key)
    rows = conn.execute(read_sql("checks/_bundle_roots.sql")).fetchall()
    same_model = [(root, fw, model) for root, fw, model, _ in rows if slug(model) == model_slug]
    own = [root for root, fw, _ in same_model if (fw or "unknown") == framework]
    model = next((m for _, fw, m in same_model if (fw or "unknown") == framework and m), model_slug)
    return BundleRoots(model=model, own=own, read=[root for root, _, _ in same_model])


def missing_reports(instance: dg.DagsterInstance, roots: list[str]) -> list[str]:
    """Roots with no `triage_report` materialisation in this instance."""
    missing = []
    for root in roots:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=triage_report.key, asset_partitions=[root]), limit=1).records
        if not records:
            missing.append(root)
    return missing


def failed_checks(conn: duckdb.DuckDBPyConnection, roots: list[str], floors: QualityFloors) -> list[Outcome]:
    """ERROR-severity check failures on `roots` (recomputed now, from the same SQL as the checks)."""
    outcomes = [o for root in roots for o in evaluate_root(conn, root, floors_of(floors), severity="ERROR")]
    return [o for o in outcomes if not o.passed]


def _refusal(key: str, missing: list[str], failures: list[Outcome]) -> str:
    lines = [f"bundle {key} not rendered:"]
    lines += [f"  {root}: no triage_report materialised (run the per-root assets first)" for root in missing]
    lines += [f"  {o.root}: check {o.rule} failed ({o.note})" for o in failures]
    return "\n".join(lines)


@dg.asset(
    partitions_def=bundles, pool="tracedb", code_version="3", kinds={"markdown", "duckdb"}, group_name=GROUP,
    deps=[dg.AssetDep(triage_report, partition_mapping=dg.AllPartitionMapping()),
          dg.AssetDep(dg.AssetKey("regressions"))],  # assets/regressions.py: its stored diffs (same partition)
)
def bundle(context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: TracePaths,
           floors: QualityFloors) -> dg.MaterializeResult:
    """`bundles/<model>/<framework>.md`: every stage's tables, launch groups, coverage and
    alignment for one model × framework, plus the model's cross-framework comparison."""
    key = context.partition_key
    framework, _ = bundle_parts(key)
    with warehouse.connect() as conn:
        roots = bundle_roots(conn, key)
        if not roots.own:
            raise dg.Failure(description=f"bundle {key}: no trace root of this framework and model in the warehouse")
        missing = missing_reports(context.instance, roots.read)
        failures = failed_checks(conn, roots.read, floors)
        if missing or failures:
            raise dg.Failure(description=_refusal(key, missing, failures),
                             metadata={"roots": roots.read, "failed_checks": len(failures), "missing": len(missing)})
        try:
            require_reports(conn, roots.read)
        except NotAnalyzed as exc:
            raise dg.Failure(description=f"bundle {key} not rendered: {exc.args[0]}") from exc
        path = write_bundle(conn, paths.bundles_path(), framework, roots.model)
    text = path.read_text(encoding="utf-8")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "dagster/row_count": len(roots.own),
        "roots": md_table([{"root": r, "role": "own" if r in roots.own else "cross-framework"} for r in roots.read],
                          ["root", "role"], limit=50),
        "bytes": path.stat().st_size,
        "preview": dg.MetadataValue.md(text[:MAX_PREVIEW]),
    })


@dg.asset(
    pool="tracedb", code_version="2", kinds={"markdown"}, group_name=GROUP,
    deps=[dg.AssetDep(bundle, partition_mapping=dg.AllPartitionMapping())],
)
def bundle_index(warehouse: WarehouseResource, paths: TracePaths) -> dg.MaterializeResult:
    """`bundles/index.md`: every model with its frameworks' bundles and root counts."""
    with warehouse.connect() as conn:
        path = write_index(conn, paths.bundles_path())
    text = path.read_text(encoding="utf-8")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "preview": dg.MetadataValue.md(text[:2000]),
    })
