"""Collectives across ranks on generated runs (issue 19): transfer, wait and late rank exact against
the generator's ground truth, in SGLang and vLLM naming, from per-rank files and from SGLang's
merged trace, in the default per-rank view and with `--all-ranks`; clocks that do not line up;
the `rank_skew` verdict; the straggler by wait; the markdown table.

Runs: `tracegen.make_collective_run` (one rank's CPU held up before each collective, every rank's
kernel ending at latest start + transfer); every expected figure comes from its `InstanceTruth`
records or from the raw per-rank JSON files.
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pipeline.classify import display_name
from pipeline.cli import main
from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import TRACES, load_json_exact, us_to_ns
from tracegen import CollectiveRun, make_collective_run, merge_sglang_traces, write_trace

B200 = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz"
BUSBW = {"allreduce": lambda n: 2 * (n - 1) / n, "_allgather_base": lambda n: (n - 1) / n}  # nccl-tests PERFORMANCE.md


@dataclass
class Case:
    run: CollectiveRun
    roots: dict[str, Path]  # layout → root directory


def _case(base: Path, run: CollectiveRun) -> Case:
    roots = {"per_rank": base / "per-rank"}
    for name, obj in run.files.items():
        write_trace(obj, roots["per_rank"] / name)
    if run.framework == "sglang":
        name, merged = merge_sglang_traces(run.files)
        roots["merged"] = base / "merged"
        write_trace(merged, roots["merged"] / name)
    return Case(run, roots)


CASES = {
    "sglang_nccl": dict(framework="sglang", tp=4, late_ranks=(1,)),
    "vllm_custom": dict(framework="vllm", tp=2, kind="custom", late_ranks=(1, 0, 1), seed=4),
    "sglang_bases": dict(framework="sglang", tp=2, late_ranks=(0,), base_step_ns=1_000_000, seed=7),
    "vllm_offset": dict(framework="vllm", tp=4, late_ranks=(3,), clock_offset_ns={2: 5_000_000}, seed=2),
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    return {k: _case(tmp_path_factory.mktemp(k), make_collective_run(**kw)) for k, kw in CASES.items()}


@pytest.fixture(scope="module")
def reports(cases):
    """(case, layout, view) → report; view is a rank or "all"."""
    cache: dict = {}

    def get(case: str, layout: str, view) -> dict:
        key = (case, layout, view)
        if key not in cache:
            wh = Warehouse(None)
            root = cases[case].roots[layout]
            [summary] = ingest_inputs([root], wh, root.parent / f"spool-{layout}")
            assert summary.errors == []
            opts = TriageOptions(cutoff_pct=0, overlap_limit=None, all_ranks=view == "all",
                                 rank=None if view == "all" else view)
            with wh.connect() as conn:
                cache[key] = triage_root(conn, summary.root, opts)
        return cache[key]

    return get


def _stage(report: dict, stage: str) -> dict:
    return next(s for s in report["stages"] if s["stage"] == stage)


def _truth(run: CollectiveRun, stage: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in run.instances:
        if t.stage == stage:
            out.setdefault(display_name(t.kernel), []).append(t)
    return out


def _comparable(case: str, layout: str) -> bool:
    """Per-rank files read each rank against its own base (true time); the merged file reads every rank
    against rank 0's base; an offset clock is off in every file."""
    return not (case == "sglang_bases" and layout == "merged") and case != "vllm_offset"


VIEWS = [(c, lay, v) for c in CASES for lay in (["per_rank", "merged"] if CASES[c]["framework"] == "sglang"
                                                 else ["per_rank"]) for v in (0, "all")]


@pytest.mark.parametrize("case,layout,view", VIEWS)
def test_transfer_wait_and_late_rank_are_exact(cases, reports, case: str, layout: str, view) -> None:
    run = cases[case].run
    report = reports(case, layout, view)
    for stage in ("prefill", "decode"):
        st = _stage(report, stage)
        truth = _truth(run, stage)
        rows = {r["name"]: r for r in st["collectives"]}
        assert set(rows) == set(truth)
        for name, ts in truth.items():
            row = rows[name]
            ranks = sorted(ts[0].durs)
            assert row["ranks"] == ranks and row["instances"] == len(ts)
            assert row["unmatched"] == 0 and row["mismatched"] == 0
            assert row["transfer_ns"] == sum(t.transfer_ns for t in ts)
            for p in row["per_rank"]:
                r = p["rank"]
                assert p["time_ns"] == sum(t.durs[r] for t in ts)
                assert p["wait_ns"] == sum(t.wait(r) for t in ts)
                assert p["time_ns"] == row["transfer_ns"] + p["wait_ns"]
            late = Counter(t.late_rank for t in ts)
            if _comparable(case, layout):
                assert row["ends_aligned"] is True
                assert {p["rank"]: p["late_count"] for p in row["per_rank"]} == {r: late.get(r, 0) for r in ranks}
                top = max(late.values())
                assert row["late_rank"] == min(r for r, c in late.items() if c == top)
                assert row["late_share"] == top / len(ts)
            else:
                assert row["ends_aligned"] is False
                assert row["late_rank"] is None and row["late_share"] is None and row["late_rank_before"] is None
                assert all(p["late_count"] is None for p in row["per_rank"])


