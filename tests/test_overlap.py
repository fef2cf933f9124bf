"""Overlap analysis: hand-built interval sets with known answers, a brute-force
cross-check on random sets, and invariants on the real traces."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from pipeline.analyze.overlap import analyze_overlap

TRACES = Path(__file__).parent / "data" / "traces"
FAMILY = {"gemm": "gemm", "ar": "communication", "cpy": "memory", "norm": "norm", "attn": "attention"}


def k(name: str, ts: int, dur: int, stream: int = 1, *, launch: int | None = None, site: str | None = None,
      family: str | None = None, kind: str = "kernel") -> dict:
    """One GPU activity record; the family is taken from the name's prefix."""
    fam = family or FAMILY.get(name.rstrip("0123456789"), "elementwise")
    return {"name": name, "display_name": name, "family": fam, "ts_ns": ts, "dur_ns": dur, "stream": stream,
            "device": 0, "site": site, "launch_ts_ns": launch, "kind": kind}


def rows(result: dict) -> dict[str, dict]:
    return {r["name"]: r for r in result["rows"]}


# ------------------------------------------------------------------ hand-built cases


def test_two_streams_partially_overlapping():
    r = analyze_overlap([k("a", 0, 100, 1), k("b", 50, 100, 2)])
    assert (r["busy_ns"], r["idle_ns"], r["window_ns"], r["multi_stream_ns"], r["streams"]) == (150, 0, 150, 50, 2)
    assert r["category_overlap"] == {"compute": 150}
    for name in "ab":
        row = rows(r)[name]
        assert (row["exposed_ns"], row["hidden_ns"], row["hidden_by_compute_ns"], row["hidden_by_comm_ns"]) == (
            50, 50, 50, 0)
    assert r["note"] is not None and "single stream" not in r["note"]


def test_compute_hidden_by_communication():
    r = analyze_overlap([k("gemm", 0, 100, 1), k("ar", 20, 40, 2)])
    gemm, ar = rows(r)["gemm"], rows(r)["ar"]
    assert (gemm["exposed_ns"], gemm["hidden_ns"], gemm["hidden_by_comm_ns"], gemm["hidden_by_compute_ns"]) == (
        60, 40, 40, 0)
    assert (ar["exposed_ns"], ar["hidden_ns"], ar["hidden_by_compute_ns"], ar["hidden_by_comm_ns"]) == (0, 40, 40, 0)
    assert r["category_overlap"] == {"compute": 60, "communication+compute": 40}
    assert r["hta"]["comp_comm_overlap_pctg"] == 100.0
    assert r["hta"]["compute_time_ns"] == 100 and r["hta"]["non_compute_time_ns"] == 0
    assert ar["verdict"] == "already_hidden" and gemm["verdict"] == "minor"  # 100 ns < headroom_min_ns


def test_three_categories():
    r = analyze_overlap([k("gemm", 0, 100, 1), k("ar", 10, 40, 2), k("cpy", 30, 50, 3, kind="memcpy")])
    assert r["category_overlap"] == r["family_category_overlap"] == {
        "compute": 30,
        "communication+compute": 20,
        "communication+compute+memory": 20,
        "compute+memory": 30,
    }
    assert sum(r["category_overlap"].values()) == r["busy_ns"] == 100
    assert r["multi_stream_ns"] == 70
    gemm, cpy = rows(r)["gemm"], rows(r)["cpy"]
    assert (gemm["exposed_ns"], gemm["hidden_by_comm_ns"], gemm["hidden_by_memory_ns"]) == (30, 40, 50)
    assert (cpy["exposed_ns"], cpy["hidden_by_compute_ns"], cpy["hidden_by_comm_ns"]) == (0, 50, 20)


def test_copy_kernels_are_computation_by_htas_rule_and_memory_by_family():
    """HTA: only memcpy/memset activities are memory; a copy or fill *kernel* is computation."""
    ks = [k("gemm", 0, 100, 1), k("cpy", 30, 50, 3),  # a copy kernel: family memory, kind kernel
          k("Memcpy DtoD (Device -> Device)", 150, 20, 3, family="memory", kind="memcpy"),
          k("Memset (Device)", 180, 10, 3, family="memory", kind=None)]  # no kind: Kineto's name decides
    r = analyze_overlap(ks)
    assert r["category_overlap"] == {"compute": 100, "memory": 30}
    assert r["family_category_overlap"] == {"compute": 50, "compute+memory": 50, "memory": 30}
    assert r["hta"]["compute_time_ns"] == 100 and r["hta"]["non_compute_time_ns"] == 30


