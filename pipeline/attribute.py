"""Attribution: kernel → launch → CPU op → Python stack → site, plus family and stage.

The joins run in DuckDB (`sql/attribute/`); stacks are walked in Python through
``Python id`` / ``Python parent id``. The result is one `kernel_facts` row per GPU activity
(columns in `sql/schema/20_kernel_facts.sql` and `docs/architecture.md`).
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from pipeline.classify import classify, display_name
from pipeline.frames import choose_site, display_frame
from pipeline.paths import read_sql
from pipeline.stage import assign_steps, build_steps
from pipeline.store import query_dicts, transaction

FACT_COLUMNS = (
    "root", "file_id", "ev", "kind", "name", "display_name", "family", "ts_ns", "dur_ns", "stream",
    "device", "correlation", "launch_name", "launch_ts_ns", "is_graph", "cpu_op_ev", "cpu_op", "site",
    "launch_site", "stack", "step", "step_name", "stage", "attribution", "mapped_from", "match_kind",
)
MAX_STACK = 256


class StackIndex:
    """Python frames of some files, walkable from any frame to its root."""

    def __init__(self, rows: list[tuple]):
        self._frames = {(f, p, i): (parent, name, end) for f, p, i, parent, name, end in rows}
        self._cache: dict[tuple, tuple[str, ...]] = {}

    def enclosing(self, file_id: int, pid: str, python_id: int | None, ts_ns: int) -> int | None:
        """`python_id` or its nearest ancestor whose interval still holds `ts_ns`."""
        cur, hops = python_id, 0
        while cur is not None and hops < MAX_STACK:
            frame = self._frames.get((file_id, pid, cur))
            if frame is None:
                return None
            if frame[2] is None or frame[2] >= ts_ns:
                return cur
            cur, hops = frame[0], hops + 1
        return None

    def stack(self, file_id: int, pid: str, python_id: int | None) -> tuple[str, ...]:
        """Raw frame names outermost → innermost, ending at `python_id`."""
        if python_id is None:
            return ()
        key = (file_id, pid, python_id)
        if key in self._cache:
            return self._cache[key]
        names: list[str] = []
        cur: int | None = python_id
        while cur is not None and len(names) < MAX_STACK:
            frame = self._frames.get((file_id, pid, cur))
            if frame is None:
                break  # sliced traces keep parent ids that point outside the file
            names.append(frame[1])
            cur = frame[0]
        out = tuple(reversed(names))
        self._cache[key] = out
        return out


def _links(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[dict]:
    return query_dicts(conn, read_sql("attribute/gpu_activity_links.sql"), [file_ids])


def _anchor_frames(conn: duckdb.DuckDBPyConnection, file_ids: list[int], links: list[dict]) -> dict:
    anchors = {(k["file_id"], k["anchor_pid"], k["anchor_tid"], k["anchor_ts_ns"])
               for k in links if k["anchor_ts_ns"] is not None}
    if not anchors:
        return {}
    cols = list(zip(*anchors))
    table = pa.table({"file_id": pa.array(cols[0], pa.int64()), "anchor_pid": pa.array(cols[1], pa.string()),
                      "anchor_tid": pa.array(cols[2], pa.string()), "anchor_ts_ns": pa.array(cols[3], pa.int64())})
    conn.register("_anchors", table)
    try:
        rows = conn.execute(read_sql("attribute/anchor_frames.sql"), [file_ids]).fetchall()
    finally:
        conn.unregister("_anchors")
    return {(f, p, t, ts): (fp, pid_) for f, p, t, ts, fp, pid_ in rows}


def _stack_index(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> StackIndex:
    rows = conn.execute(
        "SELECT file_id, pid, python_id, parent_id, name, ts_ns + dur_ns FROM python_frames "
        "WHERE list_contains(?, file_id) AND python_id IS NOT NULL", [file_ids]
    ).fetchall()
    return StackIndex(rows)


def _attribution(k: dict) -> str:
    if k["is_graph"]:
        return "graph"
    if k["op_how"] in ("external_id", "launch_external_id"):
        return "direct"
    if k["op_how"] == "enclosing":
        return "enclosing"
    return "none"


def _finish_record(k: dict, raw_stack: tuple[str, ...], root: str) -> dict:
    site = choose_site(list(raw_stack)) if raw_stack else None
    k["root"] = root
    k["display_name"] = display_name(k["name"] or "")
    k["family"] = "memory" if k["kind"] != "kernel" else classify(k["name"] or "")
    k["stack"] = [display_frame(f) for f in raw_stack]
    k["attribution"] = _attribution(k)
    k["launch_site"] = site
    k["site"] = None if k["is_graph"] else site
    op_ev = k.pop("op_ev")
    k["cpu_op_ev"] = None if k["is_graph"] else op_ev  # a replay's op is the graph wrapper
    k["mapped_from"] = None
    k["match_kind"] = None
    return k


def _file_meta(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = conn.execute("SELECT file_id, root, stage FROM trace_files WHERE list_contains(?, file_id)",
                        [file_ids]).fetchall()
    return {f: (root, stage or "unknown") for f, root, stage in rows}


def _annotations(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> dict[int, list[dict]]:
    rows = query_dicts(
        conn, "SELECT file_id, cat, name, ts_ns, dur_ns, pid FROM annotations "
        "WHERE list_contains(?, file_id) AND cat IN ('user_annotation', 'gpu_user_annotation')", [file_ids]
    )
    out: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        out[row["file_id"]].append(row)
    return out


def attribute_files(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[dict]:
    """Kernel records (docs/architecture.md) for the given files, in time order per file."""
    if not file_ids:
        return []
    links = _links(conn, file_ids)
    frames = _anchor_frames(conn, file_ids, links)
    stacks = _stack_index(conn, file_ids)
    meta = _file_meta(conn, file_ids)
    by_file: dict[int, list[dict]] = defaultdict(list)
    for k in links:
        found = frames.get((k["file_id"], k["anchor_pid"], k["anchor_tid"], k["anchor_ts_ns"]))
        raw: tuple[str, ...] = ()
        if found:
            inner = stacks.enclosing(k["file_id"], found[0], found[1], k["anchor_ts_ns"])
            raw = stacks.stack(k["file_id"], found[0], inner)
        by_file[k["file_id"]].append(_finish_record(k, raw, meta[k["file_id"]][0]))
    annotations = _annotations(conn, file_ids)
    records: list[dict] = []
    for fid, kernels in by_file.items():
        assign_steps(kernels, build_steps(annotations.get(fid, [])), meta[fid][1])
        records.extend(kernels)
    return records


def facts_table(records: list[dict]) -> pa.Table:
    """Arrow table of kernel records in `kernel_facts` column order."""
    schema = pa.schema([
        ("root", pa.string()), ("file_id", pa.int64()), ("ev", pa.int64()), ("kind", pa.string()),
        ("name", pa.string()), ("display_name", pa.string()), ("family", pa.string()), ("ts_ns", pa.int64()),
        ("dur_ns", pa.int64()), ("stream", pa.int64()), ("device", pa.int64()), ("correlation", pa.int64()),
        ("launch_name", pa.string()), ("launch_ts_ns", pa.int64()), ("is_graph", pa.bool_()),
        ("cpu_op_ev", pa.int64()), ("cpu_op", pa.string()), ("site", pa.string()), ("launch_site", pa.string()),
        ("stack", pa.list_(pa.string())), ("step", pa.int32()), ("step_name", pa.string()), ("stage", pa.string()),
        ("attribution", pa.string()), ("mapped_from", pa.string()), ("match_kind", pa.string()),
    ])
    return pa.Table.from_pylist([{c: r.get(c) for c in FACT_COLUMNS} for r in records], schema=schema)


def ok_file_ids(conn: duckdb.DuckDBPyConnection, root: str) -> list[int]:
    """Files of `root` whose rows are in the warehouse (ok or kept from an earlier load)."""
    rows = conn.execute(
        "SELECT file_id FROM trace_files WHERE root = ? AND status IN ('ok', 'stale') AND kind <> 'layerwise' "
        "ORDER BY path", [root]
    ).fetchall()
    return [r[0] for r in rows]


def store_facts(conn: duckdb.DuckDBPyConnection, root: str, records: list[dict]) -> int:
    """Replace `root`'s kernel_facts rows in one transaction; return the row count."""
    table = facts_table(records)
    conn.register("_facts", table)
    try:
        with transaction(conn):
            conn.execute("DELETE FROM kernel_facts WHERE root = ?", [root])
            conn.execute("INSERT INTO kernel_facts BY NAME SELECT * FROM _facts")
    finally:
        conn.unregister("_facts")
    return table.num_rows


def attribute_root(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    """Compute and store the kernel records of one root; return them."""
    records = attribute_files(conn, ok_file_ids(conn, root))
    store_facts(conn, root, records)
    return records
