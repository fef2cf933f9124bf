"""Ingest: exact reconciliation with the raw JSON, timestamp variants, batching, bad input, the store."""

from __future__ import annotations

import gzip
import multiprocessing as mp
import shutil
from pathlib import Path

import orjson
import pytest

from pipeline.discover import resolve_inputs
from pipeline.ingest import ingest_inputs
from pipeline.ingest import parse as parse_mod
from pipeline.ingest import reader
from pipeline.ingest.parse import parse_file
from pipeline.store import Warehouse
from tests.conftest import DATA, REAL_TRACE_FILES, TRACES, load_json_exact, us_to_ns

HTA = TRACES / "other/hta-ns-resolution-v100-resnet-training"
SGLANG_DECODE = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32"


def _recount(path: Path) -> tuple[int, int, int | None]:
    doc = load_json_exact(path)
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    first = min((us_to_ns(e["ts"]) for e in kernels), default=None)
    base = int(doc["baseTimeNanoseconds"]) if "baseTimeNanoseconds" in doc else 0
    return len(kernels), sum(us_to_ns(e["dur"]) for e in kernels), None if first is None else first + base


@pytest.mark.parametrize("path", REAL_TRACE_FILES, ids=lambda p: p.parent.name)
def test_every_real_trace_reconciles_exactly(path: Path, spool: Path) -> None:
    wh = Warehouse(None)
    [summary] = ingest_inputs([path], wh, spool)
    assert summary.errors == []
    count, dur, first_ts = _recount(path)
    with wh.connect() as conn:
        got = conn.execute("SELECT count(*), sum(dur_ns), min(ts_ns) FROM kernels").fetchone()
        events = conn.execute("SELECT events, kernels FROM trace_files").fetchone()
    assert (got[0], got[1], got[2]) == (count, dur, first_ts)
    assert events[1] == count
    assert events[0] == len(load_json_exact(path)["traceEvents"])


def test_nanoseconds_survive_19_digit_absolute_timestamps(spool: Path) -> None:
    path = next(HTA.glob("*.json.gz"))
    parsed = parse_file(path, 1, spool)
    assert parsed.ts_variant == "absolute_us_ns"
    doc = load_json_exact(path)
    expected = sorted(us_to_ns(e["ts"]) for e in doc["traceEvents"] if e.get("cat") == "kernel")[:50]
    import pyarrow.parquet as pq

    got = sorted(pq.read_table(parsed.spool / "kernels")["ts_ns"].to_pylist())[:50]
    assert got == expected
    assert any(v % 1000 for v in got), "sub-microsecond digits must be kept"


@pytest.mark.parametrize("spacing", ['"ts": ', '"ts":', '"ts" :  '])
def test_quote_times_quotes_every_ts_whatever_the_spacing(spacing: str) -> None:
    from pipeline.ingest.timestamps import quote_times

    events = (f'{{"name": "ts", {spacing}1712170298123456.789, "dur": 2.5}}, '
              f'{{"ph": "X", "ts": 1712170298123457.001, "dur": 3}}').encode()
    quoted = orjson.loads(b"[" + quote_times(events) + b"]")
    assert [e["ts"] for e in quoted] == ["1712170298123456.789", "1712170298123457.001"]
    assert [e["dur"] for e in quoted] == [2.5, 3]  # durations stay numbers (exact as doubles)
    assert quoted[0]["name"] == "ts"


