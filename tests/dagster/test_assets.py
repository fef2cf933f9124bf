"""Materialise the per-root assets and bundles in-process (`dg.materialize` + `instance_for_test`)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.bundles import bundle, bundle_index
from assets.checks import ASSET_CHECKS
from pipeline.checks import Floors, evaluate_root
from assets.partitions import register_roots
from assets.reports import triage_report
from assets.resources import QualityFloors, TracePaths, WarehouseResource
from assets.roots import kernel_facts, raw_trace_files
from pipeline.discover import discover
from pipeline.paths import EXAMPLES_DIR
from tests.dagster.conftest import SGLANG_BUNDLE, SGLANG_ROOTS, SMALL_ROOT

PER_ROOT = [raw_trace_files, kernel_facts, triage_report]
RESOURCES = {"warehouse": WarehouseResource(), "paths": TracePaths(), "floors": QualityFloors()}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        register_roots(inst, discover(EXAMPLES_DIR))
        yield inst


def _per_root(instance: dg.DagsterInstance, key: str, **kwargs) -> dg.ExecuteInJobResult:
    return dg.materialize([*PER_ROOT, *ASSET_CHECKS], partition_key=key, instance=instance,
                          resources=RESOURCES, raise_on_error=False, **kwargs)


def _meta(result: dg.ExecuteInJobResult, asset: dg.AssetsDefinition) -> dict:
    (mat,) = result.asset_materializations_for_node(asset.op.name)
    return {k: v.value for k, v in mat.metadata.items()}


def test_root_ingest_facts_report(instance, dagster_env) -> None:
    result = _per_root(instance, SMALL_ROOT)
    assert result.success
    raw, facts, report = _meta(result, raw_trace_files), _meta(result, kernel_facts), _meta(result, triage_report)
    assert raw["dagster/row_count"] == 555 and raw["bundle_key"] == SGLANG_BUNDLE
    assert {c.name for c in raw["dagster/column_schema"].columns} >= {"file_id", "name", "ts_ns", "dur_ns"}
    assert "| file |" in raw["preview"]
    assert facts["dagster/row_count"] == 558  # 555 kernels + 3 memops
    assert "gemm" in facts["preview"]
    assert report["dagster/row_count"] >= 1 and "decode" in report["stages"]
    # shares as percentages; every column of the report's table described (COMMENT ON COLUMN)
    assert 0 <= facts["site_coverage_pct"] <= 100 and facts["site_coverage_pct"] > 1
    assert isinstance(report["min_site_coverage_pct"], float) and report["min_site_coverage_pct"] > 0.5
    assert "%" in facts["preview"] and "Triage:" in report["report"]
    columns = report["dagster/column_schema"].columns
    assert {c.name for c in columns} >= {"stage", "pdl_overlap_ns", "category_overlap"}
    assert all(c.description for c in columns)
    written = json.loads(Path(report["report_path"]).read_text())
    assert written["root"]["root"] == SMALL_ROOT and written["stages"]
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(ASSET_CHECKS) and all(e.passed for e in evaluations)
    with duckdb.connect(str(dagster_env["warehouse"]), read_only=True) as conn:
        (n,) = conn.execute("SELECT count(*) FROM kernel_facts WHERE root = ? AND kind = 'kernel'", [SMALL_ROOT]).fetchone()
    assert n == 555


def test_checks_pass_on_every_example_root(dagster_env) -> None:
    """Every check passes on the demo corpus, the overlap WARN included: the B200 trace's
    same-stream overlaps are programmatic dependent launch (docs/overlap.md)."""
    with dg.instance_for_test() as inst:
        register_roots(inst, discover(EXAMPLES_DIR))
        keys = inst.get_dynamic_partitions("trace_roots")
        for key in keys:
            assert _per_root(inst, key).success, key
    with duckdb.connect(str(dagster_env["warehouse"]), read_only=True) as conn:
        outcomes = [o for key in keys for o in evaluate_root(conn, key, Floors())]
    assert all(o.passed for o in outcomes if o.severity == "ERROR")
    assert {o.root for o in outcomes if not o.passed} == set()
    [pdl] = [o for o in outcomes if o.rule == "no_overlapping_kernels" and o.row["pdl_overlaps"]]
    assert pdl.root == "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"


def test_checks_fail_on_a_corrupted_warehouse_and_the_bundle_refuses(instance, dagster_env) -> None:
    for key in SGLANG_ROOTS:
        assert _per_root(instance, key).success
    ok = dg.materialize([bundle], partition_key=SGLANG_BUNDLE, instance=instance, resources=RESOURCES)
    path = Path(_meta(ok, bundle)["path"])
    assert _meta(ok, bundle)["preview"].startswith("# `Qwen3-8B` on SGLang")
    assert path == dagster_env["bundles"] / "Qwen3-8B" / "sglang.md" and path.stat().st_size > 0
    path.unlink()
    with duckdb.connect(str(dagster_env["warehouse"])) as conn:
        conn.execute("DELETE FROM kernels WHERE ev % 10 = 0 AND file_id IN "
                     "(SELECT file_id FROM trace_files WHERE root = ?)", [SMALL_ROOT])
    checks = dg.materialize([*PER_ROOT, *ASSET_CHECKS], instance=instance, resources=RESOURCES,
                            selection=dg.AssetSelection.checks(*ASSET_CHECKS),
                            tags={"dagster/partition": SMALL_ROOT}, raise_on_error=False)
    failed = {e.check_name for e in checks.get_asset_check_evaluations() if not e.passed}
    assert {"kernels_match_trace_files", "kernel_facts_match_kernels"} <= failed
    refused = dg.materialize([bundle], partition_key=SGLANG_BUNDLE, instance=instance, resources=RESOURCES,
                             raise_on_error=False)
    assert not refused.success and not path.exists()
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    assert "check kernels_match_trace_files failed" in str(failure.event_specific_data.error)


def test_bundle_refuses_roots_without_a_report(instance, dagster_env) -> None:
    assert dg.materialize([raw_trace_files], partition_key=SMALL_ROOT, instance=instance, resources=RESOURCES).success
    result = dg.materialize([bundle], partition_key=SGLANG_BUNDLE, instance=instance, resources=RESOURCES,
                            raise_on_error=False)
    assert not result.success
    assert not (dagster_env["bundles"] / "Qwen3-8B" / "sglang.md").exists()


def test_floors_come_from_the_environment(instance, monkeypatch) -> None:
    monkeypatch.setenv("PROFTRIAGE_ATTRIBUTION_FLOOR", "0.5")  # the graph trace has ~1 % site coverage
    result = _per_root(instance, SMALL_ROOT)
    (coverage,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "attribution_coverage"]
    assert not coverage.passed and coverage.metadata["floor"].value == 0.5


def test_bundle_index(instance, dagster_env) -> None:
    assert _per_root(instance, SMALL_ROOT).success
    result = dg.materialize([bundle_index], instance=instance, resources=RESOURCES)
    meta = _meta(result, bundle_index)
    assert Path(meta["path"]) == dagster_env["bundles"] / "index.md"
    assert "Qwen3-8B" in meta["preview"]
