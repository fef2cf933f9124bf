"""Same-stream overlap from programmatic dependent launch (PDL): detected, shown in the stage
measures, kept out of shares and verdicts; the no_overlapping_kernels check tells PDL from bad data.

Real trace: the B200 vLLM prefill (TRT-LLM MoE kernels launched with PDL). Generated traces
(tracegen ``pdl_ops``): a norm that starts 2 µs after the GEMM before it on the same stream and
waits beside it — the Blackwell-decode case of issue 22 — with the generator's ground truth.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.analyze.overlap import analyze_overlap
from pipeline.analyze.same_stream import same_stream_overlap, summary
from pipeline.checks import Floors, RULES, run_rule
from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import TRACES, load_json_exact, us_to_ns
from tracegen import BASE_NS, ModelSpec, file_name, make_trace_with_truth, write_trace

B200 = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"
NORM = "post_attention_layernorm"
CHECK = next(r for r in RULES if r.name == "no_overlapping_kernels")


def _triage(path: Path, spool: Path) -> tuple[dict, Warehouse, str]:
    wh = Warehouse(None)
    [s] = ingest_inputs([path], wh, spool)
    with wh.connect() as conn:
        return triage_root(conn, s.root, TriageOptions(cutoff_pct=0, overlap_limit=None)), wh, s.root


def _check(wh: Warehouse, root: str):
    with wh.connect() as conn:
        return run_rule(conn, CHECK, root, Floors())


def _generated(tmp_path: Path, **spec) -> tuple[Path, dict, object]:
    obj, truth = make_trace_with_truth(ModelSpec(layers=3, pdl_ops=(NORM,), **spec), steps=3, mode="graph")
    path = write_trace(obj, tmp_path / "gen" / file_name("sglang", stage="decode", role="single"))
    return path, obj, truth


def _raw_pdl(path: Path) -> tuple[int, int]:
    """PDL-shaped overlaps of the raw trace (exact µs): count and ns, per (pid, stream)."""
    doc = load_json_exact(path)
    gpu = sorted((e for e in doc["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")),
                 key=lambda e: e["ts"])
    last: dict = {}
    n = ns = 0
    for e in gpu:
        key, start, end = (e["pid"], e["args"].get("stream")), us_to_ns(e["ts"]), us_to_ns(e["ts"] + e["dur"])
        if key in last and start < last[key] < end:
            n, ns = n + 1, ns + last[key] - start
        last[key] = max(last.get(key, end), end)
    return n, ns


def test_generated_pdl_norm_is_measured_and_kept_out_of_shares(tmp_path: Path, spool: Path) -> None:
    path, obj, truth = _generated(tmp_path)
    report, wh, root = _triage(path.parent, spool)
    [stage] = report["stages"]
    overlap = sum(truth.pdl_overlap.values())
    assert truth.pdl_overlap and (stage["pdl_overlaps"], stage["pdl_overlap_ns"]) == (len(truth.pdl_overlap), overlap)
    # expectations from the raw trace and the generator's truth
    gpu = [e for e in obj["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy")]
    norm = [e for e in gpu if "FusedAddRMSNorm" in e["name"]]
    total = sum(round(e["dur"] * 1000) for e in gpu)
    norm_time = sum(round(e["dur"] * 1000) for e in norm)
    [row] = [r for r in stage["kernels"] if "FusedAddRMSNorm" in r["name"]]
    assert (row["time_ns"], row["same_stream_overlap_ns"]) == (norm_time, overlap)
    assert row["share"] == pytest.approx((norm_time - overlap) / (total - overlap))
    assert row["share"] < norm_time / total / 2  # the record is more than twice its own work
    assert sum(r["share"] for r in stage["kernels"]) == pytest.approx(1.0)
    [orow] = [r for r in stage["overlap"] if "FusedAddRMSNorm" in r["name"]]
    assert (orow["same_stream_overlap_ns"], orow["hidden_ns"]) == (overlap, 0)  # one stream: nothing hides it
    assert orow["verdict"] != "already_hidden" and orow["share"] == pytest.approx(
        (norm_time - overlap) / stage["busy_ns"])
    assert _check(wh, root).passed  # H100 (compute capability 9.0) can do PDL


def test_b200_pdl_overlaps_in_the_stage_measures_and_the_check_passes(spool: Path) -> None:
    report, wh, root = _triage(B200, spool)
    [stage] = report["stages"]
    n, ns = _raw_pdl(next(B200.glob("*.json.gz")))
    assert n > 0 and (stage["pdl_overlaps"], stage["pdl_overlap_ns"]) == (n, ns)
    assert stage["anomalies"] == {"same_stream_contained": 0, "same_stream_contained_ns": 0, "bad_durations": 0}
    assert sum(r["same_stream_overlap_ns"] for r in stage["kernels"]) == ns
    outcome = _check(wh, root)
    assert outcome.passed and outcome.row["unexplained"] == 0
    assert outcome.row["pdl_overlaps"] == outcome.row["overlapping"] > 0  # overlaps > 1 µs, all PDL-shaped


def test_check_fails_where_pdl_cannot_explain_the_overlap(tmp_path: Path, spool: Path) -> None:
    # an AMD device has no PDL: the same overlaps are unexplained there
    path, _, truth = _generated(tmp_path / "rocm", vendor="rocm")
    _, wh, root = _triage(path.parent, spool)
    outcome = _check(wh, root)
    assert not outcome.passed and outcome.row["no_pdl_device"] == len(truth.pdl_overlap)
    # on an H100, a kernel that ends inside what it started under is not PDL's shape
    path, obj, truth = _generated(tmp_path / "cuda")
    start = {ts - BASE_NS for _, ts in truth.pdl_overlap}
    for e in obj["traceEvents"]:
        if e.get("cat") == "kernel" and round(e["ts"] * 1000) in start:
            e["dur"] = 0.5  # 0.5 µs: ends 1.5 µs before its predecessor (which ran ≥ 2 µs past its start)
            break
    write_trace(obj, path)
    report, wh, root = _triage(path.parent, spool / "2")
    outcome = _check(wh, root)
    assert not outcome.passed and outcome.row["contained"] == 1
    assert report["stages"][0]["anomalies"]["same_stream_contained"] == 1


@pytest.mark.parametrize("seed", range(8))
def test_sql_same_stream_overlap_equals_the_sweeps_clipping(seed: int) -> None:
    rnd = random.Random(seed)
    ks = [{"name": f"k{i}", "display_name": f"k{i}", "family": "gemm", "ts_ns": rnd.randrange(0, 300),
           "dur_ns": rnd.choice([0, 3, 20, 60, 150]), "stream": rnd.randrange(1, 3), "device": 0, "site": None,
           "launch_ts_ns": None, "kind": "kernel", "file_id": 1} for i in range(rnd.randrange(1, 40))]
    overlap, contained = same_stream_overlap(ks)
    r = analyze_overlap(ks)
    rows = {row["name"]: row for row in r["rows"]}
    assert [rows[k["name"]]["same_stream_overlap_ns"] for k in ks] == overlap.to_pylist()
    s = summary(overlap, contained)
    assert (s["pdl_overlaps"], s["pdl_overlap_ns"]) == (r["pdl_overlaps"], r["pdl_overlap_ns"])
    assert (s["contained"], s["contained_ns"]) == (r["anomalies"]["same_stream_contained"],
                                                   r["anomalies"]["same_stream_contained_ns"])