@pytest.mark.parametrize("case,layout", [("sglang_nccl", "per_rank"), ("sglang_nccl", "merged"),
                                         ("vllm_custom", "per_rank")])
def test_bytes_and_bandwidths_follow_nccl_tests(cases, reports, case: str, layout: str) -> None:
    run = cases[case].run
    for stage in ("prefill", "decode"):
        rows = {r["name"]: r for r in _stage(reports(case, layout, 0), stage)["collectives"]}
        for name, ts in _truth(run, stage).items():
            row = rows[name]
            if ts[0].collective is None:  # the custom all-reduce carries no metadata
                assert row["bytes"] is None and row["algbw_gbps"] is None and row["busbw_gbps"] is None
                assert row["collective"] is None and row["group"] == "stream 7"  # no process group: the shared stream
                assert row["group_size"] == len(ts[0].durs)  # distributedInfo.world_size
                continue
            n = len(ts[0].durs)
            total = sum(t.bytes for t in ts)
            assert row["collective"] == ts[0].collective and row["group_size"] == n and not row["partial_group"]
            assert row["bytes"] == total
            assert row["algbw_gbps"] == pytest.approx(total / sum(t.transfer_ns for t in ts), rel=1e-12)
            assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * BUSBW[ts[0].collective](n), rel=1e-12)


def test_late_rank_context_names_the_delay(cases, reports) -> None:
    """sglang_nccl: rank 1 is held up (aten::item) before every collective; its context counts exactly
    those ops, recounted from its file, and the site of the delay."""
    run = cases["sglang_nccl"].run
    doc = load_json_exact(cases["sglang_nccl"].roots["per_rank"] / run.rank_files[1])
    items = sorted((us_to_ns(e["ts"]), us_to_ns(e["dur"])) for e in doc["traceEvents"]
                   if e.get("cat") == "cpu_op" and e["name"] == "aten::item")
    assert len(items) == len(run.instances)  # one hold-up per instance, all on rank 1
    item_ns = {id(t): items[i][1] for i, t in enumerate(run.instances)}  # both in time order
    report = reports("sglang_nccl", "per_rank", 0)
    for stage in ("prefill", "decode"):
        st = _stage(report, stage)
        for name, ts in _truth(run, stage).items():
            row = next(r for r in st["collectives"] if r["name"] == name)
            before = row["late_rank_before"]
            assert before["rank"] == 1 and before["instances"] == len(ts)
            top = before["cpu_ops"][0]
            assert top == {"name": "aten::item", "count": len(ts), "time_ns": sum(item_ns[id(t)] for t in ts)}
            assert before["site"] == ts[0].delay_site
            assert 0 < before["launch_bound_ns"] <= before["gpu_idle_ns"] < before["cpu_gap_ns"]


@pytest.mark.parametrize("case,layout,view", VIEWS)
def test_mostly_wait_is_rank_skew_never_headroom(cases, reports, case: str, layout: str, view) -> None:
    run = cases[case].run
    report = reports(case, layout, view)
    for stage in ("prefill", "decode"):
        st = _stage(report, stage)
        verdicts = {r["name"]: r for r in st["overlap"]}
        for name, ts in _truth(run, stage).items():
            ranks = sorted(ts[0].durs) if view == "all" else [view]
            time = sum(t.durs[r] for t in ts for r in ranks)
            wait = sum(t.wait(r) for t in ts for r in ranks)
            row = verdicts[name]
            if wait >= 0.5 * time:
                assert row["verdict"] == "rank_skew" and row["verdict"] != "headroom"
                assert row["rank_skew"]["wait_ns"] == wait and row["rank_skew"]["time_ns"] == time
                assert row["gain_ns"] == min(wait, row["exposed_ns"])
                assert row["rank_skew"]["late_rank"] == (
                    next(r["late_rank"] for r in st["collectives"] if r["name"] == name))
            else:
                assert row["verdict"] != "rank_skew"


def test_the_late_rank_itself_is_not_rank_skew(reports, cases) -> None:
    """Rank 1 is the late rank of sglang_nccl: its own collectives barely wait."""
    st = _stage(reports("sglang_nccl", "per_rank", 1), "decode")
    for row in st["overlap"]:
        if row["family"] == "communication":
            assert row["verdict"] != "rank_skew"
    assert all(p["wait_ns"] == 0 for r in st["collectives"] for p in r["per_rank"] if p["rank"] == 1)