def test_small_batches_and_parallel_workers_give_identical_rows(spool: Path, monkeypatch) -> None:
    path = next((TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15").glob("*.json.gz"))
    whole = parse_file(path, 7, spool / "a")
    monkeypatch.setattr(reader, "CHUNK_BYTES", 64 << 10)
    small = parse_file(path, 7, spool / "b", workers=1)
    parallel = parse_file(path, 7, spool / "c", workers=2)
    import pyarrow.parquet as pq

    def rows(p):
        return sorted(pq.read_table(p.spool / "kernels").select(["ev", "name", "ts_ns", "dur_ns"]).to_pylist(),
                      key=lambda r: r["ts_ns"])

    assert small.events == whole.events == parallel.events
    assert len(list((small.spool / "kernels").glob("*.parquet"))) > 3, "the file must really be split"
    assert [(r["name"], r["ts_ns"], r["dur_ns"]) for r in rows(small)] == \
        [(r["name"], r["ts_ns"], r["dur_ns"]) for r in rows(whole)] == \
        [(r["name"], r["ts_ns"], r["dur_ns"]) for r in rows(parallel)]


def test_boundary_lookalikes_inside_strings_do_not_split_events(tmp_path: Path, spool: Path, monkeypatch) -> None:
    tricky = 'op::{lambda()#1}, {lambda()#2}'
    events = [{"ph": "X", "cat": "kernel", "name": f"{tricky} {i}", "pid": 0, "tid": 7, "ts": 1.5 + i,
               "dur": 0.5, "args": {"correlation": i, "note": '}, {"x": 1}'}} for i in range(400)]
    path = tmp_path / "t.json"
    path.write_bytes(orjson.dumps({"traceEvents": events, "traceName": "x"}))
    monkeypatch.setattr(reader, "CHUNK_BYTES", 2048)
    parsed = parse_file(path, 3, spool, workers=1)
    assert parsed.status == "ok", parsed.error
    assert parsed.kernels == 400


def _spool_rows(parsed) -> dict[str, list[dict]]:
    import pyarrow.parquet as pq

    out = {}
    for folder in sorted(p for p in parsed.spool.iterdir() if p.is_dir()):
        table = pq.read_table(folder)
        keys = ["ev"] if "ev" in table.column_names else ["pid", "tid", "key", "value"]
        out[folder.name] = sorted(table.to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys))
    return out


@pytest.mark.parametrize("path", REAL_TRACE_FILES, ids=lambda p: p.parent.name)
def test_duckdb_reader_and_orjson_fallback_store_identical_rows(path: Path, spool: Path, monkeypatch) -> None:
    """The two converters are independent implementations; every row and column must agree."""
    monkeypatch.setattr(parse_mod, "DUCKDB_MIN_BYTES", 0)  # DuckDB for every batch, however small
    fast = parse_file(path, 5, spool / "duck", workers=1)
    monkeypatch.setattr(parse_mod, "_duck_batch", lambda *a: None)
    slow = parse_file(path, 5, spool / "orjson", workers=1)
    assert fast.status == slow.status == "ok"
    assert (fast.events, fast.kernels, fast.categories) == (slow.events, slow.kernels, slow.categories)
    assert _spool_rows(fast) == _spool_rows(slow)


def test_batches_duckdb_refuses_fall_back_to_orjson(tmp_path: Path, spool: Path, monkeypatch) -> None:
    """A non-object array element and an object list after traceEvents both go through orjson."""
    kernel = {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1.5, "dur": 0.5,
              "args": {"correlation": 1}}
    events = [dict(kernel, ts=1.5 + i) for i in range(300)]
    events.insert(150, 42)
    doc = {"traceEvents": events, "deviceProperties": [{"id": 0, "name": "GPU"}, {"id": 1, "name": "GPU"}]}
    path = tmp_path / "odd.json"
    path.write_bytes(orjson.dumps(doc))
    monkeypatch.setattr(reader, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(parse_mod, "DUCKDB_MIN_BYTES", 0)
    fallbacks = []
    real = parse_mod.convert_batch
    monkeypatch.setattr(parse_mod, "convert_batch", lambda *a: fallbacks.append(a[1]) or real(*a))
    parsed = parse_file(path, 4, spool, workers=1)
    assert parsed.status == "ok", parsed.error
    assert parsed.kernels == 300
    assert parsed.categories["<not an object>"] == 1
    assert parsed.header["deviceProperties"][1]["id"] == 1
    assert any(not b.tail and b"42" in b.data for b in fallbacks), "the batch holding 42 fell back"
    assert any(b.tail and b"deviceProperties" in b.data for b in fallbacks), "the whole tail fell back"


def _kernels_file(path: Path, times: list[tuple[object, object]], absolute: bool = False) -> Path:
    """A trace of one kernel per (ts, dur) between plain kernels (a tail's last event always goes
    through orjson; these must reach DuckDB's reader too)."""
    base = 1712170298123456 if absolute else 10
    pad = [{"ph": "X", "cat": "kernel", "name": "pad", "pid": 0, "tid": 7, "ts": base + i, "dur": 1.5,
            "args": {"correlation": i}} for i in range(60)]
    odd = [{"ph": "X", "cat": "kernel", "name": f"odd{i}", "pid": 0, "tid": 7, "ts": ts, "dur": dur,
            "args": {"correlation": 1000 + i}} for i, (ts, dur) in enumerate(times)]
    path.write_bytes(orjson.dumps({"traceEvents": pad[:30] + odd + pad[30:]}))
    return path


def _both_converters(path: Path, spool: Path, monkeypatch) -> list:
    """Parse `path` once with DuckDB for every batch and once with orjson only."""
    monkeypatch.setattr(parse_mod, "DUCKDB_MIN_BYTES", 0)
    real, refused = parse_mod._duck_batch, []
    monkeypatch.setattr(parse_mod, "_duck_batch", lambda *a: real(*a) or refused.append(a[0]))
    duck = parse_file(path, 9, spool / "duck", workers=1)
    duck.refused = bool(refused)  # DuckDB refused the batch: the orjson path decided
    monkeypatch.setattr(parse_mod, "_duck_batch", lambda *a: None)
    return [duck, parse_file(path, 9, spool / "orjson", workers=1)]


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_numeric_strings_and_fourth_decimals_convert_alike_in_both_converters(
        tmp_path: Path, spool: Path, monkeypatch, absolute: bool) -> None:
    base = 1712170298123456 if absolute else 10
    times = [(f"{base + 100}.25", "2.5"), (base + 101.0005, 0.0015), (base + 102, "0"), (-1.0005 if not absolute
             else f"{base + 103}.0004", "0.0025")]
    path = _kernels_file(tmp_path / "t.json", times, absolute)
    expected = {"odd0": ((base + 100) * 1000 + 250, 2500), "odd1": (None, 2),  # None: checked below
                "odd2": ((base + 102) * 1000, 0),
                "odd3": (-1001 if not absolute else (base + 103) * 1000, 3)}
    duck, slow = _both_converters(path, spool, monkeypatch)
    assert not duck.refused, "DuckDB's reader converted the odd values itself"
    for parsed in (duck, slow):
        assert parsed.status == "ok", parsed.error
        rows = {r["name"]: (r["ts_ns"], r["dur_ns"]) for r in _spool_rows(parsed)["kernels"]}
        for name, (ts, dur) in expected.items():
            assert rows[name][1] == dur, (name, rows[name])
            if ts is not None:
                assert rows[name][0] == ts, (name, rows[name])
    assert _spool_rows(duck) == _spool_rows(slow)


@pytest.mark.parametrize("field,value", [("ts", "abc"), ("dur", "1.5us"), ("ts", {"us": 1}), ("dur", [1])])
def test_a_time_that_is_not_a_number_rejects_the_file_naming_the_event(
        tmp_path: Path, spool: Path, monkeypatch, field: str, value: object) -> None:
    times = [(5.0, value) if field == "dur" else (value, 1.0)]
    path = _kernels_file(tmp_path / "bad.json", times)
    duck, slow = _both_converters(path, spool, monkeypatch)
    assert duck.refused, "DuckDB's reader refuses the batch; the orjson path names the event"
    for parsed in (duck, slow):
        assert parsed.status == "error"
        assert str(path) in parsed.error and "'odd0'" in parsed.error
        assert f"{field} is not a number" in parsed.error and repr(value) in parsed.error
    root = tmp_path / "data" / "sglang" / "run1"  # the rest of the root still loads
    root.mkdir(parents=True)
    shutil.copy(path, root / "bad-TP-1-DECODE.trace.json")
    shutil.copy(next(SGLANG_DECODE.glob("*.json.gz")), root / "good-TP-0-DECODE.trace.json.gz")
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, spool / "root", data_root=tmp_path / "data")
    assert summary.ok == 1 and len(summary.errors) == 1 and "not a number" in summary.errors[0]
    with wh.connect() as conn:
        assert conn.execute("SELECT count(*) FROM kernels").fetchone()[0] == 555


def test_bare_array_trace(tmp_path: Path, spool: Path) -> None:
    path = tmp_path / "bare.json"
    path.write_bytes(orjson.dumps([{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 1, "ts": 1.0, "dur": 2.0}]))
    parsed = parse_file(path, 1, spool)
    assert (parsed.status, parsed.kernels) == ("ok", 1)


def _corrupt_roots(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "sglang" / "run1"
    root.mkdir(parents=True)
    good = next(SGLANG_DECODE.glob("*.json.gz"))
    shutil.copy(good, root / "good-TP-0-DECODE.trace.json.gz")
    raw = gzip.decompress(good.read_bytes())
    (root / "truncated-TP-1-DECODE.trace.json.gz").write_bytes(gzip.compress(raw)[: 20000])
    (root / "invalid-TP-2-DECODE.trace.json").write_bytes(raw[:30000] + b"!!garbage" + raw[30000:])
    (root / "cut-TP-3-DECODE.trace.json").write_bytes(raw[: len(raw) // 2])
    (root / "empty-TP-4-DECODE.trace.json").write_bytes(b"")
    cpu_only = {"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 1.0,
                                 "dur": 3.0, "args": {"External id": 1, "Brand new field": [1, 2]}},
                                {"ph": "X", "cat": "never_seen_category", "name": "x", "pid": 1, "tid": 1,
                                 "ts": 2.0, "dur": 1.0}]}
    (root / "cpuonly-TP-5-DECODE.trace.json").write_bytes(orjson.dumps(cpu_only))
    return root


def test_bad_files_get_clear_errors_and_the_rest_of_the_root_loads(tmp_path: Path, spool: Path) -> None:
    root = _corrupt_roots(tmp_path)
    wh = Warehouse(tmp_path / "w.duckdb")
    [summary] = ingest_inputs([root], wh, spool, data_root=tmp_path / "data")
    with wh.connect() as conn:
        rows = dict(conn.execute("SELECT path, coalesce(error, note, status) FROM trace_files").fetchall())
        statuses = dict(conn.execute("SELECT path, status FROM trace_files").fetchall())
        kernels = conn.execute("SELECT count(*) FROM kernels").fetchone()[0]
    assert statuses["good-TP-0-DECODE.trace.json.gz"] == "ok"
    assert "truncated gzip" in rows["truncated-TP-1-DECODE.trace.json.gz"]
    assert "truncated-TP-1-DECODE.trace.json.gz" in rows["truncated-TP-1-DECODE.trace.json.gz"]
    assert "invalid JSON near byte" in rows["invalid-TP-2-DECODE.trace.json"]
    assert "ends early" in rows["cut-TP-3-DECODE.trace.json"]
    assert statuses.get("empty-TP-4-DECODE.trace.json") in ("error", "rejected")
    assert rows["cpuonly-TP-5-DECODE.trace.json"] == "no GPU kernels (CPU-only trace)"
    assert statuses["cpuonly-TP-5-DECODE.trace.json"] == "ok"
    assert kernels == 555, "only the good file's kernels are stored; nothing half-loaded"
    assert len(summary.errors) >= 3


def test_a_failed_reingest_keeps_what_was_stored(tmp_path: Path, spool: Path) -> None:
    root = tmp_path / "data" / "sglang" / "run1"
    root.mkdir(parents=True)
    target = root / "x-TP-0-DECODE.trace.json.gz"
    shutil.copy(next(SGLANG_DECODE.glob("*.json.gz")), target)
    wh = Warehouse(tmp_path / "w.duckdb")
    ingest_inputs([root], wh, spool, data_root=tmp_path / "data")
    target.write_bytes(target.read_bytes()[:5000])  # the file is damaged after a good load
    [summary] = ingest_inputs([root], wh, spool, data_root=tmp_path / "data")
    with wh.connect() as conn:
        status, error = conn.execute("SELECT status, error FROM trace_files").fetchone()
        kernels = conn.execute("SELECT count(*) FROM kernels").fetchone()[0]
    assert status == "stale" and "previous successful load" in error
    assert kernels == 555
    assert summary.kept == ["x-TP-0-DECODE.trace.json.gz"]


def test_several_roots_in_one_call_each_commit_on_their_own(tmp_path: Path, spool: Path) -> None:
    """iter_ingest: one connection, summaries in root order as each lands, a bad root costs nothing else."""
    from pipeline.ingest import iter_ingest

    bad = _corrupt_roots(tmp_path)
    roots = resolve_inputs([SGLANG_DECODE, bad, TRACES / "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32"])
    wh = Warehouse(tmp_path / "w.duckdb")
    seen, wal_at_last = [], None
    for summary in iter_ingest(roots, wh, spool):
        seen.append(summary.root)
        wal = tmp_path / "w.duckdb.wal"
        wal_at_last = wal.exists() and wal.stat().st_size > 0  # connection still open here
    assert seen == [r.key for r in roots]
    assert wal_at_last is False, "the last commit checkpointed everything into the file before close"
    with wh.connect() as conn:
        per_root = dict(conn.execute(
            "SELECT f.root, count(k.file_id) FROM trace_files f LEFT JOIN kernels k USING (file_id) GROUP BY f.root"
        ).fetchall())
    assert per_root[roots[0].key] == _recount(next(SGLANG_DECODE.glob("*.json.gz")))[0]
    assert per_root[roots[1].key] == 555  # only the corrupt root's good file
    assert per_root[roots[2].key] == _recount(next(roots[2].path.glob("*.json.gz")))[0]


@pytest.mark.parametrize("big", [True, False], ids=["threaded-parse", "one-thread-parse"])
def test_a_lone_root_holds_the_warehouse_lock_only_for_a_short_parse(
        tmp_path: Path, spool: Path, monkeypatch, big: bool) -> None:
    """A root parsed on several threads is parsed before the lock; a small one while the warehouse opens."""
    import threading

    import pipeline.ingest as ingest_mod

    monkeypatch.setattr(parse_mod, "PARALLEL_MIN_BYTES", 1 if big else 1 << 40)
    events: list[str] = []
    opening, parsed_once = threading.Event(), threading.Event()
    real_parse, real_connect = ingest_mod.parse_root, Warehouse.connect

    def parse(*a, **k):
        if not big:  # the one-thread parse waits until the warehouse is being opened
            assert opening.wait(10), "the warehouse open did not start during the parse"
        out = real_parse(*a, **k)
        events.append("parsed")
        parsed_once.set()
        return out

    def connect(self):
        events.append("open")
        opening.set()
        return real_connect(self)

    monkeypatch.setattr(ingest_mod, "parse_root", parse)
    monkeypatch.setattr(Warehouse, "connect", connect)
    [summary] = ingest_inputs([SGLANG_DECODE], Warehouse(tmp_path / "w.duckdb"), spool, data_root=TRACES)
    assert summary.ok == 1 and parsed_once.is_set()
    assert events == (["parsed", "open"] if big else ["open", "parsed"])
    with real_connect(Warehouse(tmp_path / "w.duckdb")) as conn:
        assert conn.execute("SELECT count(*) FROM kernels").fetchone()[0] == 555


def test_reloading_a_root_is_idempotent(tmp_path: Path, spool: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    for _ in range(2):
        ingest_inputs([SGLANG_DECODE], wh, spool, data_root=TRACES)
    with wh.connect() as conn:
        assert conn.execute("SELECT count(*) FROM kernels").fetchone()[0] == 555
        assert conn.execute("SELECT count(*) FROM trace_files").fetchone()[0] == 1


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        resolve_inputs([tmp_path / "nope"])


def _ingest_in_process(args: tuple[str, str, str]) -> int:
    wh_path, root, spool = args
    from pipeline.ingest import ingest_inputs as run

    [summary] = run([Path(root)], Warehouse(Path(wh_path)), Path(spool), data_root=Path(root).parent.parent)
    return summary.ok


def test_two_loads_at_once_queue_instead_of_failing(tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    roots = [str(SGLANG_DECODE), str(TRACES / "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32")]
    jobs = [(str(wh), r, str(tmp_path / f"spool{i}")) for i, r in enumerate(roots)]
    with mp.get_context("spawn").Pool(2) as pool:
        assert pool.map(_ingest_in_process, jobs) == [1, 1]
    with Warehouse(wh).connect() as conn:
        assert conn.execute("SELECT count(*) FROM kernels").fetchone()[0] == 555 + 425


def test_vllm_layerwise_json_loads_into_layerwise_nodes(tmp_path: Path, spool: Path) -> None:
    root = tmp_path / "vllm" / "layerwise"
    root.mkdir(parents=True)
    shutil.copy(DATA / "vllm_layerwise_seed003.json", root / "layerwise_profile.json")
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, spool, data_root=tmp_path)
    assert summary.ok == 1, summary.errors
    doc = load_json_exact(DATA / "vllm_layerwise_seed003.json")
    with wh.connect() as conn:
        steps = [r[0] for r in conn.execute("SELECT DISTINCT step FROM layerwise_nodes ORDER BY 1").fetchall()]
        roots_pct = conn.execute(
            "SELECT step, sum(pct_cuda) FROM layerwise_nodes WHERE tree = 'model' AND depth = 0 GROUP BY 1").fetchall()
        n = conn.execute("SELECT count(*) FROM layerwise_nodes WHERE step = 'prefill' AND tree = 'model'").fetchone()[0]
    assert steps == sorted(k for k in doc if k != "context")
    assert all(abs(float(p) - 100.0) < 0.01 for _, p in roots_pct)

    def count(nodes):
        return sum(1 + count(n["children"]) for n in nodes)

    assert n == count(doc["prefill"]["model_stats"])
