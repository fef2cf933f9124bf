"""One rank over merged (issue 8, item 2): SGLang's merged trace split back into ranks, never a
kernel counted twice, rank selection, and `--all-ranks` per-rank columns and stragglers.

The runs come from `tracegen/__init__.py` (`make_sglang_run` + `merge_sglang_traces`, the latter
rewriting pids the way sglang's `ProfileMerger` does); every expected number is recounted here
straight from the per-rank JSON files.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pipeline.classify import display_name
from pipeline.cli import main
from pipeline.ingest import ingest_inputs
from pipeline.ingest.merged import parse_label, split_pid
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import load_json_exact, us_to_ns
from tracegen import make_sglang_run, merge_sglang_traces, sglang_rank_file, write_trace

GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


@dataclass
class Layout:
    per_rank: Path  # root with the per-rank files only
    merged_only: Path  # root with the merged file only
    both: Path  # root with both
    rank_files: dict[int, Path]  # rank → its per-rank file (for recounts)
    merged_name: str


def _layout(base: Path, files: dict[str, dict]) -> Layout:
    name, merged = merge_sglang_traces(files)
    rank_files = {}
    for fname, obj in files.items():
        rank_files[int(re.search(r"-TP-(\d+)", fname).group(1))] = write_trace(obj, base / "per-rank" / fname)
        write_trace(obj, base / "both" / fname)
    write_trace(merged, base / "merged-only" / name)
    write_trace(merged, base / "both" / name)
    return Layout(base / "per-rank", base / "merged-only", base / "both", rank_files, name)


@pytest.fixture(scope="module")
def run2(tmp_path_factory) -> Layout:
    """TP2, rank 1 slow (×1.5)."""
    return _layout(tmp_path_factory.mktemp("run2"), make_sglang_run(2, slow_rank=1, slow_factor=1.5))


@pytest.fixture(scope="module")
def run4(tmp_path_factory) -> Layout:
    """TP4, rank 2 slow (×1.4): the straggler is unambiguous."""
    return _layout(tmp_path_factory.mktemp("run4"), make_sglang_run(4, steps=2, slow_rank=2, slow_factor=1.4, seed=3))


@dataclass
class Recount:
    kernels: int
    kernel_dur: int
    first_ts: int  # relative to the file's own baseTimeNanoseconds
    base: int
    gpu: int  # GPU activities (kernels + memcpy + memset)
    stage_ns: Counter  # stage → summed GPU activity time
    stage_count: Counter
    name_ns: Counter  # (stage, display name) → time
    process_names: set  # (pid, name) of process_name metadata


def _recount(path: Path) -> Recount:
    """Independent recount of one per-rank file: stages from the GPU step annotations' windows."""
    doc = load_json_exact(path)
    ev = doc["traceEvents"]
    windows = [(us_to_ns(e["ts"]), us_to_ns(e["ts"]) + us_to_ns(e["dur"]),
                "prefill" if "EXTEND" in e["name"] else "decode") for e in ev if e.get("cat") == "gpu_user_annotation"]
    kernels = [e for e in ev if e.get("cat") == "kernel"]
    stage_ns, stage_count, name_ns = Counter(), Counter(), Counter()
    gpu = [e for e in ev if e.get("cat") in GPU_CATS]
    for e in gpu:
        ts = us_to_ns(e["ts"])
        [stage] = [s for lo, hi, s in windows if lo <= ts <= hi]
        stage_ns[stage] += us_to_ns(e["dur"])
        stage_count[stage] += 1
        name_ns[(stage, display_name(e["name"]))] += us_to_ns(e["dur"])
    return Recount(
        kernels=len(kernels), kernel_dur=sum(us_to_ns(e["dur"]) for e in kernels),
        first_ts=min(us_to_ns(e["ts"]) for e in kernels), base=int(doc["baseTimeNanoseconds"]), gpu=len(gpu),
        stage_ns=stage_ns, stage_count=stage_count, name_ns=name_ns,
        process_names={(str(e["pid"]), e["args"]["name"]) for e in ev
                       if e.get("ph") == "M" and e.get("name") == "process_name"})


def _ingest(root: Path, spool: Path, wh: Warehouse | None = None) -> tuple[Warehouse, str]:
    wh = wh or Warehouse(None)
    [summary] = ingest_inputs([root], wh, spool)
    assert summary.errors == []
    return wh, summary.root


