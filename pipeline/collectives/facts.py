"""Facts step for collectives: per-kernel columns that the cross-rank analysis reads.

For every collective kernel (family ``communication``, or carrying Kineto's collective metadata)
of the given records:

- the collective metadata from ``kernels.args`` (``sql/collectives/collective_args.sql``):
  ``coll_name, coll_in_nelems, coll_out_nelems, coll_group_size, coll_dtype, coll_pg, coll_pg_ranks``;
- what came right before it on its own rank: ``gap_prev_end_ns`` / ``gap_prev_launch_ns`` (end and
  launch of the GPU activity that ended last before it started, same file and device),
  ``gap_cpu_ops`` (outermost CPU ops of the launching thread between that launch and the
  collective's own, ``sql/collectives/gap_cpu_ops.sql``: (name, count, time_ns) tuples here, the
  same fields as a struct when read back from ``kernel_facts``) and ``gap_site`` (the innermost
  model/framework frame that thread spent most of that window in, ``sql/collectives/gap_frames.sql``).

Every other record gets the keys with None. Columns: ``sql/schema/20_kernel_facts.sql``.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from pipeline.analyze.table import columns_of
from pipeline.frames import choose_site
from pipeline.gc_pause import without_gc
from pipeline.paths import read_sql

ARG_KEYS = ("coll_name", "coll_in_nelems", "coll_out_nelems", "coll_group_size", "coll_dtype", "coll_pg",
            "coll_pg_ranks")
GAP_KEYS = ("gap_prev_end_ns", "gap_prev_launch_ns", "gap_cpu_ops", "gap_site")
FACT_KEYS = ARG_KEYS + GAP_KEYS


def is_collective(record: dict) -> bool:
    """A GPU kernel that takes part in a collective: family ``communication`` or collective metadata."""
    return record.get("kind", "kernel") == "kernel" and (
        record.get("family") == "communication" or record.get("coll_name") is not None)


def read_collective_args(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> dict[tuple[int, int], dict]:
    """(file_id, ev) → the collective metadata of each kernel that has it."""
    if not file_ids:
        return {}
    table = conn.sql(read_sql("collectives/collective_args.sql"), params=[file_ids]).to_arrow_table()
    out = {}
    for row in table.to_pylist():
        out[(row.pop("file_id"), row.pop("ev"))] = row
    return out


def add_collective_args(records: list[dict], args: dict[tuple[int, int], dict]) -> None:
    """Set every key of `FACT_KEYS` on every record: the ``coll_*`` metadata where the kernel has it,
    None elsewhere (the gap keys are filled by `add_gap_bounds` / `add_gap_context`)."""
    empty = dict.fromkeys(FACT_KEYS)
    for r in records:
        r.update(empty)
        meta = args.get((r["file_id"], r["ev"])) if args else None
        if meta is not None:
            r.update(meta)


def add_gap_bounds(records: list[dict]) -> list[int]:
    """Set ``gap_prev_end_ns`` / ``gap_prev_launch_ns`` on the collective records; return their indexes.

    Per (file, device), activities in start order: the predecessor of a collective is the activity
    with the latest end among those that started before it (ties: the earlier one in the file).
    """
    kind, family, name = columns_of(records, ("kind", "family", "coll_name"))
    found = [i for i, (k, f, n) in enumerate(zip(kind, family, name))
             if k == "kernel" and (f == "communication" or n is not None)]  # is_collective, column-wise
    wanted = {(records[i]["file_id"], records[i].get("device")) for i in found}
    lanes: dict[tuple, list[int]] = defaultdict(list)
    if wanted:
        for i, r in enumerate(records):
            lane = (r["file_id"], r.get("device"))
            if lane in wanted:
                lanes[lane].append(i)
    for idx in lanes.values():
        idx.sort(key=lambda i: (records[i]["ts_ns"], records[i]["ev"]))
        best, best_end = None, 0
        for i in idx:
            r = records[i]
            if best is not None and is_collective(r):
                r["gap_prev_end_ns"], r["gap_prev_launch_ns"] = best_end, records[best].get("launch_ts_ns")
            end = r["ts_ns"] + (r["dur_ns"] or 0)
            if best is None or end > best_end:
                best, best_end = i, end
    return found


def gap_windows(records: list[dict], found: list[int]) -> pa.Table:
    """The CPU windows [predecessor's launch, collective's launch] of the collective records."""
    rows = [(i, records[i]["file_id"], records[i].get("correlation"), records[i]["gap_prev_launch_ns"],
             records[i].get("launch_ts_ns")) for i in found]
    rows = [r for r in rows if r[2] is not None and r[3] is not None and r[4] is not None and r[4] > r[3]]
    cols = list(zip(*rows)) if rows else [[], [], [], [], []]
    names = ("win", "file_id", "correlation", "lo_ns", "hi_ns")
    return pa.table({n: pa.array(c, pa.int64()) for n, c in zip(names, cols)})


def read_gap_context(conn: duckdb.DuckDBPyConnection, windows: pa.Table) -> tuple[dict, dict]:
    """(win → [(name, count, time_ns)] largest first, win → site) from the CPU ops and Python frames."""
    if not windows.num_rows:
        return {}, {}
    conn.register("_gap_windows", windows)
    try:
        ops = conn.sql(read_sql("collectives/gap_cpu_ops.sql")).to_arrow_table().to_pylist()
        frames = conn.sql(read_sql("collectives/gap_frames.sql")).to_arrow_table().to_pylist()
    finally:
        conn.unregister("_gap_windows")
    by_win: dict[int, list[tuple]] = defaultdict(list)
    for row in ops:  # tuples: the kernel_facts struct column is built from them (facts_table)
        by_win[row["win"]].append((row["name"], row["count"], row["time_ns"]))
    sites = {row["win"]: choose_site(row["frames"]) for row in frames}
    return dict(by_win), sites


def add_gap_context(records: list[dict], found: list[int], ops: dict, sites: dict) -> None:
    """Set ``gap_cpu_ops`` / ``gap_site`` on the collective records."""
    for i in found:
        records[i]["gap_cpu_ops"] = ops.get(i, [])
        records[i]["gap_site"] = sites.get(i)


@without_gc
def collective_facts(conn: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """All of the above, in place, over the records of whole files (every GPU activity of each file);
    every record gets every key of `FACT_KEYS`."""
    add_collective_args(records, read_collective_args(conn, sorted({r["file_id"] for r in records})))
    found = add_gap_bounds(records)
    ops, sites = read_gap_context(conn, gap_windows(records, found))
    add_gap_context(records, found, ops, sites)