def test_idle_gaps_launch_bound_or_not():
    ks = [
        k("k1", 0, 100, launch=-50),
        k("k2", 150, 50, launch=120),  # launched after the gap began at 100: the GPU waited
        k("k3", 300, 50, launch=90),  # launched before the gap began at 200: not launch-bound
    ]
    r = analyze_overlap(ks)
    assert (r["busy_ns"], r["idle_ns"], r["launch_bound_ns"]) == (200, 150, 50)
    k2 = rows(r)["k2"]
    assert k2["launch_gap_ns"] == 50 and k2["verdict"] == "launch_bound" and k2["priority"] == "P0"
    assert rows(r)["k3"]["launch_gap_ns"] == 0


def test_launch_calls_classify_gaps_without_launch_timestamps():
    ks = [k("k1", 0, 100), k("k2", 150, 50), k("k3", 300, 50)]
    launches = [{"ts_ns": 120, "dur_ns": 5, "tid": 1, "name": "cudaLaunchKernel"},
                {"ts_ns": 50, "dur_ns": 5, "tid": 1, "name": "cudaLaunchKernel"}]
    r = analyze_overlap(ks, launches=launches)
    assert (r["idle_ns"], r["launch_bound_ns"]) == (150, 50)
    assert "no launch timestamps" in analyze_overlap(ks)["note"]


def test_same_stream_overlap_is_clipped_and_counted():
    # b starts under a and outlasts it (PDL's shape); c lies wholly under a (an anomaly)
    ks = [k("a", 0, 100), k("b", 50, 100), k("c", 60, 20), k("x", 120, 10, stream=2)]
    r = analyze_overlap(ks)
    assert (r["pdl_overlaps"], r["pdl_overlap_ns"]) == (1, 50)
    assert r["anomalies"] == {"same_stream_contained": 1, "same_stream_contained_ns": 20, "bad_durations": 0}
    assert (r["busy_ns"], r["multi_stream_ns"]) == (150, 10)
    b, c = rows(r)["b"], rows(r)["c"]
    # b's own time is 100 - 50: 40 alone, 10 beside x; the 50 under a is neither exposed nor hidden
    assert (b["time_ns"], b["exposed_ns"], b["hidden_ns"], b["same_stream_overlap_ns"], b["hidden_by_compute_ns"]) == (
        100, 40, 10, 50, 10)
    assert b["share"] == 50 / 150
    assert (c["time_ns"], c["exposed_ns"], c["hidden_ns"], c["same_stream_overlap_ns"], c["share"]) == (20, 0, 0, 20, 0)


def test_single_stream():
    r = analyze_overlap([k("gemm", 0, 100), k("norm", 110, 20), k("gemm", 140, 100)])
    assert r["streams"] == 1 and r["multi_stream_ns"] == 0 and "single stream" in r["note"]
    assert all(row["exposed_ns"] == row["time_ns"] for row in r["rows"])
    assert rows(r)["gemm"]["count"] == 2 and rows(r)["gemm"]["time_ns"] == 200


def test_empty_stage():
    r = analyze_overlap([])
    assert (r["busy_ns"], r["window_ns"], r["rows"], r["note"]) == (0, 0, [], "no kernels in this stage")


def test_zero_and_negative_durations_do_not_crash():
    r = analyze_overlap([k("a", 0, 0), k("b", 0, 10), k("c", 5, -3)])
    assert r["busy_ns"] == 10 and r["anomalies"]["bad_durations"] == 1 and r["pdl_overlaps"] == 0
    assert rows(r)["a"]["count"] == 1 and rows(r)["a"]["time_ns"] == 0


def test_dep_risk_from_tight_producer_consumer_neighbours():
    ks = [k("gemm1", 0, 100_000, family="gemm"), k("norm", 100_500, 10_000),
          k("gemm2", 111_000, 100_000, family="gemm"), k("e1", 300_000, 10_000, site="m/a.py:1 f"),
          k("e2", 310_100, 10_000, site="m/a.py:9 g"), k("e3", 400_000, 10_000, site="x/cuda_graph_runner.py:1 r"),
          k("e4", 410_100, 10_000, site="x/cuda_graph_runner.py:1 r")]
    risk = {n: row["dep_risk"] for n, row in rows(analyze_overlap(ks)).items()}
    assert risk == {"gemm1": "medium", "norm": "high", "gemm2": "medium", "e1": "medium", "e2": "medium",
                    "e3": "low", "e4": "low"}
    wide = analyze_overlap(ks, config={"dep": {"pairs": []}})
    assert rows(wide)["norm"]["dep_risk"] == "low"


