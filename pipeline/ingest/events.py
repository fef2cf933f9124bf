"""Turn a batch of parsed Kineto events into one Arrow table per warehouse table.

Columns follow `sql/schema/*.sql`. ``ts_ns`` here is relative to the file's base time; the
base is added when the spool is loaded into the warehouse (it may only be known at the end
of the file). ``ev`` is an ordinal that grows with the event's position in the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
import pyarrow as pa

from pipeline.ingest.timestamps import BadNumber, to_ns

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


def _ints(values: list) -> pa.Array:
    try:
        return pa.array(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([_as_int(v) for v in values], pa.int64())


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _texts(values: list) -> pa.Array:
    return pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], pa.string())


def _json(values: list) -> pa.Array:
    raw = pa.array([orjson.dumps(v) if v else None for v in values], pa.binary())
    return raw.cast(pa.string())


def _json_texts(values: list) -> pa.Array:
    """Compact JSON text per value (``[1,1,1]``), None stays null."""
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


def _args(evs: list) -> list[dict]:
    return [e.get("args") or {} for e in evs]


def _arg(args: list[dict], *keys: str) -> list:
    key, *rest = keys
    if not rest:
        return [a.get(key) for a in args]
    out = []
    for a in args:
        value = a.get(key)
        for alt in rest:
            if value is not None:
                break
            value = a.get(alt)
        out.append(value)
    return out


class BadEvent(ValueError):
    """An event whose ``ts`` or ``dur`` is not a number; the message names the event."""


def _times(evs: list, key: str, variant: str) -> pa.Array:
    try:
        return to_ns([e.get(key) for e in evs], variant)
    except BadNumber as exc:
        event = evs[exc.index]
        raise BadEvent(f"event {event.get('name')!r} (ph {event.get('ph')!r}, cat {event.get('cat')!r}): "
                       f"{key} is {exc}") from None


def _common(evs: list, ords: list, variant: str, file_id: int) -> dict[str, pa.Array]:
    n = len(evs)
    return {
        "file_id": pa.array([file_id] * n, pa.int64()),
        "ev": pa.array(ords, pa.int64()),
        "name": _texts([e.get("name") for e in evs]),
        "ts_ns": _times(evs, "ts", variant),
        "dur_ns": _times(evs, "dur", "relative"),  # durations are exact as doubles in every variant
        "pid": _texts([e.get("pid") for e in evs]),
        "tid": _texts([e.get("tid") for e in evs]),
    }


def _fallback_int(primary: list, backup: list) -> list:
    return [p if p is not None else _as_int(b) for p, b in zip(primary, backup)]


def _gpu_cols(evs: list, args: list[dict]) -> dict[str, pa.Array]:
    return {
        "stream": _ints(_fallback_int(_arg(args, "stream"), [e.get("tid") for e in evs])),
        "device": _ints(_fallback_int(_arg(args, "device"), [e.get("pid") for e in evs])),
        "correlation": _ints(_arg(args, "correlation")),
        "external_id": _ints(_arg(args, "External id")),
    }


def kernels_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id) | _gpu_cols(evs, args)
    cols["grid"] = _json_texts(_arg(args, "grid"))
    cols["block"] = _json_texts(_arg(args, "block"))
    cols["args"] = _json(args)
    return pa.table(cols)


def memops_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    base = _common(evs, ords, variant, file_id)
    kinds = ["memset" if e.get("cat") == "gpu_memset" else "memcpy" for e in evs]
    cols = {"file_id": base.pop("file_id"), "ev": base.pop("ev"), "kind": pa.array(kinds, pa.string())}
    cols |= base | _gpu_cols(evs, args)
    cols["bytes"] = _ints(_arg(args, "bytes"))
    cols["args"] = _json(args)
    return pa.table(cols)


def launches_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    base = _common(evs, ords, variant, file_id)
    names = [e.get("name") or "" for e in evs]
    return pa.table({
        "file_id": base["file_id"], "ev": base["ev"],
        "cat": _texts([e.get("cat") for e in evs]),
        "name": base["name"], "ts_ns": base["ts_ns"], "dur_ns": base["dur_ns"],
        "pid": base["pid"], "tid": base["tid"],
        "correlation": _ints(_arg(args, "correlation")),
        "external_id": _ints(_arg(args, "External id")),
        "cbid": _ints(_arg(args, "cbid", "cid")),
        "is_graph": pa.array(["GraphLaunch" in n for n in names], pa.bool_()),
        "args": _json(args),
    })


def cpu_ops_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["external_id"] = _ints(_arg(args, "External id"))
    cols["seq"] = _ints(_arg(args, "Sequence number"))
    cols["input_dims"] = _json_texts(_arg(args, "Input Dims"))
    cols["args"] = _json(args)
    return pa.table(cols)


def python_frames_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    cols = _common(evs, ords, variant, file_id)
    cols["python_id"] = _ints(_arg(args, "Python id"))
    cols["parent_id"] = _ints(_arg(args, "Python parent id"))
    cols["module_id"] = _ints(_arg(args, "Python module id"))
    return pa.table(cols)


def annotations_table(evs: list, ords: list, variant: str, file_id: int) -> pa.Table:
    args = _args(evs)
    base = _common(evs, ords, variant, file_id)
    cats = [e.get("cat") if e.get("ph") == "X" else "instant" for e in evs]
    streams = [a.get("stream") if c == "gpu_user_annotation" else None for a, c in zip(args, cats)]
    dur = base["dur_ns"].fill_null(0)
    return pa.table({
        "file_id": base["file_id"], "ev": base["ev"], "cat": _texts(cats), "name": base["name"],
        "ts_ns": base["ts_ns"], "dur_ns": dur, "pid": base["pid"], "tid": base["tid"],
        "external_id": _ints(_arg(args, "External id")), "stream": _ints(streams),
    })


def meta_table(evs: list, file_id: int) -> pa.Table:
    rows = []
    for e in evs:
        args = e.get("args") or {}
        value = args.get("name", args.get("labels", args.get("sort_index")))
        rows.append((e.get("pid"), e.get("tid"), e.get("name"), value))
    cols = list(zip(*rows))
    return pa.table({
        "file_id": pa.array([file_id] * len(rows), pa.int64()),
        "pid": _texts(list(cols[0])), "tid": _texts(list(cols[1])),
        "key": _texts(list(cols[2])), "value": _texts(list(cols[3])),
    })


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
