"""Stored diffs, series and the history view over generated nights (tracegen.nights): the previous run by
the trace's own capture time, the stored diff read back as computed, staleness, the injected regression,
slot matching where the facts carry a slot. Expectations come from the raw generated traces."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.diff.inputs import diff_roots
from pipeline.diff.nightly import regressions, run_nightly, since_previous
from pipeline.diff.present import apply_cutoff
from pipeline.diff.store import DiffStale, read_diff, store_diff
from pipeline.diff.tables import insert_rows, specs
from pipeline.ingest import ingest_inputs
from pipeline.paths import read_sql
from pipeline.report.triage import analyze
from pipeline.store import Warehouse, query_dicts
from tests.conftest import load_json_exact, us_to_ns
from tracegen import TILES, ModelSpec, make_trace, write_trace
from tracegen.nights import DEMO_REGRESSION, RUN, write_night

ACT = "act_and_mul_kernel"


def _load(data_root: Path, spool: Path, path: Path | None = None) -> tuple[Warehouse, list[str]]:
    wh = Warehouse(path)
    summaries = ingest_inputs([data_root], wh, spool)
    with wh.connect() as conn:
        for s in summaries:
            analyze(conn, s.root)
    return wh, sorted(s.root for s in summaries)


def _raw(root_dir: Path) -> dict:
    return load_json_exact(next(root_dir.glob("*.trace.json.gz")))


def _first_gpu_ns(doc: dict) -> int:
    gpu = [e for e in doc["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    return int(doc["baseTimeNanoseconds"]) + min(us_to_ns(e["ts"]) for e in gpu)


def _act_per_step(doc: dict) -> float:
    steps = sum(1 for e in doc["traceEvents"] if e.get("cat") == "gpu_user_annotation")
    return sum(us_to_ns(e["dur"]) for e in doc["traceEvents"]
               if e.get("cat") == "kernel" and ACT in e["name"]) / steps


@pytest.fixture
def nights(tmp_path: Path, spool: Path) -> tuple[Warehouse, list[str], Path]:
    """Nights 0 (baseline) and 1 (SiLU-and-mul 3× slower), ingested and analysed."""
    data = tmp_path / "nights"
    write_night(data, 0)
    write_night(data, 1, op_scale=DEMO_REGRESSION)
    wh, roots = _load(data, spool)
    return wh, roots, data


def test_the_injected_regression_is_the_only_significant_row(nights) -> None:
    wh, (n0, n1), data = nights
    with wh.connect() as conn:
        results = run_nightly(conn, [n1, n0])
        [stage] = read_diff(conn, n0, n1, cutoff_pct=0)["stages"]
    assert [(r.root, r.status, r.previous) for r in results] == [(n0, "first", None), (n1, "diffed", n0)]
    injected = _act_per_step(_raw(data / n1)) - _act_per_step(_raw(data / n0))
    top = stage["kernels"][0]
    assert ACT in top["name"] and top["significant"] and top["change"] == "slower"
    assert top["delta_ns"] == pytest.approx(injected, rel=0.01)
    assert [k["name"] for k in stage["kernels"] if k["significant"]] == [top["name"]]
    assert [f["family"] for f in stage["families"] if f["significant"]] == ["activation"]


def test_the_stored_diff_reads_back_as_computed(nights) -> None:
    wh, (n0, n1), _ = nights
    with wh.connect() as conn:
        computed = diff_roots(conn, n0, n1, all_ranks=True)
        store_diff(conn, copy.deepcopy(computed))
        for cutoff in (0.0, 1.0):
            assert read_diff(conn, n0, n1, cutoff) == apply_cutoff(copy.deepcopy(computed), cutoff)


def test_a_rebuilt_report_makes_the_stored_diff_stale(nights) -> None:
    wh, (n0, n1), _ = nights
    with wh.connect() as conn:
        run_nightly(conn, [n0, n1])
        analyze(conn, n1)
        with pytest.raises(DiffStale, match="regressions"):
            read_diff(conn, n0, n1)
        [item] = [i for i in since_previous(conn, [n1])]
        assert item["diff"] is None and "rebuilt" in item["note"]
        assert [r.status for r in run_nightly(conn, [n0, n1])] == ["first", "diffed"]


def test_every_diff_table_is_deleted_with_its_diff_and_fields_need_columns(nights) -> None:
    listed = set(re.findall(r"DELETE FROM (diff_\w+) WHERE base = \? AND variant = \?", read_sql("diff/delete_diff.sql")))
    assert listed == set(specs()) - {"diff_series"}
    wh, _, _ = nights
    with wh.connect() as conn, pytest.raises(ValueError, match="no column for field"):
        insert_rows(conn, "diff_kernels", [{"base": "a", "variant": "b", "undeclared": 1}])


def test_previous_run_follows_the_capture_time_not_the_key_or_the_ingest_order(tmp_path: Path, spool: Path) -> None:
    data = tmp_path / "nights"
    for index, folder in ((2, "a-third"), (0, "b-first"), (1, "c-second")):  # keys sort against capture order
        written = write_night(tmp_path / "gen", index)
        shutil.copytree(written, data / folder)
    wh, roots = _load(data, spool)
    by_time = sorted(roots, key=lambda r: _first_gpu_ns(_raw(data / r)))
    assert by_time == ["b-first", "c-second", "a-third"]
    with wh.connect() as conn:
        run_nightly(conn, roots)
        rows = {r["root"]: r for r in query_dicts(conn, "SELECT * FROM diff_series")}
    assert [rows[r]["previous"] for r in by_time] == [None, "b-first", "c-second"]
    for root in roots:  # the capture time is the trace's own: baseTimeNanoseconds + first GPU activity
        expected = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=_first_gpu_ns(_raw(data / root)) // 1000)
        assert rows[root]["captured_at"] == expected and rows[root]["captured_from"] == "trace clock"


def _without_clock(root: Path, keep_capture: bool) -> None:
    """Drop baseTimeNanoseconds (a relative-timestamp slice without its base) and maybe capture.json."""
    trace = next(root.glob("*.trace.json.gz"))
    doc = json.loads(gzip.open(trace, "rt").read())
    del doc["baseTimeNanoseconds"]
    write_trace(doc, trace)
    if not keep_capture:
        (root / "capture.json").unlink()


@pytest.mark.parametrize("keep_capture", [True, False])
def test_capture_time_falls_back_to_capture_json_then_ingest_time(tmp_path: Path, spool: Path,
                                                                  keep_capture: bool) -> None:
    root = write_night(tmp_path / "nights", 3)
    _without_clock(root, keep_capture)
    wh, [key] = _load(tmp_path / "nights", spool)
    with wh.connect() as conn:
        run_nightly(conn, [key])
        [row] = query_dicts(conn, "SELECT captured_at, captured_from FROM diff_series")
        [(loaded,)] = conn.execute("SELECT loaded_at FROM trace_roots").fetchall()
    if keep_capture:
        started = json.loads((root / "capture.json").read_text())["started_at"]
        assert row == {"captured_at": dt.datetime.fromisoformat(started).replace(tzinfo=None),
                       "captured_from": "capture.json started_at"}
    else:
        assert row == {"captured_at": loaded, "captured_from": "ingest time"}


def test_a_new_port_is_the_same_configuration_a_new_setting_is_not(tmp_path: Path, spool: Path) -> None:
    data = tmp_path / "nights"
    write_night(data, 0)
    for index, change in ((1, {"port": 31999}), (2, {"cuda_graph_max_bs": 64})):
        root = write_night(data, index)
        record = json.loads((root / "capture.json").read_text())
        record["server_args"].update(change)
        (root / "capture.json").write_text(json.dumps(record))
    wh, roots = _load(data, spool)
    with wh.connect() as conn:
        run_nightly(conn, roots)
        previous = {r["root"]: r["previous"] for r in query_dicts(conn, "SELECT root, previous FROM diff_series")}
    n0, n1, n2 = roots
    assert previous == {n0: None, n1: n0, n2: None}


def test_history_view_and_trend_query(tmp_path: Path, spool: Path) -> None:
    data = tmp_path / "nights"
    for index in range(3):
        write_night(data, index, op_scale=(("act", 1.0 + index),))  # SiLU-and-mul 1×, 2×, 3×
    wh, roots = _load(data, spool)
    with wh.connect() as conn:
        run_nightly(conn, roots)
        [(series,)] = conn.execute("SELECT DISTINCT series FROM diff_series").fetchall()
        [(name,)] = conn.execute("SELECT DISTINCT name FROM kernel_history WHERE name LIKE ?", [f"%{ACT}%"]).fetchall()
        trend = query_dicts(conn, read_sql("diff/kernel_trend.sql"), [series, "decode", name])
    assert [t["night"].isoformat() for t in trend] == [r.split("/")[0] for r in roots]
    expected = [_act_per_step(_raw(data / r)) for r in roots]
    assert [t["per_step_ns"] for t in trend] == pytest.approx(expected)
    assert trend[0]["slope_ns_per_day"] is None and trend[-1]["slope_ns_per_day"] > 0
    assert RUN in roots[0]


def test_the_regression_threshold_decides_the_check(nights) -> None:
    wh, (n0, n1), _ = nights
    with wh.connect() as conn:
        run_nightly(conn, [n0, n1])
        found, notes = regressions(conn, [n0, n1], threshold=2.0)
        impact = max(r.impact for r in found)
        none, _ = regressions(conn, [n0, n1], threshold=impact * 100 + 0.1)
    assert notes == [] and {r.what for r in found} >= {"stage"} and any(ACT in r.what for r in found)
    assert none == []


def _slots(conn, present: bool) -> None:
    """Keep the slots the layer step gave (`pipeline.layers`; checked to be there), or clear them, as a
    warehouse whose facts predate the slot column holds none."""
    if present:
        assert conn.execute("SELECT count(*) FROM kernel_facts WHERE slot IS NOT NULL").fetchone()[0] > 0
    else:
        conn.execute("UPDATE kernel_facts SET slot = NULL")


@pytest.mark.parametrize("with_slots", [False, True])
def test_tile_variants_pair_by_slot_or_by_order(tmp_path: Path, spool: Path, with_slots: bool) -> None:
    spec = ModelSpec(layers=2)
    for name, tile in (("base", 0), ("variant", 1)):  # every GEMM gets another tile (another name)
        write_trace(make_trace(spec, steps=3, tile_variant=tile), tmp_path / "data" / name / "decode_trace.json.gz")
    wh, roots = _load(tmp_path / "data", spool)
    with wh.connect() as conn:
        _slots(conn, present=with_slots)
        [stage] = diff_roots(conn, *roots)["stages"]
    gemms = [k for k in stage["kernels"] if k["family"] == "gemm" and "base_name" in k]
    assert len(gemms) == 3  # qkv (linear.py:461), o + down (linear.py:1514), gate_up (linear.py:461)
    assert all(k["match"] == ("slot" if with_slots else "order") for k in gemms)
    for k in gemms:  # the same GEMM role, one tile variant for the other
        role = next(r for r in ("o", "gu") if TILES[1][r] in k["name"])
        assert TILES[0][role] in k["base_name"] and "base_site" not in k
    assert not [k for k in stage["kernels"] if k["change"] in ("new", "gone")]


def test_cli_diffs_root_keys_of_a_warehouse_and_names_missing_reports(nights, tmp_path: Path, spool: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    _, (n0, n1), data = nights
    path = tmp_path / "w.duckdb"
    _load(data, spool, path)
    assert main(["diff", n0, n1, "--warehouse", str(path), "--format", "json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["base"]["root"] == n0 and ACT in out["stages"][0]["kernels"][0]["name"]
    other = tmp_path / "bare.duckdb"
    ingest_inputs([data], Warehouse(other), spool)
    assert main(["diff", n0, n1, "--warehouse", str(other), "-q"]) == 2
    assert "proftriage analyze" in capsys.readouterr().err
    assert main(["diff", "no/such/root", n1, "--warehouse", str(path), "-q"]) == 2
    assert "not in the warehouse" in capsys.readouterr().err