def test_config_overrides_verdict_priority_and_text():
    ks = [k("gemm", 0, 100_000), k("ar", 100_000, 100_000, 2)]
    r = rows(analyze_overlap(ks))["ar"]
    assert (r["verdict"], r["priority"]) == ("headroom", "P0")
    assert r["recommendation"].startswith("Exposed collective")
    cfg = {"priority": {"p0_gain_share": 0.9}, "recommend": {"headroom": {"communication": "overlap it"}}}
    r = rows(analyze_overlap(ks, config=cfg))["ar"]
    assert (r["priority"], r["recommendation"]) == ("P1", "overlap it")
    r = rows(analyze_overlap(ks, config={"verdict": {"headroom_min_ns": 10**9}}))["ar"]
    assert (r["verdict"], r["priority"]) == ("minor", "P2")


def test_high_dep_risk_demotes_headroom():
    ks = [k("gemm", 0, 100_000), k("norm", 100_100, 100_000), k("gemm", 200_200, 100_000)]
    r = rows(analyze_overlap(ks))["norm"]
    assert r["dep_risk"] == "high" and r["priority"] == "P1" and "dependencies" in r["recommendation"]


def test_arrow_table_matches_dicts():
    ks = [k("gemm", 0, 100, 1, launch=-5), k("ar", 20, 40, 2, launch=1), k("cpy", 200, 5, 3, launch=150)]
    assert analyze_overlap(pa.Table.from_pylist(ks)) == analyze_overlap(ks)


# ------------------------------------------------------------------ brute force on random sets


def _reference(ks: list[dict]) -> dict:
    """O(n^2) per-segment reference with the same per-stream clipping rule."""
    cat = {"communication": "communication", "memory": "memory"}
    eff, last = {}, {}
    for i in sorted(range(len(ks)), key=lambda i: (ks[i]["ts_ns"], i)):
        x = ks[i]
        if x["dur_ns"] <= 0:
            continue
        end = x["ts_ns"] + x["dur_ns"]
        start = max(x["ts_ns"], last.get(x["stream"], x["ts_ns"]))
        eff[i] = (start, max(start, end))
        last[x["stream"]] = max(last.get(x["stream"], end), end)
    points = sorted({p for a, b in eff.values() for p in (a, b)})
    out = {"busy": 0, "multi": 0, "cats": {}, "hta": {}, "exposed": [0] * len(ks), "by": [{} for _ in ks],
           "same": [x["dur_ns"] - (b - a) if i in eff else 0 for i, x in enumerate(ks) for a, b in [eff.get(i, (0, 0))]]}
    hta = {i: "memory" if x["kind"] in ("memcpy", "memset") else cat.get(x["family"], "compute") if x["family"] !=
           "memory" else "compute" for i, x in enumerate(ks)}
    for a, b in zip(points, points[1:]):
        act = [i for i, (s, e) in eff.items() if s <= a and e >= b]
        if not act:
            continue
        streams = {ks[i]["stream"] for i in act}
        out["busy"] += b - a
        out["multi"] += (b - a) * (len(streams) > 1)
        label = "+".join(sorted({cat.get(ks[i]["family"], "compute") for i in act}))
        out["cats"][label] = out["cats"].get(label, 0) + b - a
        label = "+".join(sorted({hta[i] for i in act}))
        out["hta"][label] = out["hta"].get(label, 0) + b - a
        for i in act:
            others = {cat.get(ks[j]["family"], "compute") for j in act if ks[j]["stream"] != ks[i]["stream"]}
            if not others:
                out["exposed"][i] += b - a
            for c in others:
                out["by"][i][c] = out["by"][i].get(c, 0) + b - a
    return out


@pytest.mark.parametrize("seed", range(12))
def test_sweep_matches_brute_force(seed: int):
    rnd = random.Random(seed)
    names = ["gemm", "ar", "cpy", "norm", "attn"]
    ks = [k(f"{rnd.choice(names)}{i}", rnd.randrange(0, 400), rnd.choice([0, 1, 5, 20, 60, 150]),
            rnd.randrange(1, 4), kind=rnd.choice(["kernel", "memcpy"])) for i in range(rnd.randrange(1, 40))]
    for x in ks:  # a memcpy activity is family memory; a copy kernel may be either kind
        x["kind"] = x["kind"] if x["name"].startswith("cpy") else "kernel"
    ref, r = _reference(ks), analyze_overlap(ks)
    assert (r["busy_ns"], r["multi_stream_ns"]) == (ref["busy"], ref["multi"])
    assert (r["category_overlap"], r["family_category_overlap"]) == (ref["hta"], ref["cats"])
    for i, x in enumerate(ks):
        row = rows(r)[x["name"]]
        assert row["exposed_ns"] == ref["exposed"][i]
        assert row["same_stream_overlap_ns"] == ref["same"][i]
        assert row["hidden_by"] == {c: ref["by"][i].get(c, 0) for c in ("communication", "compute", "memory")}


