"""`triage --all-ranks` timelines: each rank is its own GPU with its own clock, so window, busy,
idle, launch-bound, "≥ 2 streams active", category overlap, overlap rows and fusions are computed
per rank and summed — never read off one timeline that pools the ranks. And `--rank N` for a rank
the root lacks is an error.

Runs from `tracegen/__init__.py` (`make_sglang_run`, `merge_sglang_traces`); the sums are checked
against triaging each rank alone with `--rank N` (a separate path through the pipeline) and the
per-rank windows and busy times against a recount straight from the per-rank JSON files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from pipeline.analyze.fusion import match_fusions
from pipeline.analyze.overlap import analyze_overlap
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.cli import main
from pipeline.analyze.fusion_table import merge_fusions
from pipeline.report.read import TriageOptions, UnknownRankError
from pipeline.report.triage import triage_root
from tests.conftest import load_json_exact, us_to_ns
from tests.test_merged import GPU_CATS, Layout, _ingest, _layout
from tests.test_fusion import BY_ID, CTX, chain
from tracegen import ModelSpec, make_sglang_run, make_trace, write_trace

TIMELINE = ("window_ns", "busy_ns", "idle_ns", "multi_stream_ns", "launch_bound_ns")
OVERLAP_SUMS = ("time_ns", "count", "exposed_ns", "hidden_ns", "same_stream_overlap_ns", "launch_gap_ns")


@pytest.fixture(scope="module")
def run4(tmp_path_factory) -> Layout:
    """TP4, one stream per rank, rank 2 slow."""
    return _layout(tmp_path_factory.mktemp("run4"), make_sglang_run(4, steps=2, slow_rank=2, slow_factor=1.4, seed=3))


@pytest.fixture(scope="module")
def run2s(tmp_path_factory) -> Layout:
    """TP2, two streams per rank (the MLP on a side stream): real multi-stream time on each rank."""
    return _layout(tmp_path_factory.mktemp("run2s"), make_sglang_run(2, steps=2, slow_rank=1, seed=5, streams=2))


class Triage:
    """One root ingested once, triaged with any options (every row shown)."""

    def __init__(self, root: Path, spool: Path):
        self.wh, self.key = _ingest(root, spool)

    def __call__(self, **opts) -> dict:
        with self.wh.connect() as conn:
            return triage_root(conn, self.key, TriageOptions(cutoff_pct=0, overlap_limit=None, **opts))


@pytest.fixture(scope="module")
def triaged(run4: Layout, run2s: Layout, tmp_path_factory):
    """(run, layout) → (all-ranks report, {rank: --rank N report}); cached per module."""
    cache: dict = {}

    def get(run: str, layout: str) -> tuple[dict, dict[int, dict]]:
        if (run, layout) not in cache:
            lay = {"run4": run4, "run2s": run2s}[run]
            t = Triage(getattr(lay, layout), tmp_path_factory.mktemp("spool"))
            cache[(run, layout)] = (t(all_ranks=True), {r: t(rank=r) for r in sorted(lay.rank_files)})
        return cache[(run, layout)]

    return get


def _stages(report: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in report["stages"]}


def _recount_timelines(path: Path) -> dict[str, dict]:
    """Per stage of one per-rank file, straight from its JSON: window (first GPU activity start to
    last end) and busy (union of the activities' intervals)."""
    ev = load_json_exact(path)["traceEvents"]
    windows = [(us_to_ns(e["ts"]), us_to_ns(e["ts"]) + us_to_ns(e["dur"]),
                "prefill" if "EXTEND" in e["name"] else "decode") for e in ev if e.get("cat") == "gpu_user_annotation"]
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for e in ev:
        if e.get("cat") in GPU_CATS:
            ts = us_to_ns(e["ts"])
            [stage] = [s for lo, hi, s in windows if lo <= ts <= hi]
            spans[stage].append((ts, ts + us_to_ns(e["dur"])))
    out = {}
    for stage, iv in spans.items():
        iv.sort()
        busy, end = 0, None
        for lo, hi in iv:
            if end is None or lo > end:
                busy += hi - lo
                end = hi
            elif hi > end:
                busy += hi - end
                end = hi
        window = max(hi for _, hi in iv) - iv[0][0]
        out[stage] = {"window_ns": window, "busy_ns": busy, "idle_ns": window - busy}
    return out


# ---------------------------------------------------------------------------- single-stream ranks


@pytest.mark.parametrize("layout", ["per_rank", "merged_only"])
def test_single_stream_ranks_have_no_multi_stream_time(run4: Layout, triaged, layout: str) -> None:
    report, _ = triaged("run4", layout)
    assert [s["stage"] for s in report["stages"]] == ["prefill", "decode"]
    for stage in report["stages"]:
        assert stage["multi_stream_ns"] == 0
        assert all(p["multi_stream_ns"] == 0 for p in stage["ranks"]["per_rank"])
        assert list(stage["category_overlap"]) == ["compute"]  # never two categories at once
        assert all(r["hidden_ns"] == 0 and r["exposed_ns"] == r["time_ns"] for r in stage["overlap"])
        assert "every rank: single stream" in stage["overlap_note"]
        assert "devices" not in stage["overlap_note"]  # no "kernels from 4 devices" pooling warning


def test_pooling_the_ranks_would_invent_multi_stream_time(run4: Layout, spool: Path) -> None:
    """The regression this guards: the same kernels on one pooled timeline overlap across ranks."""
    wh, key = _ingest(run4.per_rank, spool)
    with wh.connect() as conn:
        records = attribute_files(conn, sorted(ok_file_ids(conn, key)))
    assert analyze_overlap(records)["multi_stream_ns"] > 0


def test_markdown_labels_the_summed_figures(run4: Layout, capsys) -> None:
    assert main(["triage", "--input", str(run4.merged_only), "--all-ranks", "-q"]) == 0
    text = capsys.readouterr().out
    assert text.count("| ≥ 2 streams active | 0 ns | summed over 4 ranks |") == 2
    assert text.count("union of kernel intervals on any stream of a rank, summed over 4 ranks |") == 2
    assert text.count("first kernel start to last kernel end on each rank's own clock, summed over 4 ranks |") == 2
    assert text.count("| rank | stage time | kernels | window | GPU busy | GPU idle | launch-bound | "
                      "≥ 2 streams active |") == 2
    assert all(text.count(f"\n| r{r} | ") == 2 for r in range(4))
    assert text.count("Timeline rule: each rank is its own GPU on its own clock") == 2
    assert text.count("times and occurrences summed over 4 ranks.") == 2
    assert "overlap figures and rows summed over 4 ranks, each rank on its own timeline" in text


# ---------------------------------------------------------------------------- sums = per-rank triages


@pytest.mark.parametrize("run, layout", [("run4", "per_rank"), ("run4", "merged_only"), ("run2s", "per_rank"),
                                         ("run2s", "merged_only")])
def test_summed_timeline_equals_the_per_rank_triages(triaged, run: str, layout: str) -> None:
    report, alone = triaged(run, layout)
    ranks = sorted(alone)
    for st, stage in _stages(report).items():
        per = {r: _stages(alone[r])[st] for r in ranks}
        assert stage["timeline"]["scope"] == f"summed over {len(ranks)} ranks"
        assert stage["timeline"]["ranks"] == ranks and stage["timeline"]["unranked"] is False
        assert stage["summary"]["scope"] == f"summed over {len(ranks)} ranks"
        # each rank's own timeline, as triaging that rank alone reports it
        for p in stage["ranks"]["per_rank"]:
            one = per[p["rank"]]
            assert p["window_ns"] == one["summary"]["window_ns"]
            assert (p["busy_ns"], p["idle_ns"], p["multi_stream_ns"], p["launch_bound_ns"]) == (
                one["busy_ns"], one["idle_ns"], one["multi_stream_ns"], one["launch_bound_ns"])
            assert p["time_ns"] == one["kernel_time_ns"] and p["kernels"] == one["kernel_count"]
        # the stage figures are the sums
        assert stage["summary"]["window_ns"] == sum(per[r]["summary"]["window_ns"] for r in ranks)
        for key in ("busy_ns", "idle_ns", "multi_stream_ns", "launch_bound_ns", "kernel_time_ns", "kernel_count"):
            assert stage[key] == sum(per[r][key] for r in ranks), key
        assert stage["summary"]["busy_ns"] == stage["busy_ns"]
        assert stage["summary"]["window_ns"] == stage["busy_ns"] + stage["idle_ns"]
        cat = Counter()
        for r in ranks:
            cat.update(per[r]["category_overlap"])
        assert stage["category_overlap"] == dict(cat)
        # overlap rows merged by kernel name, tallies summed
        rows = defaultdict(Counter)
        for r in ranks:
            for row in per[r]["overlap"]:
                rows[row["name"]].update({k: row[k] for k in OVERLAP_SUMS})
        assert {row["name"]: {k: row[k] for k in OVERLAP_SUMS} for row in stage["overlap"]} == {
            name: {k: c[k] for k in OVERLAP_SUMS} for name, c in rows.items()}
        assert sum(row["time_ns"] for row in stage["overlap"]) == stage["kernel_time_ns"]
        assert all(row["share"] == row["time_ns"] / stage["busy_ns"] for row in stage["overlap"])
        fams = Counter()
        for r in ranks:
            fams.update({f["family"]: f["time_ns"] for f in per[r]["overlap_families"]})
        assert {f["family"]: f["time_ns"] for f in stage["overlap_families"]} == dict(fams)
    if run == "run2s":  # two streams per rank: the sums carry real multi-stream time
        assert all(s["multi_stream_ns"] > 0 for s in report["stages"])


@pytest.mark.parametrize("run", ["run4", "run2s"])
def test_per_rank_windows_and_busy_match_the_trace_files(run4: Layout, run2s: Layout, triaged, run: str) -> None:
    lay = {"run4": run4, "run2s": run2s}[run]
    report, _ = triaged(run, "merged_only")
    truth = {r: _recount_timelines(p) for r, p in lay.rank_files.items()}
    for st, stage in _stages(report).items():
        for p in stage["ranks"]["per_rank"]:
            assert {k: p[k] for k in ("window_ns", "busy_ns", "idle_ns")} == truth[p["rank"]][st]
        assert stage["busy_ns"] == sum(t[st]["busy_ns"] for t in truth.values())
        assert stage["summary"]["window_ns"] == sum(t[st]["window_ns"] for t in truth.values())


# ---------------------------------------------------------------------------- fusions


@pytest.mark.parametrize("run, layout", [("run4", "per_rank"), ("run4", "merged_only"), ("run2s", "per_rank")])
def test_fusion_counts_are_the_per_rank_sums(triaged, run: str, layout: str) -> None:
    report, alone = triaged(run, layout)
    keys = ("time_ns", "occurrences", "fused_occurrences", "split_occurrences")
    for st, stage in _stages(report).items():
        want: dict[str, Counter] = defaultdict(Counter)
        for one in alone.values():
            for f in _stages(one)[st]["fusions"]:
                want[f["pattern"]].update({k: f[k] for k in keys})
        assert want  # the run has catalogued fusions to add up
        assert {f["pattern"]: {k: f[k] for k in keys} for f in stage["fusions"]} == {
            p: {k: c[k] for k in keys} for p, c in want.items()}
        assert all(f["share"] == f["time_ns"] / stage["kernel_time_ns"] for f in stage["fusions"])
        assert [f["time_ns"] for f in stage["fusions"]] == sorted((f["time_ns"] for f in stage["fusions"]),
                                                                 reverse=True)


def test_split_chains_are_matched_on_each_rank_not_across_ranks() -> None:
    """Two ranks run the same split chain (add → rmsnorm) at overlapping clock readings (same step
    and stream numbers): pooled, their kernels interleave (add₀ add₁ norm₀ norm₁) and only one
    chain — rank 1's add with rank 0's norm — is adjacent; per rank both chains match."""
    p = BY_ID["add_rmsnorm"]
    rank0 = [{**k, "file_id": 0} for k in chain(p.example_split, start_us=0.0)]
    rank1 = [{**k, "file_id": 1} for k in chain(p.example_split, start_us=1.0)]
    per = {r: match_fusions(ks, total_time_ns=sum(k["dur_ns"] for k in ks), **CTX)
           for r, ks in ((0, rank0), (1, rank1))}
    total = sum(k["dur_ns"] for k in rank0 + rank1)
    merged = merge_fusions(per, total)
    [item] = [f for f in merged if f["pattern"] == p.id]
    assert (item["status"], item["occurrences"], item["split_occurrences"]) == ("split", 2, 2)
    pooled = match_fusions(rank0 + rank1, total_time_ns=total, **CTX)
    [wrong] = [f for f in pooled["fusions"] if f["pattern"] == p.id]
    assert wrong["occurrences"] == 1


# ---------------------------------------------------------------------------- single rank unchanged


def test_single_rank_reports_carry_no_summed_fields(triaged) -> None:
    _, alone = triaged("run4", "merged_only")
    for one in alone.values():
        for stage in one["stages"]:
            assert "timeline" not in stage and "scope" not in stage["summary"] and stage["ranks"] is None
            assert "summed" not in orjson.dumps(stage).decode()


# ---------------------------------------------------------------------------- --rank N not in the root


def test_unknown_rank_is_an_error_listing_the_ranks(run4: Layout, capsys) -> None:
    assert main(["triage", "--input", str(run4.merged_only), "--rank", "7", "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error: --rank 7: trace root ") and err.endswith("has no rank 7; available ranks: 0, 1, 2, 3")
    assert "merged-only" in err  # the root is named
    assert main(["triage", "--input", str(run4.merged_only), "--rank", "3", "-q"]) == 0


def test_unknown_rank_raises_a_value_error(run4: Layout, spool: Path) -> None:
    wh, key = _ingest(run4.per_rank, spool)
    with wh.connect() as conn:
        with pytest.raises(UnknownRankError, match=r"has no rank 4; available ranks: 0, 1, 2, 3") as exc:
            triage_root(conn, key, TriageOptions(rank=4))
        assert isinstance(exc.value, ValueError) and repr(key) in str(exc.value)
        assert triage_root(conn, key, TriageOptions())["rank"]["rank"] == 0  # no rank given: the default


def test_single_rank_and_rankless_roots(tmp_path: Path, spool: Path, capsys) -> None:
    one = make_sglang_run(1, steps=1, layers=1)
    for name, obj in one.items():
        write_trace(obj, tmp_path / "tp1" / name)
    assert main(["triage", "--input", str(tmp_path / "tp1"), "--rank", "1", "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith("has no rank 1; available ranks: 0")
    write_trace(make_trace(ModelSpec(layers=1), steps=1), tmp_path / "plain" / "trace.json.gz")
    assert main(["triage", "--input", str(tmp_path / "plain"), "--rank", "0", "-q"]) == 0  # the one unlabelled rank
    capsys.readouterr()
    assert main(["triage", "--input", str(tmp_path / "plain"), "--rank", "2", "-q"]) == 2
    assert "its files carry no rank (one unlabelled rank, taken as rank 0)" in capsys.readouterr().err
    wh, key = _ingest(tmp_path / "plain", spool)
    with wh.connect() as conn:  # the Dagster asset's call: no rank, never an error
        assert triage_root(conn, key, TriageOptions())["stages"]
