"""Sensors and schedules, evaluated with Dagster's context builders."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

from assets.schedules import TAG_NIGHT, nightly_capture, nightly_matrix
from assets.sensors import TAG_BUNDLE, bundles_after_ingest, trace_root_sensor
from pipeline.matrix import load_matrix, select_roots
from assets.checks import ASSET_CHECKS
from assets.definitions import defs
from assets.partitions import register_roots
from assets.reports import triage_report
from assets.resources import QualityFloors, TracePaths, WarehouseResource
from assets.roots import kernel_facts, raw_trace_files
from pipeline.discover import discover
from pipeline.paths import EXAMPLES_DIR
from pipeline.render.bundle import bundle_key
from tests.dagster.conftest import SGLANG_BUNDLE, SMALL_ROOT
from dagster._core.utils import make_new_run_id

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # build_run_status_sensor_context(repository_def=…)

NIGHT = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.timezone.utc)


def _sensor(instance: dg.DagsterInstance, data_root: Path, cursor: str | None = None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"paths": TracePaths(data_root=str(data_root)),
                                             "warehouse": WarehouseResource()})
    return trace_root_sensor(ctx)


def _apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the daemon does with a tick's partition requests."""
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def test_sensor_registers_new_roots_and_requests_runs_once(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        first = _sensor(instance, EXAMPLES_DIR)
        assert isinstance(first, dg.SensorResult)
        names = {r.partitions_def_name: set(r.partition_keys) for r in first.dynamic_partitions_requests}
        roots = {r.key for r in discover(EXAMPLES_DIR)}
        assert names["trace_roots"] == roots
        assert {"sglang/Qwen3-8B", "vllm/gpt-oss-20b", "vllm/gpt-oss-120b"} <= names["bundles"]
        assert names["bundles"] == {bundle_key(r.framework, r.model) for r in discover(EXAMPLES_DIR)}
        assert {r.partition_key for r in first.run_requests} == roots
        assert all(r.run_key.startswith(f"{r.partition_key}@") for r in first.run_requests)
        assert all(r.tags[TAG_BUNDLE] for r in first.run_requests)
        _apply(instance, first)
        again = _sensor(instance, EXAMPLES_DIR, cursor=first.cursor)
        assert isinstance(again, dg.SkipReason)


def test_sensor_reruns_a_rewritten_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    src = EXAMPLES_DIR / SMALL_ROOT
    dst = data / SMALL_ROOT
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    with dg.instance_for_test() as instance:
        first = _sensor(instance, data)
        _apply(instance, first)
        trace = next(p for p in dst.iterdir() if p.name.endswith(".gz"))
        with open(trace, "ab") as fh:  # re-profiled in place: the size (and fingerprint) changes
            fh.write(b"\0")
        second = _sensor(instance, data, cursor=first.cursor)
        assert isinstance(second, dg.SensorResult)
        assert [r.partition_key for r in second.run_requests] == [SMALL_ROOT]
        assert second.run_requests[0].run_key != first.run_requests[0].run_key
        assert not second.dynamic_partitions_requests


def test_sensor_skips_a_missing_data_root(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        assert isinstance(_sensor(instance, tmp_path / "nope"), dg.SkipReason)


def _matrix(tmp_path: Path, text: str) -> TracePaths:
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    return path


MATRIX = """
[[entry]]
framework = "sglang"
model = "Qwen3-8B"
roots = "sglang/qwen3-8b-*"

[[entry]]
framework = "vllm"
model = "gpt-oss-120b"

[[entry]]
framework = "sglang"
model = "Qwen/Qwen3-8B"
url = "http://127.0.0.1:30000"
stages = ["prefill", "decode"]
"""


def test_matrix_selection(tmp_path: Path) -> None:
    entries = load_matrix(_matrix(tmp_path, MATRIX))
    roots = discover(EXAMPLES_DIR)
    assert {r.key for r in select_roots(entries[0], roots, EXAMPLES_DIR)} == {
        "sglang/qwen3-8b-mi300x-decode-graph-bs32", "sglang/qwen3-8b-mi300x-extend-eager-bs15"}
    assert [r.key for r in select_roots(entries[1], roots, EXAMPLES_DIR)] == ["vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"]


def test_nightly_schedule_runs_registered_roots_tagged_with_the_night(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROFTRIAGE_MATRIX", str(_matrix(tmp_path, MATRIX)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("trace_roots", ["sglang/qwen3-8b-mi300x-decode-graph-bs32",
                                                        "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"])
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=NIGHT,
                                        resources={"paths": TracePaths()})
        requests = nightly_matrix(ctx)
        assert sorted(r.run_key for r in requests) == [
            "2026-11-21:sglang/qwen3-8b-mi300x-decode-graph-bs32",
            "2026-11-21:vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"]  # the unregistered extend root waits
        assert all(r.tags[TAG_NIGHT] == "2026-11-21" for r in requests)
        capture = nightly_capture(ctx)
        assert len(capture) == 1 and capture[0].run_key == "2026-11-21:capture:sglang/Qwen-Qwen3-8B"
        cfg = capture[0].run_config["ops"]["capture_traces"]["config"]
        assert cfg["url"] == "http://127.0.0.1:30000" and cfg["stages"] == "prefill,decode"
        assert cfg["output_subdir"] == "captures/2026-11-21"
        assert defs.get_job_def("capture_job").run_config_schema.config_type  # config is valid for the job
        dg.validate_run_config(defs.get_job_def("capture_job"), capture[0].run_config)


