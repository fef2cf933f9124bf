"""Asset checks: one Dagster check per rule of `pipeline.checks` (the rules and their SQL live
there), partitioned by trace root."""

import warnings

import dagster as dg

from assets.partitions import trace_roots
from assets.resources import QualityFloors, WarehouseResource
from pipeline.checks import RULES, Floors, Outcome, Rule, run_rule


def floors_of(resource: QualityFloors) -> Floors:
    """The engine's floors from the Dagster resource."""
    return Floors(attribution=resource.attribution(), alignment=resource.alignment())


def _metadata(outcome: Outcome) -> dict:
    meta: dict = {k: v for k, v in outcome.row.items() if isinstance(v, (int, float, bool))}
    meta["note"] = outcome.note
    return meta


def _make_check(rule: Rule) -> dg.AssetChecksDefinition:
    severity = dg.AssetCheckSeverity.WARN if rule.severity == "WARN" else dg.AssetCheckSeverity.ERROR

    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
               floors: QualityFloors) -> dg.AssetCheckResult:
        with warehouse.connect() as conn:
            outcome = run_rule(conn, rule, context.partition_key, floors_of(floors))
        return dg.AssetCheckResult(passed=outcome.passed, severity=severity, description=outcome.note,
                                   metadata=_metadata(outcome))

    # Partitioned checks are a preview feature in 1.13.27 (one result per trace root in the UI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.asset_check(asset=rule.asset, name=rule.name, description=rule.description,
                              blocking=rule.blocking, pool="tracedb", partitions_def=trace_roots)(_check)


ASSET_CHECKS: list[dg.AssetChecksDefinition] = [_make_check(r) for r in RULES]