def _triage(root: Path, spool: Path, **opts) -> dict:
    wh, key = _ingest(root, spool)
    with wh.connect() as conn:
        return triage_root(conn, key, TriageOptions(cutoff_pct=0, **opts))


def _totals(report: dict) -> tuple[int, int]:
    time = sum(s["kernel_time_ns"] for s in report["stages"]) + report["outside_steps"]["time_ns"]
    count = sum(s["kernel_count"] for s in report["stages"]) + report["outside_steps"]["kernels"]
    return time, count


# ---------------------------------------------------------------------------- labels


@pytest.mark.parametrize("pid, label, tp, dp, pp, ep, rest", [
    ("[TP00] 0", "TP00", 0, None, None, None, "0"),
    ("[TP03-DP01] 6586", "TP03-DP01", 3, 1, None, None, "6586"),
    ("[TP00-DP01-PP02-EP03] Spans", "TP00-DP01-PP02-EP03", 0, 1, 2, 3, "Spans"),
    ("[TP12-EP12] 12", "TP12-EP12", 12, None, None, 12, "12"),
])
def test_pid_labels_of_the_merger(pid, label, tp, dp, pp, ep, rest) -> None:
    got, inner = split_pid(pid)
    assert (got.label, got.tp, got.dp, got.pp, got.ep, inner) == (label, tp, dp, pp, ep, rest)


@pytest.mark.parametrize("pid", ["[Unknown] 6583", "6583", "Spans", "[TP0x] 1", "[TP00]1", None])
def test_pids_without_a_rank_label_are_left_alone(pid) -> None:
    assert split_pid(pid) == (None, pid)
    assert parse_label("Unknown") is None


# ---------------------------------------------------------------------------- split