def test_nightly_schedule_without_matrix_skips(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROFTRIAGE_MATRIX", str(tmp_path / "absent.toml"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=NIGHT,
                                        resources={"paths": TracePaths()})
        assert isinstance(nightly_matrix(ctx), dg.SkipReason)


def test_bundles_rerender_after_an_ingest_run() -> None:
    resources = {"warehouse": WarehouseResource(), "paths": TracePaths(), "floors": QualityFloors()}
    with dg.instance_for_test() as instance:
        register_roots(instance, discover(EXAMPLES_DIR))
        result = dg.materialize([raw_trace_files, kernel_facts, triage_report, *ASSET_CHECKS],
                                partition_key=SMALL_ROOT, instance=instance, resources=resources)
        ctx = dg.build_run_status_sensor_context(
            sensor_name=bundles_after_ingest.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event(), repository_def=defs.get_repository_def())
        out = bundles_after_ingest(ctx)
        assert isinstance(out, dg.SensorResult)
        bundle_runs = [r for r in out.run_requests if r.job_name == "bundle_job"]
        assert [r.partition_key for r in bundle_runs] == [SGLANG_BUNDLE]
        generation = instance.fetch_materializations(triage_report.key, limit=1).records[0].storage_id
        assert bundle_runs[0].run_key == f"bundle:{SGLANG_BUNDLE}@{generation}"
        assert [r.run_key for r in out.run_requests if r.job_name != "bundle_job"] == [f"index@{generation}"]


def _in_flight(instance: dg.DagsterInstance, root: str, bundle: str | None) -> None:
    """A running per-root run of `root` (as the discovery sensor tags it when `bundle` is given)."""
    from dagster._core.storage.dagster_run import DagsterRun

    tags = {"dagster/partition": root, **({TAG_BUNDLE: bundle} if bundle else {})}
    instance.add_run(DagsterRun(job_name="ingest_job", run_id=make_new_run_id(), tags=tags,
                                status=dg.DagsterRunStatus.STARTED))


def test_bundles_after_ingest_coalesce_a_wave_of_ingest_runs() -> None:
    """While another per-root run of the same model is in flight nothing is requested (the last run
    of the wave requests the bundles); another model's run holds back only the index; evaluations
    of the same reports give the same run keys, which Dagster runs once."""
    resources = {"warehouse": WarehouseResource(), "paths": TracePaths(), "floors": QualityFloors()}
    with dg.instance_for_test() as instance:
        register_roots(instance, discover(EXAMPLES_DIR))
        result = dg.materialize([raw_trace_files, kernel_facts, triage_report], partition_key=SMALL_ROOT,
                                instance=instance, resources=resources)

        def evaluate():
            ctx = dg.build_run_status_sensor_context(
                sensor_name=bundles_after_ingest.name, dagster_instance=instance, dagster_run=result.dagster_run,
                dagster_event=result.get_run_success_event(), repository_def=defs.get_repository_def())
            return bundles_after_ingest(ctx)

        first, again = evaluate(), evaluate()
        assert [r.run_key for r in first.run_requests] == [r.run_key for r in again.run_requests]
        _in_flight(instance, "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0", "vllm/gpt-oss-120b")
        other_model = evaluate()
        assert [r.job_name for r in other_model.run_requests] == ["bundle_job"]  # the index waits
        _in_flight(instance, "sglang/qwen3-8b-mi300x-extend-eager-bs15", SGLANG_BUNDLE)
        assert isinstance(evaluate(), dg.SkipReason)  # the extend root's run will request them


def test_first_tick_skips_roots_the_warehouse_already_holds(dagster_env) -> None:
    """`make ui` after `make demo`: the sensor has no cursor yet, but the warehouse holds the root
    with the same fingerprint and a current report, so it is not ingested again."""
    from pipeline.ingest import ingest_root
    from pipeline.report.triage import analyze
    from pipeline.store import Warehouse

    roots = discover(EXAMPLES_DIR)
    small = next(r for r in roots if r.key == SMALL_ROOT)
    wh = Warehouse(dagster_env["warehouse"])
    ingest_root(small, wh, dagster_env["state"] / "spool")
    with wh.connect() as conn:
        analyze(conn, SMALL_ROOT)
    with dg.instance_for_test() as instance:
        first = _sensor(instance, EXAMPLES_DIR)
        requested = {r.partition_key for r in first.run_requests}
        assert requested == {r.key for r in roots} - {SMALL_ROOT}
        assert json.loads(first.cursor)[SMALL_ROOT] == small.fingerprint
