"""Jobs, sensors and schedules.

- `trace_root_sensor`: scans the data root (directory walk + 64 KiB sniffs, no parsing), adds new
  `trace_roots` / `bundles` partitions and requests ingest runs for new or changed roots, all in
  one `SensorResult`. `run_key = "<root>@<fingerprint>"`, so a re-profiled root runs again.
- `bundles_after_ingest`: when a run that materialised per-root assets succeeds, re-render the
  bundles of that root's model (every framework: each bundle has a cross-framework section) and
  the index.
- `nightly_matrix` / `nightly_capture` (03:00 UTC): read `matrix.toml`; re-run the roots each
  entry selects, and capture fresh traces from the entries that name a live server.
"""

import datetime as dt
import fnmatch
import json
import tomllib
from pathlib import Path

import dagster as dg

from assets.bundles import bundle, bundle_index
from assets.partitions import bundle_key_of, bundles, model_of_bundle, new_partitions, trace_roots
from assets.reports import triage_report
from assets.resources import TracePaths
from assets.roots import kernel_facts, raw_trace_files
from pipeline.discover import DiscoveryError, TraceRoot, discover

PER_ROOT_ASSETS = (raw_trace_files, kernel_facts, triage_report)
TAG_NIGHT = "proftriage/night"
TAG_BUNDLE = "proftriage/bundle"
TAG_FRAMEWORK = "proftriage/framework"
TAG_MODEL = "proftriage/model"

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.assets(*PER_ROOT_ASSETS),
    description="Ingest, attribute and triage one trace root (with its checks).",
)
bundle_job = dg.define_asset_job(
    "bundle_job", selection=dg.AssetSelection.assets(bundle),
    description="Render one framework × model bundle.",
)
index_job = dg.define_asset_job("index_job", selection=dg.AssetSelection.assets(bundle_index),
                                description="Render bundles/index.md.")


def root_tags(root: TraceRoot) -> dict[str, str]:
    """Run tags that say which framework, model and bundle a root belongs to."""
    return {TAG_FRAMEWORK: root.framework, TAG_MODEL: root.model or "", TAG_BUNDLE: bundle_key_of(root)}


# --- discovery sensor ---------------------------------------------------------------------------

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


# --- bundles after a successful ingest run ----------------------------------------------------

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


# --- nightly matrix ------------------------------------------------------------------------------

def load_matrix(path: Path) -> list[dict]:
    """`[[entry]]` tables of the matrix file (empty when the file does not exist)."""
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        entries = tomllib.load(fh).get("entry", [])
    for i, e in enumerate(entries):
        if not e.get("framework") or not e.get("model"):
            raise ValueError(f"{path}: entry {i} needs framework and model")
    return entries


def is_capture(entry: dict) -> bool:
    """Entries with a live server (`url`, or `mapping_url` + `formal_url`) are captured, not re-run."""
    return bool(entry.get("url") or entry.get("mapping_url") or entry.get("formal_url"))


def select_roots(entry: dict, roots: list[TraceRoot], data_root: Path) -> list[TraceRoot]:
    """Roots an entry names: its `roots` glob (relative to the data root), else its framework × model."""
    pattern = entry.get("roots")
    if pattern:
        return [r for r in roots if fnmatch.fnmatch(_rel(r, data_root), pattern) or fnmatch.fnmatch(r.key, pattern)]
    want = bundle_key_of_entry(entry)
    return [r for r in roots if bundle_key_of(r) == want]


def bundle_key_of_entry(entry: dict) -> str:
    from pipeline.render.bundle import bundle_key

    return bundle_key(entry["framework"], entry["model"])


def _rel(root: TraceRoot, data_root: Path) -> str:
    try:
        return root.path.resolve().relative_to(data_root.resolve()).as_posix()
    except ValueError:
        return root.key


def night_of(context: dg.ScheduleEvaluationContext) -> str:
    when = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).date().isoformat()


