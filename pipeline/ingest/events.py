"""Turn a batch of parsed Kineto events into one Arrow table per warehouse table.

Columns follow `sql/schema/*.sql`; the columns read from ``args`` are the entries of the
event-argument spec (`pipeline/catalog/event_args.toml`, via `argspec.py`), from which the
DuckDB path (`duckjson.py`) generates its projection too. ``ts_ns`` here is relative to the
file's base time; the base is added when the spool is loaded into the warehouse (it may only
be known at the end of the file). ``ev`` is an ordinal that grows with the event's position
in the file. An event that breaks the rules of `limits.py` raises `BadEvent` naming it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.argspec import ArgSpec, for_table
from pipeline.ingest.limits import MAX_DUR_NS, MAX_NAME_CHARS
from pipeline.ingest.timestamps import BadNumber, to_ns
from pipeline.store import schema_columns

BATCH_SHIFT = 24  # ev = batch_number << 24 | index in batch

X_TABLES = {
    "kernel": "kernels",
    "gpu_memcpy": "gpu_memops",
    "gpu_memset": "gpu_memops",
    "cuda_runtime": "launches",
    "cuda_driver": "launches",
    "cpu_op": "cpu_ops",
    "python_function": "python_frames",
    "user_annotation": "annotations",
    "gpu_user_annotation": "annotations",
}
TABLES = ("kernels", "gpu_memops", "launches", "cpu_ops", "python_frames", "annotations", "trace_meta")


@dataclass
class BatchResult:
    """Arrow tables of one batch plus counts for `trace_files`."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    events: int = 0
    categories: Counter = field(default_factory=Counter)


INT64 = 1 << 63


