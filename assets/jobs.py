"""Jobs: the per-root job (ingest → facts → report), one bundle (its regressions diff, then the bundle),
the index, and live capture."""

import dagster as dg

from assets.bundles import bundle, bundle_index
from assets.regressions import regressions
from assets.reports import triage_report
from assets.resources import TracePaths
from assets.roots import kernel_facts, raw_trace_files

PER_ROOT_ASSETS = (raw_trace_files, kernel_facts, triage_report)

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.assets(*PER_ROOT_ASSETS),
    description="Ingest, attribute and triage one trace root (with its checks).",
)
bundle_job = dg.define_asset_job(
    "bundle_job", selection=dg.AssetSelection.assets(regressions, bundle),
    description="Diff each root of one framework × model with its previous run (regressions + check), then "
                "render the bundle.",
)
index_job = dg.define_asset_job("index_job", selection=dg.AssetSelection.assets(bundle_index),
                                description="Render bundles/index.md.")


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


JOBS = [ingest_job, bundle_job, index_job, capture_job]