@dg.schedule(cron_schedule="0 3 * * *", execution_timezone="UTC", job=ingest_job,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_matrix(context: dg.ScheduleEvaluationContext, paths: TracePaths):
    """Each night, re-run ingest → facts → report for every registered root the matrix selects
    (schedules cannot add partitions: new roots are the sensor's job)."""
    night = night_of(context)
    entries = [e for e in load_matrix(paths.matrix_path()) if not is_capture(e)]
    if not entries:
        return dg.SkipReason(f"no root entries in {paths.matrix_path()}")
    data_root = paths.data_root_path()
    try:
        roots = discover(data_root)
    except DiscoveryError as exc:
        return dg.SkipReason(f"cannot scan {data_root}: {exc}")
    known = set(context.instance.get_dynamic_partitions(trace_roots.name))
    chosen = {r.key: r for e in entries for r in select_roots(e, roots, data_root)}
    unknown = sorted(k for k in chosen if k not in known)
    if unknown:
        context.log.warning(f"not registered yet (the sensor will add them): {', '.join(unknown)}")
    requests = [dg.RunRequest(partition_key=k, run_key=f"{night}:{k}", tags={TAG_NIGHT: night, **root_tags(r)})
                for k, r in sorted(chosen.items()) if k in known]
    return requests or dg.SkipReason(f"matrix selected no registered root ({len(unknown)} unregistered)")


# --- live capture ---------------------------------------------------------------------------------

class CaptureEntry(dg.Config):
    """One matrix entry with a live server (see docs/capture.md for the fields)."""

    framework: str
    model: str
    url: str | None = None
    mapping_url: str | None = None
    formal_url: str | None = None
    stages: str | None = None
    num_steps: int = 5
    output_subdir: str = "captures"


@dg.op(tags={"kind": "capture"})
def capture_traces(context: dg.OpExecutionContext, config: CaptureEntry, paths: TracePaths) -> None:
    """Drive the server's profiler and write trace roots under `<data_root>/<output_subdir>/`;
    the discovery sensor picks them up on its next tick."""
    from pipeline.capture.runner import capture_from_matrix_entry

    entry = {k: v for k, v in config.model_dump().items() if v is not None and k != "output_subdir"}
    out = paths.data_root_path() / config.output_subdir
    written = capture_from_matrix_entry(entry, out)
    context.log.info(f"captured {len(written)} trace roots: {', '.join(str(p) for p in written)}")


@dg.job(description="Capture traces from one live server (matrix entries with url / mapping_url + formal_url).")
def capture_job() -> None:
    capture_traces()


def capture_run_config(entry: dict, night: str) -> dict:
    """Run config of `capture_job` for one matrix entry (captures land under `captures/<night>`)."""
    fields = set(CaptureEntry.model_fields)
    cfg = {k: v for k, v in entry.items() if k in fields and k != "output_subdir"}
    if isinstance(cfg.get("stages"), list):
        cfg["stages"] = ",".join(cfg["stages"])
    cfg["output_subdir"] = f"captures/{night}"
    return {"ops": {"capture_traces": {"config": cfg}}}


@dg.schedule(cron_schedule="0 3 * * *", execution_timezone="UTC", job=capture_job,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_capture(context: dg.ScheduleEvaluationContext, paths: TracePaths):
    """Each night, capture fresh traces from every matrix entry that names a live server."""
    night = night_of(context)
    entries = [e for e in load_matrix(paths.matrix_path()) if is_capture(e)]
    if not entries:
        return dg.SkipReason(f"no capture entries in {paths.matrix_path()}")
    return [dg.RunRequest(run_key=f"{night}:capture:{bundle_key_of_entry(e)}", run_config=capture_run_config(e, night),
                          tags={TAG_NIGHT: night, TAG_BUNDLE: bundle_key_of_entry(e)}) for e in entries]


JOBS = [ingest_job, bundle_job, index_job, capture_job]
SENSORS = [trace_root_sensor, bundles_after_ingest]
SCHEDULES = [nightly_matrix, nightly_capture]
