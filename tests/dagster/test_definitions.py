"""The code location loads, and its shape is what docs/dagster.md says."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.definitions import defs
from assets.partitions import InvalidPartitionKey, bundle_parts, validate_key

ASSETS = ["bundle", "bundle_index", "kernel_facts", "raw_trace_files", "regressions", "triage_report"]
CHECKS = [
    "kernel_facts:kernel_facts_match_kernels",
    "raw_trace_files:kernels_match_trace_files",
    "raw_trace_files:no_negative_durations",
    "raw_trace_files:no_overlapping_kernels",
    "regressions:no_significant_regression",
    "triage_report:alignment_match_rate",
    "triage_report:attribution_coverage",
]
JOBS = ["__ASSET_JOB", "bundle_job", "capture_job", "index_job", "ingest_job"]
SENSORS = ["bundles_after_ingest", "trace_root_sensor"]
SCHEDULES = ["nightly_capture", "nightly_matrix"]


@pytest.fixture(scope="module")
def repo() -> dg.RepositoryDefinition:
    dg.Definitions.validate_loadable(defs)
    return defs.get_repository_def()


def test_snapshot_of_names(repo: dg.RepositoryDefinition) -> None:
    graph = repo.asset_graph
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == ASSETS
    assert sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys) == CHECKS
    assert sorted(j.name for j in repo.get_all_jobs()) == JOBS
    assert sorted(s.name for s in repo.sensor_defs) == SENSORS
    assert sorted(s.name for s in repo.schedule_defs) == SCHEDULES


def test_duckdb_steps_share_the_tracedb_pool(repo: dg.RepositoryDefinition) -> None:
    for key in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(key)
        assert node.pools == {"tracedb"}, key
        assert node.code_version and node.kinds and node.group_name != "default", key


def test_bundle_depends_on_every_root_through_an_explicit_mapping(repo: dg.RepositoryDefinition) -> None:
    graph = repo.asset_graph
    bundle = graph.get(dg.AssetKey("bundle"))
    mapping = bundle.partition_mappings[dg.AssetKey("triage_report")]
    assert isinstance(mapping, dg.AllPartitionMapping)
    assert bundle.partitions_def.name == "bundles"
    assert graph.get(dg.AssetKey("triage_report")).partitions_def.name == "trace_roots"


def test_schedules_and_sensors_run_by_default(repo: dg.RepositoryDefinition) -> None:
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.cron_schedule == "0 3 * * *" and schedule.execution_timezone == "UTC"
    for sensor in repo.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize("key", ["a|b", "a,b", "a[0]", "a...b", "a b", "", "x\tb"])
def test_bad_partition_keys_are_rejected(key: str) -> None:
    with pytest.raises(InvalidPartitionKey):
        validate_key(key)


def test_bundle_keys_split() -> None:
    assert validate_key("sglang/qwen3-8b-mi300x-decode-graph-bs32")
    assert bundle_parts("vllm/gpt-oss-20b") == ("vllm", "gpt-oss-20b")
    with pytest.raises(InvalidPartitionKey):
        bundle_parts("no-slash")


def test_no_instance_file_where_dagster_dev_would_warn_about_it(tmp_path) -> None:
    """`dagster dev` warns when the folder it starts in has a dagster.yaml / dagster.yml and
    DAGSTER_HOME is elsewhere (dagster/_cli/dev.py); `make ui` starts it in the repository root.
    The template lives under another name and becomes $DAGSTER_HOME/dagster.yaml."""
    from assets.cli import TEMPLATE, ensure_dagster_home
    from pipeline.paths import REPO_ROOT

    assert not (REPO_ROOT / "dagster.yaml").exists() and not (REPO_ROOT / "dagster.yml").exists()
    home = ensure_dagster_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == TEMPLATE.read_text()
    assert "telemetry" in TEMPLATE.read_text() and TEMPLATE.parent == REPO_ROOT
