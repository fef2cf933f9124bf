"""The host-bound ceiling (`pipeline/collectives/hostbound.py`, docs/collectives.md): hand-built
timelines whose critical path is worked out by hand, and generated skewed runs where every step ends
in an all-gather that the late rank's CPU launched late."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.collectives import load_config
from pipeline.collectives.hostbound import combine_host_bound, host_bound
from pipeline.collectives.match import clock_check, match_collectives
from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import load_json_exact, us_to_ns
from tracegen import make_collective_run, write_trace


def k(ev: int, ts: int, dur: int, launch: int | None, *, file_id: int = 10, step: int | None = 0,
      family: str = "gemm") -> dict:
    return {"file_id": file_id, "ev": ev, "kind": "kernel", "name": f"k{ev}", "display_name": f"k{ev}",
            "family": family, "ts_ns": ts, "dur_ns": dur, "launch_ts_ns": launch, "step": step, "stream": 7}


def _hb(by_rank: dict, rank, matched=(), window: int = 0) -> dict:
    return host_bound(by_rank, rank, list(matched), window_ns=window, idle_ns=0, launch_bound_ns=0)


def test_walk_stops_where_the_cpu_paced_the_gpu() -> None:
    """A [0, 10) launched at −5; B [12, 20) launched at 11 > 10 (A's end): CPU-paced; C [20, 30) launched
    at 15 ≤ 20. From C: C (10) + B (8), stop at B → 18 of a 30 ns window."""
    recs = [k(1, 0, 10, -5), k(2, 12, 8, 11), k(3, 20, 10, 15)]
    hb = _hb({None: recs}, None, window=30)
    assert (hb["ceiling_ns"], hb["ceiling_share"]) == (18, 18 / 30)
    assert hb["note"] == "no collective matched across ranks: collectives count as GPU work"


def test_without_launch_times_the_chain_is_counted_whole() -> None:
    recs = [k(1, 0, 10, None), k(2, 12, 8, None), k(3, 20, 10, None)]
    hb = _hb({None: recs}, None, window=30)
    assert hb["ceiling_ns"] == 28 and "no launch timestamps" in hb["note"]


def test_each_step_is_walked_from_its_own_end() -> None:
    """Step 0 as above (18); step 1: D [100, 105) alone (5). Overlapping E [0, 25) on a side stream is not
    on C's chain: the predecessor is the activity that ended last before C started (B at 20)."""
    recs = [k(1, 0, 10, -5), k(2, 12, 8, 11), k(3, 20, 10, 15), k(4, 100, 5, 90, step=1)]
    assert _hb({None: recs}, None, window=105)["ceiling_ns"] == 23
    side = dict(k(5, 0, 25, -5), stream=8)
    assert _hb({None: recs + [side]}, None, window=105)["ceiling_ns"] == 23


def _two_ranks(late_gpu_bound: bool) -> tuple[dict, list]:
    """Rank 0: G0 [0, 10), all-reduce [10, 60), T0 [60, 70) queued early. Rank 1: either G1 [0, 10) then a
    CPU hold-up, all-reduce [45, 60) launched at 40 (after G1 ended: CPU-paced); or G1 [0, 45) and the
    all-reduce launched at 5 (queued: GPU-paced). Both: transfer 15, rank 1 late."""
    r0 = [k(1, 0, 10, -1), k(2, 10, 50, 5, family="communication"), k(3, 60, 10, 8)]
    if late_gpu_bound:
        r1 = [k(1, 0, 45, -1, file_id=11), k(2, 45, 15, 5, file_id=11, family="communication"),
              k(3, 60, 10, 42, file_id=11)]
    else:
        r1 = [k(1, 0, 10, -1, file_id=11), k(2, 45, 15, 40, file_id=11, family="communication"),
              k(3, 60, 10, 42, file_id=11)]
    for r in r0 + r1:
        r["name"] = r["display_name"] = "ncclDevKernel_AllReduce" if r["family"] == "communication" else r["name"]
    [m] = match_collectives(r0 + r1, {10: 0, 11: 1})
    clock_check(m, load_config()["clock"])
    return {0: r0, 1: r1}, [m]


def test_a_late_rank_paced_by_its_cpu_caps_the_ceiling() -> None:
    """From T0: T0 (10) + the all-reduce's transfer (15), then on rank 1 the all-reduce was launched after
    G1 ended: stop → 25 of 70. Rank 0 waited 50 − 15 = 35."""
    by_rank, matched = _two_ranks(late_gpu_bound=False)
    assert matched[0].instances[0].late == 1
    hb = _hb(by_rank, 0, matched, window=70)
    assert (hb["ceiling_ns"], hb["collective_wait_ns"]) == (25, 35)


def test_a_late_rank_paced_by_its_gpu_passes_the_savings_on() -> None:
    """Same, but rank 1 was late because G1 ran until 45 (the all-reduce was queued at 5): the walk
    continues through G1 → 10 + 15 + 45 = 70, the whole window."""
    by_rank, matched = _two_ranks(late_gpu_bound=True)
    hb = _hb(by_rank, 0, matched, window=70)
    assert hb["ceiling_ns"] == 70 and hb["ceiling_share"] == 1.0


def test_combine_sums_the_ranks() -> None:
    parts = {0: {"ceiling_ns": 25, "window_ns": 70, "gpu_idle_ns": 0, "launch_bound_ns": 0, "collective_wait_ns": 35,
                 "note": None},
             1: {"ceiling_ns": 25, "window_ns": 70, "gpu_idle_ns": 35, "launch_bound_ns": 30, "collective_wait_ns": 0,
                 "note": None}}
    out = combine_host_bound(parts)
    assert (out["ceiling_ns"], out["window_ns"], out["ceiling_share"]) == (50, 140, 50 / 140)
    assert (out["gpu_idle_ns"], out["launch_bound_ns"], out["collective_wait_ns"]) == (35, 30, 35)


# ---------------------------------------------------------------------------- generated runs


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    run = make_collective_run("sglang", 4, late_ranks=(1,), seed=11)
    root = tmp_path_factory.mktemp("skewed") / "root"
    for name, obj in run.files.items():
        write_trace(obj, root / name)
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, root.parent / "spool")
    with wh.connect() as conn:
        reports = {v: triage_root(conn, summary.root, TriageOptions(all_ranks=v == "all", rank=None if v == "all" else v))
                   for v in (0, "all")}
    return run, root, reports


