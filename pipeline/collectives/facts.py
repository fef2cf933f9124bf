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

Other records get the keys with None. Columns: ``sql/schema/20_kernel_facts.sql``.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from pipeline.frames import choose_site
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
    """Set the ``coll_*`` keys on every record (None where the kernel has no metadata)."""
    empty = dict.fromkeys(ARG_KEYS)
    for r in records:
        r.update(args.get((r["file_id"], r["ev"]), empty))


def add_gap_bounds(records: list[dict]) -> list[int]:
    """Set ``gap_prev_end_ns`` / ``gap_prev_launch_ns`` on collective records (None elsewhere); return
    the indexes of the collective records.

    Per (file, device), activities in start order: the predecessor of a collective is the activity
    with the latest end among those that started before it (ties: the earlier one in the file).
    """
    lanes: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        r["gap_prev_end_ns"] = r["gap_prev_launch_ns"] = None
        lanes[(r["file_id"], r.get("device"))].append(i)
    found = []
    for idx in lanes.values():
        idx.sort(key=lambda i: (records[i]["ts_ns"], records[i]["ev"]))
        best: int | None = None
        for i in idx:
            r = records[i]
            if is_collective(r):
                found.append(i)
                if best is not None:
                    p = records[best]
                    r["gap_prev_end_ns"] = p["ts_ns"] + (p["dur_ns"] or 0)
                    r["gap_prev_launch_ns"] = p.get("launch_ts_ns")
            end = r["ts_ns"] + (r["dur_ns"] or 0)
            if best is None or end > records[best]["ts_ns"] + (records[best]["dur_ns"] or 0):
                best = i
    return sorted(found)


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
    """Set ``gap_cpu_ops`` / ``gap_site`` on the collective records (None elsewhere)."""
    for r in records:
        r["gap_cpu_ops"] = r["gap_site"] = None
    for i in found:
        records[i]["gap_cpu_ops"] = ops.get(i, [])
        records[i]["gap_site"] = sites.get(i)


def collective_facts(conn: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """All of the above, in place, over the records of whole files (every GPU activity of each file)."""
    add_collective_args(records, read_collective_args(conn, sorted({r["file_id"] for r in records})))
    found = add_gap_bounds(records)
    ops, sites = read_gap_context(conn, gap_windows(records, found))
    add_gap_context(records, found, ops, sites)
