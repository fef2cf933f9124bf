"""Malformed events: the same verdict whatever the file size (orjson path for small files, DuckDB's
reader for large ones), a message naming the file and the event, the rest of the root still
loading, and `triage` never crashing on what ingest accepted (docs/guarantees.md)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from pipeline.cli import main
from pipeline.ingest import ingest_inputs
from pipeline.ingest import parse as parse_mod
from pipeline.ingest.limits import MAX_DUR_NS, MAX_NAME_CHARS
from pipeline.ingest.parse import parse_file
from pipeline.store import Warehouse
from tests.conftest import TRACES, load_json_exact, us_to_ns

REAL = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
MARK_TS = 123456.5  # the odd event's ts: found again by it


def _odd(**fields: object) -> str:
    event = {"ph": "X", "cat": "kernel", "name": "odd", "pid": 0, "tid": 7, "ts": MARK_TS, "dur": 1.5,
             "args": {"correlation": 987654321}}
    event.update(fields)
    return orjson.dumps({k: v for k, v in event.items() if v is not _DROP}).decode()


_DROP = object()
DEEP = '{"a":' * 1100 + "1" + "}" * 1100
REJECTED = {  # event text → what the error says
    "args a string": (_odd(args="abc"), "args is not an object (str)"),
    "args a list": (_odd(args=[1]), "args is not an object (list)"),
    "args of a CPU op a number": (_odd(cat="cpu_op", args=5), "args is not an object (int)"),
    "args of a metadata event": ('{"ph": "M", "name": "process_name", "pid": 0, "args": "x"}', "args is not an object"),
    "args nested 1,100 deep": (_odd(args="@").replace('"@"', DEEP), "depth limit exceeded"),
    "another key nested 1,100 deep": (_odd(extra="@").replace('"@"', "[" * 1100 + "]" * 1100), "depth limit exceeded"),
    "dur null": (_odd(dur=None), "no dur (a complete event, ph X, needs one)"),
    "dur missing": (_odd(dur=_DROP), "no dur"),
    "dur negative": (_odd(dur=-5), "negative dur: -5"),
    "dur true": (_odd(dur=True), "dur is not a number: true"),
    "ts false": (_odd(ts=False), "ts is not a number: false"),
    "dur true, spaced out": (_odd(dur="@").replace('"dur":"@"', '"dur" :\n\t  true'), "dur is not a number: true"),
    "ts missing": (_odd(ts=_DROP), "no ts"),
    "ts 1e300": (_odd(ts=1e300), "ts is out of range: 1e+300"),
    "dur overflowing int64 ns": (_odd(dur=9.3e15), "dur is out of range"),
    "dur over one day": (_odd(dur=MAX_DUR_NS / 1000 + 1), "dur longer than one day"),
    "name over the limit": (_odd(name="k" * (MAX_NAME_CHARS + 1)), f"name longer than {MAX_NAME_CHARS:,} characters"),
}
ACCEPTED = {
    "dur zero": _odd(dur=0),
    "dur exactly one day": _odd(dur=MAX_DUR_NS / 1000),
    "name at the limit": _odd(name="k" * MAX_NAME_CHARS),
    "name a number": _odd(name=5),
    "name an object": _odd(name={"a": 1, "b": [1, 2]}),
    "pid an object, tid a float": _odd(pid={"x": "y"}, tid=1.5),
    "correlation a numeric string": _odd(args={"correlation": "7"}),
    "correlation 2.5 and 3.5": _odd(args={"correlation": 2.5, "External id": 3.5}),
    "correlation beyond int64": _odd(args={"correlation": 1e30, "External id": 18446744073709551615}),
    "correlation true": _odd(args={"correlation": True}),
    "args null": _odd(args=None),
    "grid a string": _odd(args={"grid": "x", "correlation": 1}),
}


def _write(path: Path, odd: str, copies: int) -> Path:
    """The real decode trace's events `copies` times, `odd` in the middle; gzip like the real one."""
    doc = orjson.loads(gzip.decompress(REAL.read_bytes()))
    events = [orjson.dumps(e).decode() for e in doc["traceEvents"]] * copies
    middle = len(events) // 2 if copies > 1 else 30
    head = orjson.dumps({k: v for k, v in doc.items() if k != "traceEvents"}).decode()[1:-1]
    text = "{" + head + ', "traceEvents": [' + ",".join(events[:middle] + [odd] + events[middle:]) + "]}"
    path.write_bytes(gzip.compress(text.encode(), 1))
    return path


def _parse_both(tmp_path: Path, odd: str, monkeypatch) -> tuple:
    """(small, big, DuckDB converted the big file's batch): the small file (~60 events, < 2 MB)
    goes through orjson, the big one (5 copies, > 2 MB decompressed) through DuckDB's reader."""
    duck = []
    real = parse_mod._duck_batch
    monkeypatch.setattr(parse_mod, "_duck_batch", lambda *a: duck.append(real(*a)) or duck[-1])
    small_events = orjson.loads(gzip.decompress(REAL.read_bytes()))["traceEvents"][:60]
    small_path = tmp_path / "small.json"
    small_path.write_text('{"traceEvents": [' + ",".join(
        [orjson.dumps(e).decode() for e in small_events[:30]] + [odd] +
        [orjson.dumps(e).decode() for e in small_events[30:]]) + "]}")
    small = parse_file(small_path, 1, tmp_path / "spool", in_memory=True)
    assert not duck, "a small file never reaches DuckDB's reader"
    big = parse_file(_write(tmp_path / "big.json.gz", odd, 5), 1, tmp_path / "spool", in_memory=True)
    return small, big, any(d is not None for d in duck)


