"""Ingest reads a trace the same whatever the order of its top-level keys: `traceEvents` first,
in the middle or last, with lists of objects, bracket-laden strings and nested arrays around it.

Each case runs through both converters (DuckDB's reader for every batch, and orjson alone) and
through chunk sizes that end a batch inside the keys after the events, where a list of objects
looks like a run of events (the reader used to cut there and reject the file)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from pipeline.ingest import ingest_inputs
from pipeline.ingest import parse as parse_mod
from pipeline.ingest import reader
from pipeline.ingest.parse import parse_file
from pipeline.store import Warehouse
from tests.conftest import TRACES, us_to_ns
from tracegen.respell import dumps_respelled, load_exact

EXTEND = next((TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15").glob("*.json.gz"))
EVENT_TABLES = ("kernels", "gpu_memops", "launches", "cpu_ops", "python_frames", "annotations", "trace_meta")
CONVERTERS = ("duckdb", "orjson")


def _force(converter: str, monkeypatch, chunk: int) -> list:
    """Send every batch to `converter`; returns the list of batches DuckDB converted."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    converted: list = []
    if converter == "duckdb":
        monkeypatch.setattr(parse_mod, "DUCKDB_MIN_BYTES", 0)
        real = parse_mod._duck_batch

        def counted(*args, **kwargs):
            out = real(*args, **kwargs)
            converted.extend([out] if out is not None else [])
            return out

        monkeypatch.setattr(parse_mod, "_duck_batch", counted)
    else:
        monkeypatch.setattr(parse_mod, "_duck_batch", lambda *a, **k: None)
    return converted


def _array_start(text: bytes, key: int) -> int:
    """Offset of the first event after the ``"traceEvents"`` key at `key` (where batches start)."""
    at = text.index(b"[", key) + 1
    return len(text) - len(text[at:].lstrip(b" \t\r\n"))


# --- the real trace, respelled with its events before the header ---------------------------------

@pytest.fixture(scope="module")
def respelled(tmp_path_factory) -> tuple[Path, dict]:
    """The extend trace with `traceEvents` second of its keys (`distributedInfo.pg_config`, a
    list of seven objects, and `deviceProperties` after it), and the document as loaded."""
    obj = load_exact(EXTEND)
    folder = tmp_path_factory.mktemp("respelled") / EXTEND.parent.name
    folder.mkdir()
    path = folder / EXTEND.name.removesuffix(".gz")
    path.write_text(dumps_respelled(obj, events_last=False))
    return path, obj


def _stored(path: Path, spool: Path) -> tuple[dict, dict]:
    """Per event table (rows, summed dur_ns) and the file's `trace_files` row, after ingest."""
    wh = Warehouse(None)
    [summary] = ingest_inputs([path], wh, spool, workers=1)
    assert summary.errors == [], summary.errors
    tables = {}
    with wh.connect() as conn:
        for table in EVENT_TABLES:
            rows = conn.table(table)
            totals = "count(*), sum(dur_ns)" if "dur_ns" in rows.columns else "count(*)"
            [tables[table]] = rows.aggregate(totals).fetchall()
        row = conn.execute("SELECT status, events, kernels, base_time_ns, ts_variant, metadata "
                           "FROM trace_files").fetchone()
    return tables, {"status": row[0], "events": row[1], "kernels": row[2], "base_time_ns": row[3],
                    "ts_variant": row[4], "metadata": json.loads(row[5])}


