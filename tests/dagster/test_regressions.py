"""The nightly `regressions` asset, its check and the bundle's "Since the previous run" section, in-process,
on generated nights (tracegen.nights): night 1 carries a 3× slower SiLU-and-mul, night 2 is back to normal."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.bundles import bundle
from assets.partitions import register_roots
from assets.regressions import RegressionPolicy, no_significant_regression, regressions
from assets.reports import triage_report
from assets.resources import QualityFloors, TracePaths, WarehouseResource
from assets.roots import kernel_facts, raw_trace_files
from pipeline.discover import discover
from tests.conftest import load_json_exact, us_to_ns
from tracegen.nights import DEMO_REGRESSION, MODEL, write_night

BUNDLE = f"sglang/{MODEL}"
ACT = "act_and_mul_kernel"


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    data = tmp_path / "nights"
    write_night(data, 0)
    write_night(data, 1, op_scale=DEMO_REGRESSION)
    return data


def _resources(data: Path, threshold: float = -1.0) -> dict:
    return {"warehouse": WarehouseResource(), "paths": TracePaths(data_root=str(data)), "floors": QualityFloors(),
            "policy": RegressionPolicy(threshold_pct=threshold)}


def _run_nights(instance: dg.DagsterInstance, data: Path) -> list[str]:
    register_roots(instance, discover(data))
    keys = sorted(instance.get_dynamic_partitions("trace_roots"))
    for key in keys:
        assert dg.materialize([raw_trace_files, kernel_facts, triage_report], partition_key=key, instance=instance,
                              resources=_resources(data)).success, key
    return keys


def _bundle_run(instance: dg.DagsterInstance, data: Path, threshold: float = -1.0) -> dg.ExecuteInJobResult:
    return dg.materialize([regressions, no_significant_regression, bundle], partition_key=BUNDLE, instance=instance,
                          resources=_resources(data, threshold))


def _check(result: dg.ExecuteInJobResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def _act_per_step(root: Path) -> float:
    doc = load_json_exact(next(root.glob("*.trace.json.gz")))
    steps = sum(1 for e in doc["traceEvents"] if e.get("cat") == "gpu_user_annotation")
    return sum(us_to_ns(e["dur"]) for e in doc["traceEvents"] if e.get("cat") == "kernel" and ACT in e["name"]) / steps


def test_regressions_store_the_diff_the_check_fails_and_the_bundle_shows_it(nights: Path, dagster_env) -> None:
    with dg.instance_for_test() as instance:
        n0, n1 = _run_nights(instance, nights)
        result = _bundle_run(instance, nights)
        assert result.success  # the check does not block the bundle: the bundle is where the change is shown
        meta = {k: v.value for k, v in result.asset_materializations_for_node("regressions")[0].metadata.items()}
        check = _check(result)
    assert meta["dagster/row_count"] == 1 and meta["significant_changes"] == 1 and n0 in meta["diffs"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert ACT in check.metadata["rows"].value and check.metadata["threshold_pct"].value == 2.0
    with duckdb.connect(str(dagster_env["warehouse"]), read_only=True) as conn:
        [(base, variant)] = conn.execute("SELECT base, variant FROM diff_runs").fetchall()
        [(delta,)] = conn.execute("SELECT delta_ns FROM diff_kernels WHERE significant").fetchall()
    assert (base, variant) == (n0, n1)
    assert delta == pytest.approx(_act_per_step(nights / n1) - _act_per_step(nights / n0), rel=0.01)
    text = (dagster_env["bundles"] / MODEL / "sglang.md").read_text()
    section = text.split("## Since the previous run", 1)[1].split("## Trace root:", 1)[0]
    assert f"Compared with `{n0}`" in section
    assert "1 significant change" in section and "act_and_mul_kernel" in section
    assert "First capture of its configuration" in section


def test_the_threshold_comes_from_the_resource_else_the_environment(nights: Path, dagster_env,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with dg.instance_for_test() as instance:
        _run_nights(instance, nights)
        assert _check(_bundle_run(instance, nights, threshold=50.0)).passed  # the slowdown is ~8 % of the step
        monkeypatch.setenv("PROFTRIAGE_REGRESSION_THRESHOLD", "50")
        env = _check(_bundle_run(instance, nights))
        assert env.passed and env.metadata["threshold_pct"].value == 50.0
        monkeypatch.setenv("PROFTRIAGE_REGRESSION_THRESHOLD", "1")
        assert not _check(_bundle_run(instance, nights)).passed


def test_a_normal_night_after_the_regression_passes(nights: Path, dagster_env) -> None:
    write_night(nights, 2)  # back to normal: the latest diff shows SiLU-and-mul faster, nothing slower
    with dg.instance_for_test() as instance:
        n0, n1, n2 = _run_nights(instance, nights)
        result = _bundle_run(instance, nights)
        check = _check(result)
    assert check.passed
    with duckdb.connect(str(dagster_env["warehouse"]), read_only=True) as conn:
        rows = conn.execute("SELECT variant, change FROM diff_kernels WHERE significant ORDER BY variant").fetchall()
        history = conn.execute("SELECT count(DISTINCT night) FROM kernel_history WHERE name LIKE ?",
                               [f"%{ACT}%"]).fetchall()
    assert rows == [(n1, "slower"), (n2, "faster")]
    assert history == [(3,)]


@pytest.mark.slow
def test_the_demo_adds_nights_with_the_dagster_cli(dagster_env) -> None:
    """`python -m assets.demo --next-night`, twice: the real `dagster asset materialize` commands the demo
    runs (register, per-root assets, regressions + check + bundle, index) on generated nights."""
    import sys

    from tests.dagster.conftest import run_cli

    for _ in range(2):
        proc = run_cli([sys.executable, "-m", "assets.demo", "--next-night"], timeout=300)
        assert proc.returncode == 0, proc.stdout[-4000:]
    nights = dagster_env["state"] / "demo-nights"
    assert len(list(nights.glob("*/sglang/*/capture.json"))) == 2
    instance = dg.DagsterInstance.from_config(str(dagster_env["home"]))
    key = dg.AssetCheckKey(dg.AssetKey("regressions"), "no_significant_regression")
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    assert records and records[0].evaluation is not None and not records[0].evaluation.passed
    text = (dagster_env["bundles"] / MODEL / "sglang.md").read_text()
    assert "1 significant change" in text.split("## Since the previous run", 1)[1]
    assert MODEL in (dagster_env["bundles"] / "index.md").read_text()
