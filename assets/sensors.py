"""Sensors.

- `trace_root_sensor`: scans the data root (directory walk + 64 KiB sniffs, no parsing), adds new
  `trace_roots` / `bundles` partitions and requests ingest runs for new or changed roots, all in
  one `SensorResult`. `run_key = "<root>@<fingerprint>"`, so a re-profiled root runs again.
- `bundles_after_ingest`: when a run that materialised per-root assets succeeds, re-render the
  bundles of that root's model (every framework: each bundle has a cross-framework section) and
  the index.
"""

import json

import dagster as dg

from assets.jobs import PER_ROOT_ASSETS, bundle_job, index_job, ingest_job
from assets.partitions import bundle_key_of, bundles, model_of_bundle, new_partitions, trace_roots
from assets.resources import TracePaths
from assets.roots import raw_trace_files
from pipeline.discover import DiscoveryError, TraceRoot, discover

TAG_BUNDLE = "proftriage/bundle"
TAG_FRAMEWORK = "proftriage/framework"
TAG_MODEL = "proftriage/model"


def root_tags(root: TraceRoot) -> dict[str, str]:
    """Run tags that say which framework, model and bundle a root belongs to."""
    return {TAG_FRAMEWORK: root.framework, TAG_MODEL: root.model or "", TAG_BUNDLE: bundle_key_of(root)}


def changed_roots(roots: list[TraceRoot], seen: dict[str, str]) -> list[TraceRoot]:
    """Roots that are new, or whose fingerprint differs from the cursor's."""
    return [r for r in roots if seen.get(r.key) != r.fingerprint]


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def trace_root_sensor(context: dg.SensorEvaluationContext, paths: TracePaths) -> dg.SensorResult | dg.SkipReason:
    """New or re-written trace roots under the data root → partitions + one ingest run each."""
    data_root = paths.data_root_path()
    try:
        roots = discover(data_root)
    except DiscoveryError as exc:
        return dg.SkipReason(f"cannot scan {data_root}: {exc}")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    todo = changed_roots(roots, seen)
    reg = new_partitions(roots, context.instance.get_dynamic_partitions(trace_roots.name),
                         context.instance.get_dynamic_partitions(bundles.name))
    if not todo and not reg.roots and not reg.bundles:
        return dg.SkipReason(f"{len(roots)} trace roots under {data_root}, none new or changed")
    runs = [dg.RunRequest(partition_key=r.key, run_key=f"{r.key}@{r.fingerprint}", tags=root_tags(r)) for r in todo]
    cursor = json.dumps({r.key: r.fingerprint for r in roots}, sort_keys=True)
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=reg.requests(), cursor=cursor)


def _materialized(instance: dg.DagsterInstance, run_id: str) -> dict[dg.AssetKey, dict]:
    """Asset key → metadata of what a run materialised (works for UI, sensor and CLI runs alike)."""
    records = instance.get_records_for_run(run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    out = {}
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        if mat is not None:
            out[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _bundle_of_root(instance: dg.DagsterInstance, root: str) -> str | None:
    """The bundle key raw_trace_files recorded for `root` on its latest materialisation."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=raw_trace_files.key, asset_partitions=[root]), limit=1).records
    mat = records[0].asset_materialization if records else None
    value = mat.metadata.get("bundle_key") if mat else None
    return str(value.value) if value is not None else None


def bundles_of_model(instance: dg.DagsterInstance, key: str) -> list[str]:
    """Every registered bundle of the model of bundle `key` (the key itself included)."""
    model = model_of_bundle(key)
    keys = [k for k in instance.get_dynamic_partitions(bundles.name) if model_of_bundle(k) == model]
    return sorted(set(keys) | {key})


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, request_jobs=[bundle_job, index_job],
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
)
def bundles_after_ingest(context: dg.RunStatusSensorContext) -> dg.SensorResult | dg.SkipReason:
    """A per-root run succeeded → re-render the bundles of that root's model, then the index."""
    run = context.dagster_run
    root = run.tags.get("dagster/partition")
    done = _materialized(context.instance, run.run_id)
    if not root or not done.keys() & {a.key for a in PER_ROOT_ASSETS}:
        return dg.SkipReason(f"run {run.run_id} did not materialise a trace root")
    key = run.tags.get(TAG_BUNDLE) or done.get(raw_trace_files.key, {}).get("bundle_key") \
        or _bundle_of_root(context.instance, root)
    if key is None:
        return dg.SkipReason(f"root {root}: no bundle key (raw_trace_files never materialised?)")
    known = set(context.instance.get_dynamic_partitions(bundles.name))
    requests = [dg.RunRequest(job_name=bundle_job.name, partition_key=k, run_key=f"{run.run_id}:{k}",
                              tags={TAG_BUNDLE: k}) for k in bundles_of_model(context.instance, key) if k in known]
    requests.append(dg.RunRequest(job_name=index_job.name, run_key=f"{run.run_id}:index"))
    return dg.SensorResult(run_requests=requests)


SENSORS = [trace_root_sensor, bundles_after_ingest]