@pytest.mark.parametrize("converter", CONVERTERS)
def test_the_real_trace_with_its_events_first_loads_like_the_original(
        respelled, tmp_path: Path, monkeypatch, converter: str) -> None:
    path, obj = respelled
    text = path.read_bytes()
    start = _array_start(text, text.index(b'"traceEvents"'))  # the first key but traceName
    # A batch that ends just before the last pg_config entry: its last `}, {"` lies after the events.
    inside_pg_config = text.rindex(b'"pg_name"') - start
    assert text.index(b'"pg_config"') > text.rindex(b'"ph"'), "pg_config comes after the events"
    converted = _force(converter, monkeypatch, 16 << 20)
    reads: list = []  # the array_end of every read of a file
    real = parse_mod.iter_batches
    monkeypatch.setattr(parse_mod, "iter_batches", lambda *a: reads.append(a[3]) or real(*a))
    original = _stored(EXTEND, tmp_path / "original")
    assert reads == [None], "a file that parses is read once"
    for chunk in (inside_pg_config, 1 << 20):
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
        reads.clear()
        assert _stored(path, tmp_path / f"respelled-{chunk}") == original, chunk
        if chunk == inside_pg_config:  # that cut failed; read again, cut before the array's ']'
            assert reads[0] is None and text[reads[1]:reads[1] + 1] == b"]" and len(reads) == 2
            assert text.rindex(b'"ph"') < reads[1] < text.index(b'"pg_config"')
    assert (converter == "duckdb") == bool(converted), "each converter really ran"
    # and the original itself matches the raw document, counted independently
    tables, row = original
    kernels = [e for e in obj["traceEvents"] if e.get("cat") == "kernel"]
    assert tables["kernels"] == (len(kernels), sum(us_to_ns(e["dur"]) for e in kernels))
    assert (row["status"], row["events"], row["kernels"]) == ("ok", len(obj["traceEvents"]), len(kernels))
    header = json.loads(json.dumps({k: v for k, v in obj.items() if k != "traceEvents"}, default=float))
    assert {k: v for k, v in row["metadata"].items() if k != "_categories"} == header


# --- hand-made documents ------------------------------------------------------------------------

