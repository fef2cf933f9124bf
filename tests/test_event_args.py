"""The event-argument spec (pipeline/catalog/event_args.toml): every entry, on every real trace and
with both converters, equals the arg read straight from the raw JSON; the spec is checked."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.ingest import argspec
from pipeline.ingest import parse as parse_mod
from pipeline.ingest.argspec import ArgSpec, SpecError, specs
from pipeline.ingest.parse import parse_file
from pipeline.store import declared_columns
from tests.conftest import REAL_TRACE_FILES, TRACES

HF = next((TRACES / "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward").glob("*.json.gz"))

# Which raw events make the rows of each table (written out here, independently of events.py).
ROWS = {
    "kernels": lambda e: e.get("ph") == "X" and e.get("cat") == "kernel",
    "gpu_memops": lambda e: e.get("ph") == "X" and e.get("cat") in ("gpu_memcpy", "gpu_memset"),
    "launches": lambda e: e.get("ph") == "X" and e.get("cat") in ("cuda_runtime", "cuda_driver"),
    "cpu_ops": lambda e: e.get("ph") == "X" and e.get("cat") == "cpu_op",
    "python_frames": lambda e: e.get("ph") == "X" and e.get("cat") == "python_function",
    "annotations": lambda e: (e.get("ph") == "X" and e.get("cat") in ("user_annotation", "gpu_user_annotation"))
    or (e.get("ph") == "i" and e.get("cat") != "cpu_instant_event"),
    "trace_meta": lambda e: e.get("ph") == "M",
}
# Entries no real trace carries a value for: Kineto writes only "External id" on a
# gpu_user_annotation (libkineto/src/output_json.cpp handleActivity); checked on `_derived`.
NOT_IN_REAL_TRACES = {("annotations", "stream")}


def _load(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return [e for e in (doc["traceEvents"] if isinstance(doc, dict) else doc) if isinstance(e, dict)]


def _as_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return None  # a pid/tid that is a name ("Spans", "Traces")
    raise AssertionError(f"unexpected integer arg in a real trace: {value!r}")


def _convert(value: object, type_: str) -> object:
    if value is None:
        return None
    if type_ == "int":
        return _as_int(value)
    if type_ == "json":
        return json.dumps(value, separators=(",", ":"))
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def expected(spec: ArgSpec, event: dict) -> tuple[object, str | None]:
    """(value, the key or field it came from) of one raw event, computed from the raw JSON."""
    if spec.events is not None and f"{event.get('ph')}:{event.get('cat')}" != spec.events:
        return None, None
    args = event.get("args") or {}
    for key in spec.keys:
        value = _convert(args.get(key), spec.type)
        if value is not None:
            return value, key
    if spec.fallback is not None and _as_int(event.get(spec.fallback)) is not None:
        return _as_int(event.get(spec.fallback)), spec.fallback
    return None, None


def _derived(path: Path, out: Path) -> Path:
    """A copy of a real trace with what no real trace has: ``stream`` on GPU annotations (and on
    CPU ones, where it must not be read), and kernels / memory ops whose stream and device
    args were removed (every other one), so the columns fall back to the event's tid / pid."""
    with gzip.open(path, "rb") as fh:
        doc = json.load(fh)
    gpu = 0
    for i, e in enumerate(doc["traceEvents"]):
        args = e.get("args")
        if e.get("cat") in ("gpu_user_annotation", "user_annotation") and isinstance(args, dict):
            args["stream"] = 1000 + i
            gpu += e["cat"] == "gpu_user_annotation"
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and i % 2 and isinstance(args, dict):
            args.pop("stream", None)
            args.pop("device", None)
    assert gpu, "the source trace has GPU annotations"
    out.write_text(json.dumps(doc))
    return out


def _parse(path: Path, spool: Path, duck: bool) -> dict[str, pa.Table]:
    """Every table of one file, in file order, converted by DuckDB (each batch it takes) or orjson."""
    with pytest.MonkeyPatch.context() as mp:
        if duck:
            mp.setattr(parse_mod, "DUCKDB_MIN_BYTES", 0)
        else:
            mp.setattr(parse_mod, "_duck_batch", lambda *a: None)
        parsed = parse_file(path, 7, spool, workers=1, in_memory=True)
    assert parsed.status == "ok", parsed.error
    tables = {t: pa.concat_tables(parts) for t, parts in parsed.tables.items()}
    return {t: rows.sort_by("ev") if "ev" in rows.column_names else rows for t, rows in tables.items()}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[tuple[str, bool], tuple[list[dict], dict[str, pa.Table]]]:
    """(trace name, duck?) → (raw events, tables): every real trace and the derived copy."""
    tmp = tmp_path_factory.mktemp("event_args")
    files = {p.parent.name: p for p in REAL_TRACE_FILES} | {"derived": _derived(HF, tmp / "derived.json")}
    out = {}
    for name, path in files.items():
        raw = _load(path)
        for duck in (True, False):
            out[(name, duck)] = raw, _parse(path, tmp / f"{name}-{duck}", duck)
    return out