# ------------------------------------------------------------------ real traces


def _load(path: Path) -> list[dict]:
    """Kernel records of the busiest device, with a rough family and launch times by correlation."""
    doc = orjson.loads(gzip.open(path).read())
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    launch = {e["args"]["correlation"]: e["ts"] for e in events
              if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    out = []
    for e in events:
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset") or e.get("ph") != "X":
            continue
        a, name = e.get("args", {}), e["name"]
        lower = name.lower()
        fam = ("memory" if e["cat"] != "kernel" else "communication"
               if any(w in lower for w in ("nccl", "all_reduce", "allreduce", "all_gather")) else "other")
        lt = launch.get(a.get("correlation"))
        out.append({"name": name, "display_name": name[:60], "family": fam, "ts_ns": round(e["ts"] * 1000),
                    "dur_ns": round(e["dur"] * 1000), "stream": a.get("stream", e.get("tid")),
                    "device": a.get("device", e.get("pid")), "site": None,
                    "launch_ts_ns": None if lt is None else round(lt * 1000)})
    return out


REAL = sorted(TRACES.glob("*/*/*.json.gz"))


@pytest.fixture(scope="module", params=REAL, ids=lambda p: p.parent.name)
def real(request) -> tuple[list[dict], dict]:
    ks = _load(request.param)
    return ks, analyze_overlap(ks)


def test_real_trace_invariants(real):
    ks, r = real
    assert r["busy_ns"] + r["idle_ns"] == r["window_ns"]
    assert sum(r["category_overlap"].values()) == r["busy_ns"]
    assert 0 <= r["multi_stream_ns"] <= r["busy_ns"]
    assert 0 <= r["launch_bound_ns"] + r["long_idle_ns"] <= r["idle_ns"]
    assert sum(row["exposed_ns"] for row in r["rows"]) == r["busy_ns"] - r["multi_stream_ns"] == r["exposed_ns"]
    assert sum(row["count"] for row in r["rows"]) == len(ks)
    for row in r["rows"]:
        assert row["exposed_ns"] + row["hidden_ns"] + row["same_stream_overlap_ns"] == row["time_ns"]
        assert all(0 <= v <= row["hidden_ns"] for v in row["hidden_by"].values())
    assert sum(row["share"] for row in r["rows"]) == pytest.approx(1.0 if r["streams"] == 1 else
                                                                   sum(row["share"] for row in r["rows"]))
    for key in ("time_ns", "exposed_ns", "hidden_ns", "same_stream_overlap_ns"):
        assert sum(f[key] for f in r["families"]) == sum(row[key] for row in r["rows"])
    if r["streams"] == 1:
        assert r["multi_stream_ns"] == 0 and "single stream" in r["note"]


def test_real_trace_same_stream_overlaps_match_a_plain_count(real):
    ks, r = real
    pdl, contained = [0, 0], [0, 0]
    last: dict = {}
    for x in sorted(ks, key=lambda x: x["ts_ns"]):
        if x["dur_ns"] <= 0:
            continue
        key, end = (x["device"], x["stream"]), x["ts_ns"] + x["dur_ns"]
        if key in last and x["ts_ns"] < last[key]:
            tally = pdl if end > last[key] else contained
            tally[0], tally[1] = tally[0] + 1, tally[1] + min(last[key], end) - x["ts_ns"]
        last[key] = max(last.get(key, end), end)
    assert [r["pdl_overlaps"], r["pdl_overlap_ns"]] == pdl
    assert [r["anomalies"]["same_stream_contained"], r["anomalies"]["same_stream_contained_ns"]] == contained


def test_long_gaps_are_idle_not_launch_bound():
    ks = [k("k1", 0, 100, launch=-50), k("k2", 30_000_100, 50, launch=120)]
    r = analyze_overlap(ks)
    assert (r["launch_bound_ns"], r["long_idle_ns"], r["longest_gap_ns"]) == (0, 30_000_000, 30_000_000)
    r = analyze_overlap(ks, config={"launch": {"max_gap_ns": 10**9}})
    assert (r["launch_bound_ns"], r["long_idle_ns"]) == (30_000_000, 0)