def _events() -> list[dict]:
    out: list[dict] = [{"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "GPU 0"}}]
    for i in range(120):
        out.append({"ph": "X", "cat": "kernel", "name": f"gemm_{i % 7}", "pid": 0, "tid": 7, "ts": 10 + 3 * i,
                    "dur": 1.25 + i, "args": {"correlation": i, "stream": 7, "grid": [i, 1, 1]}})
        out.append({"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 9 + 3 * i, "dur": 2,
                    "args": {"External id": i, "Input Dims": [[i, 2], [2, 3]], "note": "a]} b"}})
    return out


HEADER = {
    "schemaVersion": 1,
    "distributedInfo": {"backend": "nccl", "rank": 0, "pg_config": [
        {"pg_name": "0", "ranks": [0, 1]}, {"pg_name": "1", "ranks": [[0], [1]]}, {"pg_name": "2", "ranks": []}]},
    "deviceProperties": [{"id": 0, "name": 'GPU ]} "quoted" }, {"id": 9'}, {"id": 1, "name": "}]"}, {"id": 2}],
    "notes": '}, {"traceEvents": [{"ph": "X", "dur": 1}]}] \\ "',
    "nested": [[{"a": [1, [2, {"b": []}]]}, {"c": {}}], [], [[[]]], [{"d": "]"}]],
    "meta": {"traceEvents": [{"ph": "X", "cat": "kernel", "name": "not an event", "ts": 1, "dur": 1}]},
    "baseTimeNanoseconds": 5000,
    "empty": {}, "none": None, "flag": True,
}
KERNEL_DUR_NS = sum(us_to_ns(Decimal(str(1.25 + i))) for i in range(120))


def _document(events: list[dict], position: int) -> tuple[bytes, int, int]:
    """`HEADER` with ``traceEvents`` as its `position`-th key (values indented for odd positions),
    the offset of its first event and that of the ']' that closes the events."""
    option = orjson.OPT_INDENT_2 if position % 2 else 0
    items = [(orjson.dumps(k), orjson.dumps(v, option=option)) for k, v in HEADER.items()]
    items.insert(position, (b'"traceEvents"', orjson.dumps(events, option=option)))
    doc, start, end = b"{", -1, -1
    for i, (key, value) in enumerate(items):
        doc += (b",\n " if i else b"")
        doc += key + b" : " + value
        start = _array_start(doc, len(doc) - len(value)) if key == b'"traceEvents"' else start
        end = len(doc) - 1 if key == b'"traceEvents"' else end
    return doc + b"}", start, end


def _chunks(doc: bytes, start: int, array_end: int) -> list[int]:
    """Chunk sizes that end the first batch right after each ``{"`` past the events (a cut there
    would land among the keys after the array), plus a few plain ones."""
    after = [i + 2 - start for i in range(array_end, len(doc)) if doc[i:i + 1] == b"{"]
    return sorted({*after, 200, 700, 4096, len(doc)})


def _parsed(path: Path, spool: Path) -> dict:
    """What one parse gives: counts, header, each table's (rows, summed dur_ns) and its rows
    (the event ordinal `ev`, which encodes the batch, replaced by its rank)."""
    parsed = parse_file(path, 3, spool, workers=1, in_memory=True)
    assert parsed.status == "ok", parsed.error
    out = {"events": parsed.events, "kernels": parsed.kernels, "categories": parsed.categories,
           "header": parsed.header, "tables": {}}
    for name, parts in parsed.tables.items():
        table = pa.concat_tables(parts).to_pylist()
        if "ev" in table[0]:
            table = [dict(row, ev=rank) for rank, row in enumerate(sorted(table, key=lambda r: r["ev"]))]
        out["tables"][name] = (len(table), sum(r.get("dur_ns") or 0 for r in table), sorted(map(str, table)))
    return out


@pytest.mark.parametrize("converter", CONVERTERS)
@pytest.mark.parametrize("position", [0, 1, 4, 5, 8])
def test_any_key_order_reads_the_same_rows_and_header(tmp_path: Path, monkeypatch, converter: str,
                                                      position: int) -> None:
    events = _events()
    last = tmp_path / "last.json"
    last.write_bytes(_document(events, len(HEADER))[0])
    doc, start, array_end = _document(events, position)
    path = tmp_path / "moved.json"
    path.write_bytes(doc)
    converted = _force(converter, monkeypatch, 1 << 20)
    expected = _parsed(last, tmp_path / "last")
    # the reference against the document itself
    assert (expected["events"], expected["kernels"], expected["header"]) == (len(events), 120, HEADER)
    assert expected["tables"]["kernels"][:2] == (120, KERNEL_DUR_NS)
    assert expected["tables"]["cpu_ops"][:2] == (120, 120 * 2000)
    for chunk in _chunks(doc, start, array_end):
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
        assert _parsed(path, tmp_path / f"c{chunk}") == expected, chunk
    assert (converter == "duckdb") == bool(converted), "each converter really ran"


@pytest.mark.parametrize("converter", CONVERTERS)
def test_an_empty_events_array_before_lists_of_objects(tmp_path: Path, monkeypatch, converter: str) -> None:
    path = tmp_path / "empty.json"
    doc, start, array_end = _document([], 0)
    path.write_bytes(doc)
    _force(converter, monkeypatch, 1 << 20)
    for chunk in _chunks(doc, start, array_end):
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
        parsed = parse_file(path, 3, tmp_path / f"c{chunk}", workers=1, in_memory=True)
        assert (parsed.status, parsed.events, parsed.header) == ("ok", 0, HEADER), (chunk, parsed.error)


def test_the_array_end_is_found_past_strings_and_nested_lists() -> None:
    """`array_close` on a batch: the ']' that closes the events, not one inside a string or a value."""
    batch = b'{"a": "}]", "b": [{"c": 1}]}, {"d": "\\"}]"}\n ] , "x": [{"y": 1}, {"z": "}]"}]}'
    assert reader.array_close(batch) == batch.index(b"\n ]") + 2
    assert reader.array_close(batch[:batch.index(b"\n ]")]) is None
    assert reader.array_close(b'{"a": [{"b": 1}]}, {"c": 2}') is None  # a list of objects inside an event
    assert reader.array_close(b'] , "x": [{"y": 1}, {"y": 2}]}') == 0  # an empty events array


def test_a_traceEvents_key_inside_a_header_value_is_skipped_across_reads(tmp_path: Path, monkeypatch) -> None:
    kernel = {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1.5, "dur": 0.5}
    header = {"meta": {"traceEvents": [{"ph": "X"}]}, "pad": "x" * 5000, "more": [{"traceEvents": []}, "]}"]}
    doc = orjson.dumps({**header, "traceEvents": [kernel], "after": [{"a": 1}, {"b": 2}]})
    path = tmp_path / "nested.json"
    path.write_bytes(doc)
    monkeypatch.setattr(reader, "READ_BYTES", 1000)  # the keys arrive over several reads
    parsed = parse_file(path, 1, tmp_path / "spool", workers=1, in_memory=True)
    assert (parsed.status, parsed.events, parsed.kernels) == ("ok", 1, 1), parsed.error
    assert parsed.header == {**header, "after": [{"a": 1}, {"b": 2}]}
    broken = tmp_path / "broken.json"  # a header that does not parse is still refused as such
    broken.write_bytes(b'{"a": {"traceEvents": []} "b": 2, "traceEvents": [' + orjson.dumps(kernel) + b"]}")
    parsed = parse_file(broken, 1, tmp_path / "spool2", workers=1, in_memory=True)
    assert parsed.status == "error" and f"{broken}: invalid JSON before traceEvents" in parsed.error
