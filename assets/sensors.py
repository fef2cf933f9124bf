"""Sensors.

- `trace_root_sensor`: scans the data root (directory walk + 64 KiB sniffs, no parsing), adds new
  `trace_roots` / `bundles` partitions and requests ingest runs for new or changed roots, all in
  one `SensorResult`. `run_key = "<root>@<fingerprint>"`, so a re-profiled root runs again. A root
  the sensor has not seen yet (its first tick, e.g. `make ui` after `make demo`) is not run when
  the warehouse already holds it with the same fingerprint and a current report.
- `bundles_after_ingest`: when a run that materialised per-root assets succeeds, re-render the
  bundles of that root's model (every framework: each bundle has a cross-framework section) and
  the index — coalesced: nothing is requested while another per-root run of the same model (for
  the index: of any model) is still queued or running, so the last one of a wave requests them;
  run keys carry the newest `triage_report` materialisation, so runs evaluated together collapse
  into one per bundle and one index run.
"""

import json

import dagster as dg

from assets.jobs import PER_ROOT_ASSETS, bundle_job, index_job, ingest_job
from assets.partitions import bundle_key_of, bundles, model_of_bundle, new_partitions, trace_roots
from assets.reports import triage_report
from assets.resources import TracePaths, WarehouseResource
from assets.roots import raw_trace_files
from pipeline.discover import DiscoveryError, TraceRoot, discover
from pipeline.paths import read_sql
from pipeline.report.state import report_problem
from pipeline.store import WarehouseLockTimeout

TAG_BUNDLE = "proftriage/bundle"
TAG_FRAMEWORK = "proftriage/framework"
TAG_MODEL = "proftriage/model"
SENSOR_LOCK_TIMEOUT_S = 20.0  # a tick does not wait longer for a run holding the warehouse
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def root_tags(root: TraceRoot) -> dict[str, str]:
    """Run tags that say which framework, model and bundle a root belongs to."""
    return {TAG_FRAMEWORK: root.framework, TAG_MODEL: root.model or "", TAG_BUNDLE: bundle_key_of(root)}


def changed_roots(roots: list[TraceRoot], seen: dict[str, str]) -> list[TraceRoot]:
    """Roots that are new, or whose fingerprint differs from the cursor's."""
    return [r for r in roots if seen.get(r.key) != r.fingerprint]


def already_loaded(warehouse: WarehouseResource, roots: list[TraceRoot]) -> set[str]:
    """Keys of `roots` the warehouse holds with the same fingerprint and a current stored report."""
    if not roots:
        return set()
    with warehouse.warehouse(SENSOR_LOCK_TIMEOUT_S).connect() as conn:
        stored = dict(conn.execute(read_sql("meta/root_fingerprints.sql")).fetchall())
        return {r.key for r in roots if stored.get(r.key) == r.fingerprint and report_problem(conn, r.key) is None}


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def trace_root_sensor(context: dg.SensorEvaluationContext, paths: TracePaths,
                      warehouse: WarehouseResource) -> dg.SensorResult | dg.SkipReason:
    """New or re-written trace roots under the data root → partitions + one ingest run each."""
    data_root = paths.data_root_path()
    try:
        roots = discover(data_root)
    except DiscoveryError as exc:
        return dg.SkipReason(f"cannot scan {data_root}: {exc}")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    todo = changed_roots(roots, seen)
    try:
        loaded = already_loaded(warehouse, [r for r in todo if r.key not in seen])
    except WarehouseLockTimeout:
        return dg.SkipReason(f"the warehouse stayed busy for {SENSOR_LOCK_TIMEOUT_S:.0f} s; looking again next tick")
    todo = [r for r in todo if r.key not in loaded]
    reg = new_partitions(roots, context.instance.get_dynamic_partitions(trace_roots.name),
                         context.instance.get_dynamic_partitions(bundles.name))
    cursor = json.dumps({r.key: r.fingerprint for r in roots}, sort_keys=True)
    if not todo and not reg.roots and not reg.bundles:
        if loaded:
            return dg.SensorResult(skip_reason=f"{len(loaded)} trace roots already in the warehouse", cursor=cursor)
        return dg.SkipReason(f"{len(roots)} trace roots under {data_root}, none new or changed")
    runs = [dg.RunRequest(partition_key=r.key, run_key=f"{r.key}@{r.fingerprint}", tags=root_tags(r)) for r in todo]
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


def in_flight_models(instance: dg.DagsterInstance, exclude: str) -> set[str | None]:
    """Models (bundle model slugs) of the per-root runs still queued or running, other than run
    `exclude`; None for a run whose root's model is not known yet (it holds back every model)."""
    roots = set(instance.get_dynamic_partitions(trace_roots.name))
    out: set[str | None] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT)):
        root = run.tags.get("dagster/partition")
        if run.run_id == exclude or root not in roots:
            continue
        key = run.tags.get(TAG_BUNDLE) or _bundle_of_root(instance, root)
        out.add(model_of_bundle(key) if key else None)
    return out


def report_generation(instance: dg.DagsterInstance) -> int:
    """Storage id of the newest `triage_report` materialisation (0 when none): a run key made with
    it names the reports a bundle or index run will read."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=triage_report.key), limit=1).records
    return records[0].storage_id if records else 0


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, request_jobs=[bundle_job, index_job],
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
)
def bundles_after_ingest(context: dg.RunStatusSensorContext) -> dg.SensorResult | dg.SkipReason:
    """A per-root run succeeded → re-render the bundles of that root's model, then the index, once
    the model's (the index: every model's) other per-root runs have finished."""
    run = context.dagster_run
    root = run.tags.get("dagster/partition")
    done = _materialized(context.instance, run.run_id)
    if not root or not done.keys() & {a.key for a in PER_ROOT_ASSETS}:
        return dg.SkipReason(f"run {run.run_id} did not materialise a trace root")
    key = run.tags.get(TAG_BUNDLE) or done.get(raw_trace_files.key, {}).get("bundle_key") \
        or _bundle_of_root(context.instance, root)
    if key is None:
        return dg.SkipReason(f"root {root}: no bundle key (raw_trace_files never materialised?)")
    busy = in_flight_models(context.instance, exclude=run.run_id)
    model = model_of_bundle(key)
    if model in busy or None in busy:
        return dg.SkipReason(f"other runs of model {model} are still in flight; the last one renders its bundles")
    generation = report_generation(context.instance)
    known = set(context.instance.get_dynamic_partitions(bundles.name))
    requests = [dg.RunRequest(job_name=bundle_job.name, partition_key=k, run_key=f"bundle:{k}@{generation}",
                              tags={TAG_BUNDLE: k}) for k in bundles_of_model(context.instance, key) if k in known]
    if not busy:
        requests.append(dg.RunRequest(job_name=index_job.name, run_key=f"index@{generation}"))
    return dg.SensorResult(run_requests=requests)


SENSORS = [trace_root_sensor, bundles_after_ingest]