@pytest.mark.parametrize("case", list(REJECTED))
def test_a_bad_event_gets_the_same_verdict_from_both_converters(tmp_path: Path, monkeypatch, case: str) -> None:
    odd, says = REJECTED[case]
    small, big, _ = _parse_both(tmp_path, odd, monkeypatch)
    for parsed in (small, big):
        assert parsed.status == "error" and says in parsed.error, (case, parsed.error)
        assert str(parsed.path) in parsed.error
        if "depth" not in says:  # orjson names the byte offset there; every other message names the event
            assert "event 'odd" in parsed.error or "event 'process_name'" in parsed.error or "event 'kkk" in parsed.error


def _odd_row(parsed) -> dict:
    table = pa.concat_tables(parsed.tables["kernels"], promote_options="permissive")
    rows = [r for r in table.to_pylist() if r["ts_ns"] == us_to_ns(str(MARK_TS))]
    assert len(rows) == 1
    row = {k: v for k, v in rows[0].items() if k not in ("ev", "file_id")}
    # args is JSON kept as text: DuckDB keeps a number's spelling (1e30), orjson writes its own (1e+30)
    row["args"] = orjson.loads(row["args"]) if row["args"] else None
    return row


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_an_odd_but_valid_event_loads_alike_in_both_converters(tmp_path: Path, monkeypatch, case: str) -> None:
    small, big, duck_converted = _parse_both(tmp_path, ACCEPTED[case], monkeypatch)
    assert small.status == big.status == "ok", (small.error, big.error)
    assert duck_converted, "DuckDB's reader converted the big file itself"
    assert _odd_row(small) == _odd_row(big)


def test_odd_values_read_as_written(tmp_path: Path, monkeypatch) -> None:
    """Expected values by hand: integer args as DuckDB's json_transform reads them, texts as JSON."""
    rows = {}
    for case in ("name an object", "correlation 2.5 and 3.5", "correlation beyond int64", "dur exactly one day"):
        folder = tmp_path / case.replace(" ", "_")
        folder.mkdir()
        small, big, _ = _parse_both(folder, ACCEPTED[case], monkeypatch)
        rows[case] = _odd_row(big)
    assert rows["name an object"]["name"] == '{"a":1,"b":[1,2]}'
    assert (rows["correlation 2.5 and 3.5"]["correlation"], rows["correlation 2.5 and 3.5"]["external_id"]) == (2, 4)
    assert (rows["correlation beyond int64"]["correlation"], rows["correlation beyond int64"]["external_id"]) == (None, None)
    assert rows["dur exactly one day"]["dur_ns"] == MAX_DUR_NS


def _bad_root(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "sglang" / "run1"
    root.mkdir(parents=True)
    shutil.copy(REAL, root / "good-TP-0-DECODE.trace.json.gz")
    for i, case in enumerate(["args a string", "dur null", "dur overflowing int64 ns", "ts 1e300"], start=1):
        _write(root / f"bad{i}-TP-{i}-DECODE.trace.json.gz", REJECTED[case][0], 1)
    return root


def test_bad_events_cost_their_file_only_and_the_run_goes_on(tmp_path: Path, capsys) -> None:
    root = _bad_root(tmp_path)
    other = TRACES / "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32"
    wh = tmp_path / "w.duckdb"
    status = main(["ingest", str(root), str(other), "--warehouse", str(wh), "--strict", "-q"])
    out = capsys.readouterr().out
    assert status == 1  # --strict: some file failed
    assert out.count("  error: ") == 4 and "1/5 files loaded" in out and "1/1 files loaded" in out
    with Warehouse(wh).connect() as conn:
        per_file = dict(conn.execute("SELECT f.path, count(k.ev) FROM trace_files f LEFT JOIN kernels k "
                                     "USING (file_id) GROUP BY 1").fetchall())
    raw = [e for e in load_json_exact(REAL)["traceEvents"] if e.get("cat") == "kernel"]
    assert per_file["good-TP-0-DECODE.trace.json.gz"] == len(raw)
    assert per_file["graph_execution.json.gz"] > 0  # the root after the bad one loaded too
    assert main(["triage", "--input", str(root), "--warehouse", str(wh), "-q", "--format", "json"]) == 0


def test_triage_runs_on_every_odd_value_ingest_accepts(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data" / "odd"
    root.mkdir(parents=True)
    for i, odd in enumerate(ACCEPTED.values()):
        _write(root / f"odd{i}-TP-{i}-DECODE.trace.json.gz", odd, 1)
    assert main(["triage", "--input", str(root), "--all-ranks", "-q", "--format", "json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert all(f["status"] == "ok" for f in report["files"])


def test_an_unreadable_file_is_an_error_of_that_file(tmp_path: Path, monkeypatch) -> None:
    """PermissionError in the size estimate and the reader (root ignores file modes, so `open` says it)."""
    root = _bad_root(tmp_path)
    locked = root / "bad1-TP-1-DECODE.trace.json.gz"
    real_open = open

    def guarded(file, *args, **kwargs):
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    from pipeline.ingest import reader

    monkeypatch.setattr(parse_mod, "open", guarded, raising=False)
    monkeypatch.setattr(reader, "open", guarded, raising=False)
    [summary] = ingest_inputs([root], Warehouse(None), tmp_path / "spool", data_root=tmp_path / "data")
    assert any(str(locked) in e and "cannot read (Permission denied)" in e for e in summary.errors)
    assert summary.ok == 1
