"""Kernel records as Arrow columns, and SQL over them, for the per-stage analyses.

Every analysis accepts the stage's kernels either as records (``list[dict]``, the shape
`pipeline.attribute` returns) or as a ``pyarrow.Table`` with the same column names;
`as_table` turns either into a table with every column of `KERNEL_COLUMNS` (missing ones
null) plus ``i``, the row's position, which the analyses use to break ties the way a
first-seen-first-kept loop over the records would. Build it once per stage and pass the
table to each analysis to convert the records only once.
"""

from __future__ import annotations

import os
import threading
from operator import itemgetter
from typing import Any, Sequence, Union

import duckdb
import pyarrow as pa

from pipeline.gc_pause import paused_gc
from pipeline.paths import read_sql

Kernels = Union[Sequence[dict], pa.Table]

KERNEL_COLUMNS: dict[str, pa.DataType] = {
    "file_id": pa.int64(), "ev": pa.int64(), "name": pa.string(),
    "display_name": pa.string(), "family": pa.string(), "ts_ns": pa.int64(), "dur_ns": pa.int64(),
    "stream": pa.int64(), "device": pa.int64(), "launch_ts_ns": pa.int64(), "is_graph": pa.bool_(),
    "cpu_op_ev": pa.int64(), "cpu_op": pa.string(), "site": pa.string(), "stack_id": pa.int64(),
    "step": pa.int64(), "attribution": pa.string(),
}
ROW = "i"  # row position column added by `as_table`
STACK_ID = "stack_id"  # content id of the record's `stack` list: equal ids ⇔ equal stacks

_LOCAL = threading.local()


def columns_of(records: Sequence[dict], keys: Sequence[str]) -> list[Sequence[Any]]:
    """Per key, its values over `records` (None where a record lacks the key), in one pass."""
    if not keys:
        return []
    if not records:
        return [() for _ in keys]
    first = records[0]
    present = [k for k in keys if k in first]  # a key the first record lacks is read with `get` alone
    try:
        if len(present) == 1:
            found = dict(zip(present, [list(map(itemgetter(present[0]), records))]))
        else:
            found = dict(zip(present, zip(*map(itemgetter(*present), records)))) if present else {}
    except KeyError:  # some records lack some keys: the fast path per key, `get` only where it fails
        found = {k: _column(records, k) for k in present}
    return [found[k] if k in found else [r.get(k) for r in records] for k in keys]


def _column(records: Sequence[dict], key: str) -> list:
    try:
        return list(map(itemgetter(key), records))
    except KeyError:
        return [r.get(key) for r in records]


def list_ids(values: Sequence[Any]) -> tuple[list, list[int]]:
    """Distinct lists of `values` (by content) and, per value, the index of its list.

    Records share one list object per distinct stack, so each object is read once.
    """
    by_object: dict[int, int] = {}
    by_content: dict[tuple | None, int] = {}
    distinct: list = []
    keep = []  # holds the objects, so an id() is not reused while we map by it
    ids = []
    for v in values:
        j = by_object.get(id(v))
        if j is None:
            keep.append(v)
            content = None if v is None else tuple(v)
            j = by_content.get(content)
            if j is None:
                j = by_content[content] = len(distinct)
                distinct.append(v)
            by_object[id(v)] = j
        ids.append(j)
    return distinct, ids


def to_array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """`values` as `type_`; list values (stacks shared by many records) converted once per distinct list."""
    if pa.types.is_list(type_):
        distinct, ids = list_ids(values)
        return pa.array(distinct, type_).take(pa.array(ids, pa.int32()))
    try:
        return pa.array(values, type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array(values)  # e.g. float durations: keep what the caller gave


def _stack_ids(kernels: Kernels) -> pa.Array:
    """Content ids of the records' stacks; a missing stack counts as the empty one."""
    if isinstance(kernels, pa.Table):
        if "stack" not in kernels.column_names:
            return pa.array([0] * kernels.num_rows, pa.int64())
        stacks = kernels.column("stack").to_pylist()
    else:
        stacks = columns_of(kernels, ["stack"])[0]
    return pa.array(list_ids([s or () for s in stacks])[1], pa.int64())


def as_table(kernels: Kernels, columns: Sequence[str] | None = None) -> pa.Table:
    """`kernels` as a table with `columns` (default: all of KERNEL_COLUMNS) and ``i``.

    ``stack_id`` stands for the ``stack`` list (an integer to group by; the lists themselves are
    not copied). A table passed in keeps its columns' values; when `columns` is given, only those
    (plus ``i``) are kept, so later takes and filters do not copy columns nobody reads.
    """
    names = list(columns if columns is not None else KERNEL_COLUMNS)
    if isinstance(kernels, pa.Table):
        table = kernels
        for name in names:
            type_ = KERNEL_COLUMNS.get(name, pa.null())
            if name == STACK_ID and name not in table.column_names:
                table = table.append_column(name, _stack_ids(table))
            elif name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, type_))
            elif pa.types.is_null(table.schema.field(name).type):  # all-null column read without a type
                table = table.set_column(table.column_names.index(name), name, pa.nulls(table.num_rows, type_))
        if ROW not in table.column_names:
            table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
        return table if columns is None else table.select([*names, ROW])  # zero-copy
    with paused_gc():
        plain = [n for n in names if n != STACK_ID]
        arrays = {n: to_array(v, KERNEL_COLUMNS.get(n, pa.null())) for n, v in zip(plain, columns_of(kernels, plain))}
        if STACK_ID in names:
            arrays[STACK_ID] = _stack_ids(kernels)
        arrays[ROW] = pa.array(range(len(kernels)), pa.int64())
    return pa.Table.from_arrays([arrays[n] for n in [*names, ROW]], names=[*names, ROW])


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB (a forked child opens its own)."""
    held = getattr(_LOCAL, "conn", None)
    if held is None or held[0] != os.getpid():
        held = _LOCAL.conn = (os.getpid(), duckdb.connect(":memory:"))
    return held[1]


def run_sql(name: str, params: list | None = None, **tables: pa.Table) -> pa.Table:
    """Run `sql/analyze/<name>.sql` with the Arrow `tables` registered under their keyword names."""
    conn = _connection()
    for key, table in tables.items():
        conn.register(key, table)
    try:
        return conn.sql(read_sql(f"analyze/{name}.sql"), params=params).to_arrow_table()
    finally:
        for key in tables:
            conn.unregister(key)
