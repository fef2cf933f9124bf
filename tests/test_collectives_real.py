"""Collectives on the real traces.

- HTA's two-rank NCCL pair (`tests/data/traces/other/hta-2rank-sendrecv`, SOURCE.md): ten
  `ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t` per rank on streams 84 and 203, no collective
  metadata, world size 128. Every figure is recounted from the raw JSON: the k-th SendRecv of a
  stream on rank 0 against the k-th on rank 1 (the step windows hold the same counts on both ranks),
  transfer = the shorter duration, wait = the rest; `transfer_ns + wait_ns = time_ns` to the ns.
  What the pair cannot tell: whether each SendRecv pairs ranks 0 and 1 (128 ranks; a sampled trace),
  so the stream-84 ends that do not line up are reported as durations only.
- vLLM B200 TP8 rank 0 (one rank): the collective metadata on its NCCL kernel reaches
  `kernel_facts`, and the CPU gap before it is recounted from the raw events.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.frames import choose_site
from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import TRACES, load_json_exact, us_to_ns

HTA = TRACES / "other/hta-2rank-sendrecv"
B200 = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"
SENDRECV = "ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t"
TOL_NS, TOL_FRAC = 10_000, 0.25  # pipeline/catalog/collectives.toml [clock], documented in docs/collectives.md


def _triage(root: Path, spool: Path, **opts) -> tuple[Warehouse, dict]:
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, spool)
    assert summary.errors == []
    with wh.connect() as conn:
        return wh, triage_root(conn, summary.root, TriageOptions(cutoff_pct=0, overlap_limit=None, **opts))


def _sendrecv(rank: int) -> dict[int, list[tuple[int, int]]]:
    """stream → [(start ns, duration ns)] of the SendRecv kernels of one rank, in time order; each step
    window (ProfilerStep) holds the same count per stream on both ranks (checked below)."""
    ev = load_json_exact(HTA / f"sampled_rank-{rank}.json.gz")["traceEvents"]
    out: dict[int, list] = defaultdict(list)
    for e in ev:
        if e.get("cat") == "kernel" and e["name"].startswith(SENDRECV):
            out[e["args"]["stream"]].append((us_to_ns(e["ts"]), us_to_ns(e["dur"])))
    return {s: sorted(v) for s, v in out.items()}


def _steps(rank: int) -> list[int]:
    ev = load_json_exact(HTA / f"sampled_rank-{rank}.json.gz")["traceEvents"]
    return sorted(us_to_ns(e["ts"]) for e in ev if e.get("name", "").startswith("ProfilerStep#"))


@pytest.fixture(scope="module")
def hta(tmp_path_factory) -> dict:
    spool = tmp_path_factory.mktemp("spool")
    return {view: _triage(HTA, spool / str(view), **({"all_ranks": True} if view == "all" else {"rank": view}))[1]
            for view in (0, 1, "all")}


def test_hta_step_windows_hold_the_same_counts() -> None:
    for stream in (84, 203):
        counts = []
        for rank in (0, 1):
            starts = _steps(rank)
            counts.append([sum(1 for ts, _ in _sendrecv(rank)[stream] if ts >= lo and (i + 1 == len(starts)
                                                                                       or ts < starts[i + 1]))
                           for i, lo in enumerate(starts)])
        assert counts[0] == counts[1] and sum(counts[0]) == {84: 8, 203: 2}[stream]


@pytest.mark.parametrize("view", [0, 1, "all"])
def test_hta_transfer_plus_wait_is_time_to_the_ns(hta, view) -> None:
    [stage] = hta[view]["stages"]
    rows = {r["stream"]: r for r in stage["collectives"]}
    assert set(rows) == {84, 203}
    k0, k1 = _sendrecv(0), _sendrecv(1)
    for stream, row in rows.items():
        pairs = list(zip(k0[stream], k1[stream]))
        assert row["name"] == SENDRECV and row["group"] == f"stream {stream}" and row["instances"] == len(pairs)
        transfer = sum(min(a[1], b[1]) for a, b in pairs)
        assert row["transfer_ns"] == transfer
        for p, mine in zip(row["per_rank"], (0, 1)):
            durs = [pair[mine][1] for pair in pairs]
            assert p["rank"] == mine and p["time_ns"] == sum(durs)
            assert p["wait_ns"] == sum(d - min(a[1], b[1]) for d, (a, b) in zip(durs, pairs))
            assert row["transfer_ns"] + p["wait_ns"] == p["time_ns"]
        assert row["collective"] is None and row["bytes"] is None and row["busbw_gbps"] is None
        assert row["group_size"] == 128 and row["partial_group"] is True  # distributedInfo.world_size


def test_hta_ends_line_up_on_stream_203_only(hta) -> None:
    [stage] = hta[0]["stages"]
    rows = {r["stream"]: r for r in stage["collectives"]}
    k0, k1 = _sendrecv(0), _sendrecv(1)
    for stream, row in rows.items():
        pairs = list(zip(k0[stream], k1[stream]))
        # two ranks: the median end is the mean, each rank is half the difference away from it
        aligned = [abs((a[0] + a[1]) - (b[0] + b[1])) / 2 <= max(TOL_NS, TOL_FRAC * min(a[1], b[1])) for a, b in pairs]
        assert [p["aligned_share"] for p in row["per_rank"]] == [sum(aligned) / len(pairs)] * 2
        if stream == 84:
            assert sum(aligned) == 2 and row["ends_aligned"] is False and row["late_rank"] is None
        else:
            assert all(aligned) and row["ends_aligned"] is True
            late = [1 if b[0] > a[0] else 0 for a, b in pairs]
            assert late == [1, 1] and row["late_rank"] == 1 and row["late_share"] == 1.0
            assert [p["late_count"] for p in row["per_rank"]] == [0, 2]
    assert "do not line up" in stage["collective_matching"]["note"]


@pytest.mark.parametrize("view", [0, 1, "all"])
def test_hta_mostly_wait_is_never_headroom(hta, view) -> None:
    [stage] = hta[view]["stages"]
    ranks = (0, 1) if view == "all" else (view,)
    k = {0: _sendrecv(0), 1: _sendrecv(1)}
    time = wait = 0
    for stream in (84, 203):
        for a, b in zip(k[0][stream], k[1][stream]):
            for r, d in ((0, a[1]), (1, b[1])):
                if r in ranks:
                    time += d
                    wait += d - min(a[1], b[1])
    [row] = [r for r in stage["overlap"] if r["name"] == SENDRECV]
    assert (row["verdict"] == "rank_skew") == (wait >= 0.5 * time)
    if wait >= 0.5 * time:
        assert row["rank_skew"]["wait_ns"] == wait


def test_b200_collective_metadata_and_cpu_gap_reach_kernel_facts(tmp_path) -> None:
    wh, report = _triage(B200, tmp_path / "spool")
    assert all(s["collectives"] == [] and s["collective_matching"] is None for s in report["stages"])
    doc = load_json_exact(next(B200.glob("*.json.gz")))
    ev, base = doc["traceEvents"], int(doc["baseTimeNanoseconds"])  # ts are relative to it
    [k] = [e for e in ev if e.get("cat") == "kernel" and "Collective name" in e["args"]]
    a = k["args"]
    with wh.connect() as conn:
        row = conn.execute(
            "SELECT coll_name, coll_in_nelems, coll_out_nelems, coll_group_size, coll_dtype, coll_pg, coll_pg_ranks, "
            "gap_prev_end_ns, gap_prev_launch_ns, gap_cpu_ops, gap_site FROM kernel_facts WHERE coll_name IS NOT NULL"
        ).fetchall()
    assert [r[:7] for r in row] == [(a["Collective name"], a["In msg nelems"], a["Out msg nelems"], a["Group size"],
                                     a["dtype"], a["Process Group Name"], a["Process Group Ranks"])]
    prev_end, prev_launch, ops, site = _gap_recount(ev, k)
    assert row[0][7:9] == (base + prev_end, base + prev_launch)
    assert ops and ops[0]["time_ns"] > 0
    assert sorted(row[0][9], key=lambda o: (-o["time_ns"], o["name"])) == ops and row[0][9] == ops
    assert row[0][10] == site


def _gap_recount(ev: list[dict], k: dict) -> tuple[int, int, list[dict], str | None]:
    """The B200 all-gather's CPU gap straight from the events: predecessor on its device, the window from
    the predecessor's launch to its own, the launching thread's outermost CPU ops overlapping the window
    (not containing all of it), and the frames covering half of it."""
    ts = us_to_ns(k["ts"])
    gpu = [e for e in ev if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and e["args"].get("device") == 0]
    earlier = [e for e in gpu if us_to_ns(e["ts"]) < ts]
    prev = max(earlier, key=lambda e: us_to_ns(e["ts"]) + us_to_ns(e["dur"]))
    runtime = {e["args"]["correlation"]: e for e in ev if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    lo_ev, hi_ev = runtime[prev["args"]["correlation"]], runtime[k["args"]["correlation"]]
    lo, hi = us_to_ns(lo_ev["ts"]), us_to_ns(hi_ev["ts"])
    span = lambda e: (us_to_ns(e["ts"]), us_to_ns(e["ts"]) + us_to_ns(e["dur"]))
    same = lambda e: e["pid"] == hi_ev["pid"] and e["tid"] == hi_ev["tid"]
    ops = [e for e in ev if e.get("cat") == "cpu_op" and same(e) and span(e)[0] < hi and span(e)[1] > lo
           and not (span(e)[0] <= lo and span(e)[1] >= hi)]
    outer = [e for e in ops if not any(o is not e and span(o)[0] <= span(e)[0] and span(o)[1] >= span(e)[1]
                                       for o in ops)]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in outer:
        totals[e["name"]][0] += 1
        totals[e["name"]][1] += min(span(e)[1], hi) - max(span(e)[0], lo)
    frames = sorted((e for e in ev if e.get("cat") == "python_function" and same(e)
                     and 2 * (min(span(e)[1], hi) - max(span(e)[0], lo)) >= hi - lo),
                    key=lambda e: (span(e)[0], -us_to_ns(e["dur"])))
    return (span(prev)[1], us_to_ns(lo_ev["ts"]),
            sorted(({"name": n, "count": c, "time_ns": t} for n, (c, t) in totals.items()),
                   key=lambda o: (-o["time_ns"], o["name"])),
            choose_site([e["name"] for e in frames]))