def test_merged_only_root_splits_into_ranks_equal_to_the_rank_files(run2: Layout, spool: Path) -> None:
    wh, key = _ingest(run2.merged_only, spool)
    base0 = _recount(run2.rank_files[0]).base  # the merger keeps the first file's baseTimeNanoseconds
    with wh.connect() as conn:
        files = conn.execute("SELECT file_id, path, kind, rank, status, kernels, note FROM trace_files "
                             "WHERE root = ? ORDER BY path", [key]).fetchall()
        [parent] = [f for f in files if f[2] == "merged"]
        children = {f[3]: f for f in files if f[2] == "merged_rank"}
        assert sorted(children) == [0, 1]
        assert parent[5] == 0 and "split by pid label into 2 per-rank files" in parent[6]
        for table in ("kernels", "gpu_memops", "launches", "cpu_ops", "python_frames", "annotations", "trace_meta"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE file_id = ?", [parent[0]]).fetchone()[0] == 0
        for rank, (fid, path, _, _, status, kernels, _) in children.items():
            rc = _recount(run2.rank_files[rank])
            assert path == f"{run2.merged_name}#TP{rank:02d}" and status == "ok"
            n, dur, first, pids, devices = conn.execute(
                "SELECT count(*), sum(dur_ns), min(ts_ns), list(DISTINCT pid), list(DISTINCT device) "
                "FROM kernels WHERE file_id = ?", [fid]).fetchone()
            assert (n, dur, kernels) == (rc.kernels, rc.kernel_dur, rc.kernels)
            assert first == rc.first_ts + base0
            assert (pids, devices) == ([str(rank)], [rank])  # the label is gone, the device is the rank's
            meta = set(conn.execute("SELECT pid, value FROM trace_meta WHERE file_id = ? AND key = 'process_name'",
                                    [fid]).fetchall())
            assert meta == rc.process_names  # process names follow their rank
            assert {v for _, v in meta} == {f"sglang::scheduler_TP{rank}"}


def test_merged_split_triages_like_the_rank_files(run2: Layout, spool: Path) -> None:
    from_merged = _triage(run2.merged_only, spool / "m", rank=1)
    from_files = _triage(run2.per_rank, spool / "p", rank=1)
    key = lambda r: (r["name"], r["time_ns"], r["launches"], r["site"], r["cpu_op"])  # noqa: E731
    assert [s["stage"] for s in from_merged["stages"]] == [s["stage"] for s in from_files["stages"]] == ["prefill", "decode"]
    for a, b in zip(from_merged["stages"], from_files["stages"]):
        assert [key(r) for r in a["kernels"]] == [key(r) for r in b["kernels"]]
        assert a["coverage"] == b["coverage"] and a["coverage"]["site_share"] == 1.0
        assert [g["kernels"] for g in a["launch_groups"]] == [g["kernels"] for g in b["launch_groups"]]


def test_root_with_rank_files_and_merged_counts_each_kernel_once(run2: Layout, spool: Path) -> None:
    wh, key = _ingest(run2.both, spool)
    rcs = [_recount(p) for p in run2.rank_files.values()]
    with wh.connect() as conn:
        kinds = conn.execute("SELECT kind, status, reason FROM (SELECT kind, status, note AS reason FROM trace_files "
                             "WHERE root = ?) ORDER BY kind", [key]).fetchall()
        assert [(k, s) for k, s, _ in kinds] == [("kineto", "ok"), ("kineto", "ok"), ("merged", "skipped")]
        assert conn.execute("SELECT count(*), sum(dur_ns) FROM kernels").fetchone() == (
            sum(r.kernels for r in rcs), sum(r.kernel_dur for r in rcs))
        report = triage_root(conn, key, TriageOptions(cutoff_pct=0, all_ranks=True))
    assert _totals(report) == (sum(sum(r.stage_ns.values()) for r in rcs), sum(r.gpu for r in rcs))


# ---------------------------------------------------------------------------- rank selection


def test_tables_default_to_rank_0_and_say_so(run2: Layout, spool: Path, capsys) -> None:
    report = _triage(run2.merged_only, spool)
    rc0 = _recount(run2.rank_files[0])
    assert report["rank"]["rank"] == 0
    assert report["rank"]["note"] == "rank 0 of ranks [0, 1] (use --rank N or --all-ranks)"
    assert _totals(report) == (sum(rc0.stage_ns.values()), rc0.gpu)
    assert all(s["ranks"] is None and "rank_time_ns" not in s["kernels"][0] for s in report["stages"])
    assert main(["triage", "--input", str(run2.merged_only), "-q"]) == 0
    text = capsys.readouterr().out
    assert "| rank | rank 0 of ranks \\[0, 1\\] (use --rank N or --all-ranks) |" in text
    assert "Straggler" not in text and "time per rank" not in text


def test_rank_option_picks_rank_1(run2: Layout, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["triage", "--input", str(run2.merged_only), "--rank", "1", "--cutoff", "0", "--format", "json",
                 "--output-dir", str(out), "-q"]) == 0
    report = orjson.loads((out / "triage.json").read_bytes())
    rc1 = _recount(run2.rank_files[1])
    assert report["rank"]["rank"] == 1
    assert _totals(report) == (sum(rc1.stage_ns.values()), rc1.gpu)
    for stage in report["stages"]:
        assert stage["kernel_time_ns"] == rc1.stage_ns[stage["stage"]]


# ---------------------------------------------------------------------------- --all-ranks


@pytest.mark.parametrize("layout", ["merged_only", "per_rank", "both"])
def test_all_ranks_per_rank_column_reconciles_and_names_the_straggler(run4: Layout, layout: str,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    root = getattr(run4, layout)
    assert main(["triage", "--input", str(root), "--all-ranks", "--cutoff", "0", "--format", "json",
                 "--output-dir", str(out), "-q"]) == 0
    report = orjson.loads((out / "triage.json").read_bytes())
    rcs = {r: _recount(p) for r, p in run4.rank_files.items()}
    assert report["rank"]["rank"] is None and report["rank"]["note"].startswith("all ranks [0, 1, 2, 3] together")
    assert _totals(report) == (sum(sum(r.stage_ns.values()) for r in rcs.values()), sum(r.gpu for r in rcs.values()))
    assert [s["stage"] for s in report["stages"]] == ["prefill", "decode"]
    for stage in report["stages"]:
        st, ranks = stage["stage"], stage["ranks"]
        assert ranks["ranks"] == [0, 1, 2, 3]
        assert [{k: p[k] for k in ("rank", "time_ns", "kernels")} for p in ranks["per_rank"]] == [
            {"rank": r, "time_ns": rcs[r].stage_ns[st], "kernels": rcs[r].stage_count[st]} for r in range(4)]
        for row in stage["kernels"]:
            assert row["rank_time_ns"] == {str(r): rcs[r].name_ns[(st, row["name"])] for r in range(4)}
            assert sum(row["rank_time_ns"].values()) == row["time_ns"]
        times = sorted(rcs[r].stage_ns[st] for r in range(4))
        median = (times[1] + times[2]) / 2
        assert ranks["median_ns"] == round(median)
        sg = ranks["straggler"]
        assert sg["rank"] == 2 and sg["time_ns"] == rcs[2].stage_ns[st]
        assert sg["deviation_ns"] == round(rcs[2].stage_ns[st] - median) and sg["deviation_share"] > 0.1
        assert "summed GPU activity time" in ranks["definition"]


def test_all_ranks_markdown_has_the_column_and_the_straggler_line(run2: Layout, capsys) -> None:
    assert main(["triage", "--input", str(run2.merged_only), "--all-ranks", "-q"]) == 0
    text = capsys.readouterr().out
    assert text.count("**Straggler:** rank 1 — stage time") == 2  # two ranks: ties go to the slower rank
    assert "stage time = summed GPU activity time" in text
    header = next(line for line in text.splitlines() if line.startswith("| # | kernel |"))
    assert header.endswith("| CPU op | time per rank |")
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| ", line)]
    assert rows and all(re.search(r"\| r0 [\d.]+ [mµn]?s · r1 [\d.]+ [mµn]?s \|$", line) for line in rows)


# ---------------------------------------------------------------------------- other labels, reloads


def test_dp_and_ep_labels_name_the_virtual_files(tmp_path: Path, spool: Path) -> None:
    """DP attention (TP ranks global, DP rank in the name) and EP: the label keeps every part,
    the rank is the TP number."""
    run = make_sglang_run(2, layers=1, steps=1)
    renamed = {sglang_rank_file("1759130995.3223403", tp, dp=tp, ep=tp): obj
               for tp, obj in enumerate(run.values())}
    name, merged = merge_sglang_traces(renamed)
    assert {e["pid"].split("] ")[0] + "]" for e in merged["traceEvents"]} == {"[TP00-DP00-EP00]", "[TP01-DP01-EP01]"}
    write_trace(merged, tmp_path / "dp" / name)
    wh, key = _ingest(tmp_path / "dp", spool)
    with wh.connect() as conn:
        rows = conn.execute("SELECT path, rank, metadata->'_merged'->>'label' FROM trace_files "
                            "WHERE kind = 'merged_rank' ORDER BY rank").fetchall()
    assert rows == [(f"{name}#TP00-DP00-EP00", 0, "[TP00-DP00-EP00]"), (f"{name}#TP01-DP01-EP01", 1, "[TP01-DP01-EP01]")]


def test_reloading_replaces_and_a_failed_reload_keeps_the_rank_files(run2: Layout, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    src = run2.merged_only / run2.merged_name
    (root / run2.merged_name).write_bytes(src.read_bytes())
    wh = Warehouse(tmp_path / "wh.duckdb")
    _, key = _ingest(root, tmp_path / "spool", wh)
    _ingest(root, tmp_path / "spool", wh)  # idempotent: the virtual files are replaced, not doubled
    rcs = [_recount(p) for p in run2.rank_files.values()]
    expected = (sum(r.kernels for r in rcs), sum(r.kernel_dur for r in rcs))
    with wh.connect() as conn:
        assert conn.execute("SELECT count(*), sum(dur_ns) FROM kernels").fetchone() == expected
        assert conn.execute("SELECT count(*) FROM trace_files WHERE kind = 'merged_rank'").fetchone()[0] == 2
    data = gzip.decompress(src.read_bytes())
    (root / run2.merged_name).write_bytes(gzip.compress(data[: len(data) // 2]))  # truncated JSON
    [summary] = ingest_inputs([root], wh, tmp_path / "spool")
    assert summary.kept == [run2.merged_name]
    with wh.connect() as conn:
        assert conn.execute("SELECT count(*), sum(dur_ns) FROM kernels").fetchone() == expected
        rows = conn.execute("SELECT path, status, rank FROM trace_files WHERE root = ? ORDER BY path", [key]).fetchall()
        assert [(p.split("#")[-1], s, r) for p, s, r in rows] == [
            (run2.merged_name, "stale", None), ("TP00", "stale", 0), ("TP01", "stale", 1)]
        report = triage_root(conn, key, TriageOptions(cutoff_pct=0, rank=1))
    rc1 = _recount(run2.rank_files[1])
    assert _totals(report) == (sum(rc1.stage_ns.values()), rc1.gpu)