def test_offset_clock_is_pinned_on_its_rank(reports) -> None:
    """vllm_offset: rank 2's clock is 5 ms off; with four ranks the median end exposes that rank only."""
    for row in _stage(reports("vllm_offset", "per_rank", 0), "decode")["collectives"]:
        share = {p["rank"]: p["aligned_share"] for p in row["per_rank"]}
        offset = {p["rank"]: p["median_end_offset_ns"] for p in row["per_rank"]}
        assert share == {0: 1.0, 1: 1.0, 2: 0.0, 3: 1.0}
        assert abs(offset[2] - 5_000_000) <= 10_000 and all(abs(offset[r]) <= 10_000 for r in (0, 1, 3))
    note = _stage(reports("vllm_offset", "per_rank", 0), "decode")["collective_matching"]["note"]
    assert "do not line up" in note and "durations only" in note


@pytest.mark.parametrize("case,layout", [("sglang_nccl", "per_rank"), ("sglang_nccl", "merged"),
                                         ("vllm_custom", "per_rank")])
def test_straggler_by_wait(cases, reports, case: str, layout: str) -> None:
    run = cases[case].run
    for stage in ("prefill", "decode"):
        ts = [t for t in run.instances if t.stage == stage]
        ranks = sorted(ts[0].durs)
        wait = {r: sum(t.wait(r) for t in ts) for r in ranks}
        late = Counter(t.late_rank for t in ts)
        expect = min(ranks, key=lambda r: (wait[r], -late.get(r, 0), r))
        sg = _stage(reports(case, layout, "all"), stage)["ranks"]["straggler"]
        assert sg["basis"] == "collective wait"
        assert sg["wait"]["rank"] == expect and sg["wait"]["wait_ns"] == wait[expect]
        assert sg["wait"]["per_rank"] == [{"rank": r, "wait_ns": wait[r], "instances": len(ts),
                                           "late_count": late.get(r, 0)} for r in ranks]
        assert {"rank", "time_ns", "deviation_ns", "deviation_share", "rule"} <= set(sg)  # the old fields stay


def test_per_rank_view_reads_the_sibling_ranks(reports) -> None:
    report = reports("sglang_nccl", "per_rank", 2)
    assert report["rank"]["rank"] == 2
    assert all(s["kernel_count"] == _stage(reports("sglang_nccl", "per_rank", 0), s["stage"])["kernel_count"]
               for s in report["stages"])  # the tables are still rank 2's alone
    for st in report["stages"]:
        assert st["collective_matching"]["ranks"] == [0, 1, 2, 3] and st["collective_matching"]["reported_rank"] == 2
        assert st["collectives"] and st["ranks"] is None


def test_markdown_collectives_table(cases, capsys) -> None:
    root = cases["sglang_nccl"].roots["merged"]
    assert main(["triage", "--input", str(root), "-q"]) == 0
    text = capsys.readouterr().out
    assert text.count("## Collectives across ranks") == 2
    assert "| `ncclDevKernel_AllReduce_Sum_bf16_RING_LL` (`allreduce`) | process group 3 \\[0, 1, 2, 3\\] |" in text
    assert "| r1 (100.0 %) |" in text and "rank 1's GPU sat idle" in text and "`aten::item` ×" in text
    assert "| rank_skew |" in text and "`rank_skew` — a collective whose time" in text and "Host-bound ceiling: GPU-side kernel savings can recover at most" in text
    assert main(["triage", "--input", str(root), "--all-ranks", "-q"]) == 0
    text = capsys.readouterr().out
    assert text.count("**Straggler:** rank 1 — the others wait for it at collectives") == 2


def test_generated_nccl_args_have_the_real_keys(cases) -> None:
    """The generator's NCCL kernels and record_param_comms ops carry the collective keys of the real B200 file."""
    real = orjson.loads(gzip.open(B200).read())["traceEvents"]
    [kernel] = [e for e in real if e.get("cat") == "kernel" and "Collective name" in e["args"]]
    [op] = [e for e in real if e.get("name") == "record_param_comms"]
    coll_keys = {k for k in kernel["args"] if k[0].isupper() or k == "dtype"} - {"External id"}
    run = cases["sglang_nccl"].run
    ev = run.files[run.rank_files[0]]["traceEvents"]
    gen_kernels = [e for e in ev if e.get("cat") == "kernel" and "Collective name" in e.get("args", {})]
    gen_ops = [e for e in ev if e.get("name") == "record_param_comms"]
    assert gen_kernels and len(gen_kernels) == len(gen_ops)
    assert all(coll_keys <= set(e["args"]) for e in gen_kernels)
    assert all(type(e["args"][k]) is type(kernel["args"][k]) for e in gen_kernels for k in coll_keys)
    assert all((coll_keys | {"Rank"}) & set(op["args"]) <= set(e["args"]) for e in gen_ops)