def _check(spec: ArgSpec, raw: list[dict], tables: dict[str, pa.Table]) -> Counter:
    """Assert the column equals the raw args; count which key (or fallback) gave the values."""
    events = [e for e in raw if ROWS[spec.table](e)]
    want = [expected(spec, e) for e in events]
    rows = tables.get(spec.table)
    got = rows[spec.column].to_pylist() if rows is not None else []
    if spec.table == "trace_meta":  # no ordinal: compare (key, value) pairs
        pairs = Counter(zip(rows["key"].to_pylist(), got)) if rows is not None else Counter()
        assert pairs == Counter((e.get("name"), v) for e, (v, _) in zip(events, want))
    else:
        assert got == [v for v, _ in want]
    return Counter(source for _, source in want if source is not None)


@pytest.mark.parametrize("spec", specs(), ids=lambda s: f"{s.table}.{s.column}")
def test_spec_entry_equals_the_raw_arg_on_every_real_trace(spec: ArgSpec, parsed) -> None:
    sources: Counter = Counter()
    for (name, duck), (raw, tables) in parsed.items():
        counted = _check(spec, raw, tables)
        if name != "derived":
            sources += counted
    if (spec.table, spec.column) in NOT_IN_REAL_TRACES:
        assert not sources
        assert _check(spec, *parsed[("derived", True)]), "the derived trace carries it"
    else:
        assert sources, "some real trace carries this arg (else the test would compare only NULLs)"
    if len(spec.keys) > 1:  # every spelling (CUDA's, ROCm's) is read somewhere
        assert set(spec.keys) <= set(sources), sources


@pytest.mark.parametrize("spec", [s for s in specs() if s.fallback], ids=lambda s: f"{s.table}.{s.column}")
def test_a_missing_arg_falls_back_to_the_event_field(spec: ArgSpec, parsed) -> None:
    for duck in (True, False):
        assert _check(spec, *parsed[("derived", duck)])[spec.fallback] > 0


def test_both_converters_produce_every_schema_column() -> None:
    """The spec's columns and each converter's own columns make up the table exactly."""
    from pipeline.ingest.duckjson import table_columns

    for table, columns in table_columns().items():
        assert [c for c, _ in columns] == declared_columns()[table]
        spec_cols = {s.column for s in specs() if s.table == table}
        wide = {c: w for c, w in columns}
        assert all(wide[c].startswith("arg_") for c in spec_cols)
        assert not any(w.startswith("arg_") for c, w in columns if c not in spec_cols)


def test_generated_sql_reads_every_key_with_its_type() -> None:
    parts = argspec.sql_parts()
    structure = json.loads(parts["arg_types"].strip("'"))
    for s in specs():
        for key in s.keys:
            if s.type == "text":
                assert f"args->>'{key}'" in parts["arg_columns"]
            else:
                assert structure[key] == argspec.TYPES[s.type]
                assert f'a."{key}"' in parts["arg_columns"]


@pytest.mark.parametrize("change,problem", [
    ({"column": "nope"}, "no such column"),
    ({"keys": ["it's"]}, "keys must be"),
    ({"keys": []}, "keys must be"),
    ({"type": "float"}, "type must be"),
    ({"fallback": "name"}, "fallback must be"),
    ({"events": "kernel"}, "events must be"),
    ({"source": " "}, "no source"),
])
def test_a_bad_catalog_entry_is_refused_naming_it(change: dict, problem: str) -> None:
    raw = {"table": "kernels", "column": "correlation", "keys": ["correlation"], "type": "int",
           "source": "libkineto/src/CuptiActivity.h"} | change
    with pytest.raises(SpecError, match=problem) as info:
        argspec._entry(raw)
    assert "event_args.toml: kernels." in str(info.value)
