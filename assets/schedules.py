"""Schedules: each night (03:00 UTC) read `matrix.toml` (`pipeline.matrix`); re-run the roots each
entry selects, and capture fresh traces from the entries that name a live server."""

import datetime as dt

import dagster as dg

from assets.jobs import CaptureEntry, capture_job, ingest_job
from assets.partitions import trace_roots
from assets.resources import TracePaths
from assets.sensors import TAG_BUNDLE, root_tags
from pipeline.discover import DiscoveryError, discover
from pipeline.matrix import bundle_key_of_entry, is_capture, load_matrix, select_roots

TAG_NIGHT = "proftriage/night"


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


SCHEDULES = [nightly_matrix, nightly_capture]
