"""Nightly regressions per bundle (framework × model): each root of the bundle is diffed with the previous
capture of its configuration and the diff is stored (`pipeline.diff.nightly.run_nightly`: the `diff_*`
tables, which bundles read); the check fails when the latest diff of a series shows a significant
slowdown of at least the threshold (% of the stage's kernel time per step). docs/diff.md.
"""

import warnings

import dagster as dg

from assets.bundles import bundle_roots
from assets.partitions import bundles
from assets.reports import triage_report
from assets.resources import WarehouseResource, md_table
from pipeline.diff.nightly import THRESHOLD_ENV, Regression, regressions as find_regressions, run_nightly, threshold_pct

GROUP = "bundles"


class RegressionPolicy(dg.ConfigurableResource):
    """The regression threshold of the `no_significant_regression` check, in % of a stage's kernel time
    per step (negative = ``$PROFTRIAGE_REGRESSION_THRESHOLD``, default 2)."""

    threshold_pct: float = -1.0

    def threshold(self) -> float:
        return threshold_pct(self.threshold_pct)


def _own_roots(conn, key: str) -> list[str]:
    roots = bundle_roots(conn, key)
    if not roots.own:
        raise dg.Failure(description=f"bundle {key}: no trace root of this framework and model in the warehouse")
    return roots.own


@dg.asset(
    partitions_def=bundles, pool="tracedb", code_version="1", kinds={"duckdb"}, group_name=GROUP,
    deps=[dg.AssetDep(triage_report, partition_mapping=dg.AllPartitionMapping())],
)
def regressions(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Each root of the bundle diffed with the previous capture of its configuration (same framework,
    model, stages, ranks, roles and capture settings; previous by the trace's own capture time), stored
    as the `diff_*` tables with the series in `diff_series`; roots without a current report are skipped."""
    with warehouse.connect() as conn:
        results = run_nightly(conn, _own_roots(conn, context.partition_key))
    rows = [{"root": r.root, "previous": r.previous or "", "status": r.status, "significant": r.significant,
             "summary": "; ".join(r.summaries) or r.note} for r in results]
    diffed = [r for r in results if r.previous and r.status in ("diffed", "current")]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(diffed),
        "dagster/table_name": "main.diff_runs",
        "roots": len(results),
        "skipped": sum(r.status == "skipped" for r in results),
        "significant_changes": sum(r.significant for r in results),
        "diffs": md_table(rows, ["root", "previous", "status", "significant", "summary"], limit=50),
    })


def _describe(found: list[Regression], limit: float, notes: list[str]) -> str:
    if not found:
        text = f"no significant slowdown of {limit:g} % or more of a stage's kernel time per step in the latest diffs"
        return text + (f" ({len(notes)} series not judged: {notes[0]})" if notes else "")
    worst = found[0]
    what = f"the {worst.stage} stage as a whole" if worst.what == "stage" else f"{worst.what} in {worst.stage}"
    return (f"{len(found)} significant slowdown(s) ≥ {limit:g} %: worst {what} of {worst.root} "
            f"(+{worst.delta_ns:,} ns per step, {worst.impact:.1%} of the stage, noise {worst.noise_ns} ns) since "
            f"{worst.previous}")


def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
           policy: RegressionPolicy) -> dg.AssetCheckResult:
    limit = policy.threshold()
    with warehouse.connect() as conn:
        found, notes = find_regressions(conn, _own_roots(conn, context.partition_key), limit)
    rows = [{"root": r.root, "stage": r.stage, "what": r.what, "site": r.site, "delta_ns": r.delta_ns,
             "noise_ns": r.noise_ns, "impact": f"{r.impact:.1%}"} for r in found]
    return dg.AssetCheckResult(
        passed=not found, severity=dg.AssetCheckSeverity.ERROR, description=_describe(found, limit, notes),
        metadata={"threshold_pct": limit, "threshold_env": THRESHOLD_ENV, "regressions": len(found),
                  "not_judged": len(notes),
                  "rows": md_table(rows, ["root", "stage", "what", "site", "delta_ns", "noise_ns", "impact"])})


# Partitioned checks are a preview feature in 1.13.27 (one result per bundle in the UI).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    no_significant_regression = dg.asset_check(
        asset=regressions, name="no_significant_regression", blocking=False, pool="tracedb",
        partitions_def=bundles,
        description="Fails when the latest diff of a series shows a significant slowdown (a kernel or the stage) of "
                    f"at least the threshold: % of the stage's kernel time per step (RegressionPolicy.threshold_pct, "
                    f"else ${THRESHOLD_ENV}, else 2)")(_check)