def _gpu(path: Path) -> list[tuple[int, int, str]]:
    return sorted((us_to_ns(e["ts"]), us_to_ns(e["dur"]), e["name"]) for e in load_json_exact(path)["traceEvents"]
                  if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"))


def test_generated_ceiling_is_the_last_transfer_of_each_step(skewed) -> None:
    """Every step ends with the logits all-gather; rank 1 (late) launched it after its GPU had gone idle
    (checked in its file). So each step's walk counts the all-gather's transfer and stops on rank 1:
    ceiling = Σ over the stage's steps of that transfer, on every rank."""
    run, root, reports = skewed
    gathers = [t for t in run.instances if t.collective == "_allgather_base"]
    late_file = _gpu(root / run.rank_files[1])
    for t in gathers:
        assert t.late_rank == 1
        start = t.starts[1]
        [(_, _, name)] = [x for x in late_file if x[0] == start]
        assert "AllGather" in name
        prev_end = max(ts + d for ts, d, _ in late_file if ts < start)
        assert prev_end < start  # idle before it; the launch came after: the generator's hold-up
    for stage in ("prefill", "decode"):
        expected = sum(t.transfer_ns for t in gathers if t.stage == stage)
        wait0 = sum(t.wait(0) for t in run.instances if t.stage == stage)
        st0 = next(s for s in reports[0]["stages"] if s["stage"] == stage)
        hb = st0["host_bound"]
        assert hb["ceiling_ns"] == expected and hb["collective_wait_ns"] == wait0
        assert hb["window_ns"] == st0["summary"]["window_ns"] and hb["gpu_idle_ns"] == st0["idle_ns"]
        assert hb["launch_bound_ns"] == st0["launch_bound_ns"]
        assert hb["ceiling_share"] == expected / hb["window_ns"]
        assert "Host-bound ceiling: GPU-side kernel savings can recover at most" in st0["headline"]
        hb_all = next(s for s in reports["all"]["stages"] if s["stage"] == stage)["host_bound"]
        assert hb_all["ceiling_ns"] == 4 * expected
        assert hb_all["collective_wait_ns"] == sum(t.wait(r) for t in run.instances if t.stage == stage
                                                   for r in range(4))