def _ints(values: list) -> pa.Array:
    if set(map(type, values)) <= {int, type(None)}:  # pyarrow would truncate floats (3.5 → 3)
        try:
            return pa.array(values, pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.array([_as_int(v) for v in values], pa.int64())


def _as_int(value: object) -> int | None:
    """An integer arg as DuckDB's json_transform reads it: doubles round half to even, numeric
    strings half away from zero, true/false are 1/0; anything else, or beyond int64, is None."""
    try:
        if isinstance(value, float):
            number = round(value)
        elif isinstance(value, str):
            number = _int_text(value)
        else:
            number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return None
    return number if -INT64 <= number < INT64 else None


def _int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return int(Decimal(text.strip()).to_integral_value(ROUND_HALF_UP))


def _text(value: object) -> str:
    """A non-string value as DuckDB renders it into a VARCHAR column (compact JSON, true/false)."""
    if isinstance(value, (bool, dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _texts(values: list) -> pa.Array:
    return pa.array([None if v is None else v if isinstance(v, str) else _text(v) for v in values], pa.string())


def _json(values: list) -> pa.Array:
    raw = pa.array([orjson.dumps(v) if v else None for v in values], pa.binary())
    return raw.cast(pa.string())


def _json_texts(values: list) -> pa.Array:
    """Compact JSON text per value (``[1,1,1]``), None stays null."""
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


_CONVERT = {"int": _ints, "json": _json_texts, "text": _texts}  # argspec type → values → Arrow array


def _args(evs: list) -> list[dict]:
    out = [e.get("args") or {} for e in evs]
    for i, a in enumerate(out):
        if type(a) is not dict:
            raise BadEvent(f"{describe(evs[i])}: args is not an object ({type(a).__name__})")
    return out


class BadEvent(ValueError):
    """An event that breaks a rule of `limits.py`; the message names the event."""


def describe(event: dict) -> str:
    """``event 'name' (ph 'X', cat 'kernel')``, a long name cut to its start and length."""
    name = event.get("name")
    if isinstance(name, str) and len(name) > 120:
        name = f"{name[:80]}… ({len(name):,} characters)"
    return f"event {name!r} (ph {event.get('ph')!r}, cat {event.get('cat')!r})"


def _times(evs: list, key: str, variant: str) -> pa.Array:
    try:
        return to_ns([e.get(key) for e in evs], variant)
    except BadNumber as exc:
        raise BadEvent(f"{describe(evs[exc.index])}: {key} is {exc}") from None


def _first(mask: pa.Array) -> int | None:
    """Index of the first true value of a boolean array (nulls count as false), else None."""
    mask = pc.fill_null(mask, False)
    return pc.index(mask, True).as_py() if pc.any(mask).as_py() else None


def _check(evs: list, names: pa.Array, ts: pa.Array, dur: pa.Array, complete: pa.Array | bool) -> None:
    """Raise `BadEvent` for the first event breaking a rule of `limits.py` (name, ts, dur).

    Three aggregates decide whether anything is wrong (a batch of a tiny file costs ~0.1 ms);
    only then is the first bad event looked for."""
    longest = pc.max(pc.utf8_length(names)).as_py() if len(names) else None
    low, high = pc.min_max(dur).values()
    ok_dur = not low.is_valid or (low.as_py() >= 0 and high.as_py() <= MAX_DUR_NS)
    no_dur = dur.null_count and (complete is True or pc.any(pc.and_(pc.is_null(dur), complete)).as_py())
    if (longest or 0) <= MAX_NAME_CHARS and not ts.null_count and ok_dur and not no_dur:
        return
    rules = ((pc.greater(pc.utf8_length(names), MAX_NAME_CHARS), f"name longer than {MAX_NAME_CHARS:,} characters"),
             (pc.is_null(ts), "no ts"),
             (pc.and_(pc.is_null(dur), complete), "no dur (a complete event, ph X, needs one)"),
             (pc.less(dur, 0), "negative dur"),
             (pc.greater(dur, MAX_DUR_NS), "dur longer than one day"))
    for mask, problem in rules:
        bad = _first(mask)
        if bad is not None:
            value = "" if problem.startswith(("name", "no ")) else f": {evs[bad].get('dur')!r}"
            raise BadEvent(f"{describe(evs[bad])}: {problem}{value}")


def _common(evs: list, ords: list, variant: str, file_id: int, complete: pa.Array | bool = True) -> dict[str, pa.Array]:
    n = len(evs)
    cols = {
        "file_id": pa.array([file_id] * n, pa.int64()),
        "ev": pa.array(ords, pa.int64()),
        "name": _texts([e.get("name") for e in evs]),
        "ts_ns": _times(evs, "ts", variant),
        "dur_ns": _times(evs, "dur", "relative"),  # durations are exact as doubles in every variant
        "pid": _texts([e.get("pid") for e in evs]),
        "tid": _texts([e.get("tid") for e in evs]),
    }
    _check(evs, cols["name"], cols["ts_ns"], cols["dur_ns"], complete)
    return cols


def _arg_values(s: ArgSpec, evs: list, args: list[dict]) -> pa.Array:
    """One spec entry's column: the first key whose value converts to a non-null value (as
    DuckDB's coalesce over json_transform reads it), else the event's fallback field."""
    convert = _CONVERT[s.type]
    arrays = [convert([a.get(k) for a in args]) for k in s.keys]
    if s.fallback:
        arrays.append(_ints([e.get(s.fallback) for e in evs]))
    values = arrays[0] if len(arrays) == 1 else pc.coalesce(*arrays)
    if s.phase_cat is not None:
        ph, cat = s.phase_cat
        keep = pa.array([e.get("ph") == ph and e.get("cat") == cat for e in evs], pa.bool_())
        values = pc.if_else(keep, values, pa.nulls(len(evs), values.type))
    return values


def _table(table: str, evs: list, args: list[dict], cols: dict[str, pa.Array]) -> pa.Table:
    """`cols` plus the table's spec'd args (`pipeline/catalog/event_args.toml`), in sql/schema order."""
    for s in for_table(table):
        cols[s.column] = _arg_values(s, evs, args)
    return pa.table({name: cols[name] for name in schema_columns(table)})


def kernels_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["args"] = _json(args)
    return _table("kernels", evs, args, cols)


def memops_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["kind"] = pa.array(["memset" if e.get("cat") == "gpu_memset" else "memcpy" for e in evs], pa.string())
    cols["args"] = _json(args)
    return _table("gpu_memops", evs, args, cols)


def launches_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["cat"] = _texts([e.get("cat") for e in evs])
    cols["is_graph"] = pa.array(["GraphLaunch" in (e.get("name") or "") for e in evs], pa.bool_())
    cols["args"] = _json(args)
    return _table("launches", evs, args, cols)


def cpu_ops_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["args"] = _json(args)
    return _table("cpu_ops", evs, args, cols)


def python_frames_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    return _table("python_frames", evs, _args(evs), _common(evs, ords, variant, file_id))


def annotations_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    complete = pa.array([e.get("ph") == "X" for e in evs], pa.bool_())
    cols = _common(evs, ords, variant, file_id, complete)
    cols["cat"] = _texts([e.get("cat") if e.get("ph") == "X" else "instant" for e in evs])
    cols["dur_ns"] = cols["dur_ns"].fill_null(0)
    return _table("annotations", evs, args, cols)


def meta_table(evs: list, file_id: int) -> pa.Table:
    args = _args(evs)
    keys = _texts([e.get("name") for e in evs])
    bad = _first(pc.greater(pc.utf8_length(keys), MAX_NAME_CHARS))
    if bad is not None:
        raise BadEvent(f"{describe(evs[bad])}: name longer than {MAX_NAME_CHARS:,} characters")
    cols = {"file_id": pa.array([file_id] * len(evs), pa.int64()), "key": keys,
            "pid": _texts([e.get("pid") for e in evs]), "tid": _texts([e.get("tid") for e in evs])}
    return _table("trace_meta", evs, args, cols)


BUILDERS = {
    "kernels": kernels_table,
    "gpu_memops": memops_table,
    "launches": launches_table,
    "cpu_ops": cpu_ops_table,
    "python_frames": python_frames_table,
    "annotations": annotations_table,
}


def _bucket(events: list, first_ord: int) -> tuple[dict[str, tuple[list, list]], Counter]:
    buckets: dict[str, tuple[list, list]] = {t: ([], []) for t in TABLES}
    cats = Counter()
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            cats["<not an object>"] += 1
            continue
        ph, cat = e.get("ph"), e.get("cat")
        cats[f"{ph}:{cat}" if cat else str(ph)] += 1
        table = X_TABLES.get(cat) if ph == "X" else None
        if table is None:
            if ph == "M":
                table = "trace_meta"
            elif ph == "i" and cat != "cpu_instant_event":
                table = "annotations"
            else:
                continue
        evs, ords = buckets[table]
        evs.append(e)
        ords.append(first_ord + i)
    return buckets, cats


def convert(events: list, batch_number: int, variant: str, file_id: int, first_index: int = 0) -> BatchResult:
    """Split parsed events by category into Arrow tables (ordinals start at `first_index`)."""
    first = (batch_number << BATCH_SHIFT) + first_index
    buckets, cats = _bucket(events, first)
    result = BatchResult(events=len(events), categories=cats)
    for table, (evs, ords) in buckets.items():
        if not evs:
            continue
        if table == "trace_meta":
            result.tables[table] = meta_table(evs, file_id)
        else:
            result.tables[table] = BUILDERS[table](evs, ords, variant, file_id)
    return result
