"""Attribution: kernel → launch → CPU op → Python stack → site, plus family and stage.

The joins run in DuckDB (`sql/attribute/`) and come back as Arrow columns; stacks are walked
in Python through ``Python id`` / ``Python parent id`` once per frame (`pipeline.stacks`), and
names, families, stacks and sites are computed once per distinct value, then spread over the
kernels. The result is one `kernel_facts` row per GPU activity (columns in
`sql/schema/20_kernel_facts.sql` and `docs/architecture.md`).
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from pipeline.analyze.table import columns_of, to_array
from pipeline.classify import classify, classify_with_op, display_name
from pipeline.frames import choose_site, display_frame
from pipeline.gc_pause import paused_gc
from pipeline.paths import read_sql
from pipeline.stacks import EMPTY, StackIndex
from pipeline.stage import assign_steps, build_steps
from pipeline.store import query_dicts, transaction

FACT_COLUMNS = (
    "root", "file_id", "ev", "kind", "name", "display_name", "family", "ts_ns", "dur_ns", "stream",
    "device", "correlation", "launch_name", "launch_ts_ns", "is_graph", "cpu_op_ev", "cpu_op", "site",
    "launch_site", "stack", "step", "step_name", "stage", "attribution", "mapped_from", "match_kind",
    "layer", "slot", "layer_pass", "layer_group", "slot_role", "layer_source", "input_dims",
)
FACT_SCHEMA = pa.schema([
    ("root", pa.string()), ("file_id", pa.int64()), ("ev", pa.int64()), ("kind", pa.string()),
    ("name", pa.string()), ("display_name", pa.string()), ("family", pa.string()), ("ts_ns", pa.int64()),
    ("dur_ns", pa.int64()), ("stream", pa.int64()), ("device", pa.int64()), ("correlation", pa.int64()),
    ("launch_name", pa.string()), ("launch_ts_ns", pa.int64()), ("is_graph", pa.bool_()),
    ("cpu_op_ev", pa.int64()), ("cpu_op", pa.string()), ("site", pa.string()), ("launch_site", pa.string()),
    ("stack", pa.list_(pa.string())), ("step", pa.int32()), ("step_name", pa.string()), ("stage", pa.string()),
    ("attribution", pa.string()), ("mapped_from", pa.string()), ("match_kind", pa.string()),
    ("layer", pa.int32()), ("slot", pa.int32()), ("layer_pass", pa.int32()), ("layer_group", pa.string()),
    ("slot_role", pa.string()), ("layer_source", pa.string()), ("input_dims", pa.string()),
])
# record keys in order: the link columns, then what attribution adds (`step`, `stage` … come last)
LINK_KEYS = (
    "file_id", "ev", "kind", "name", "ts_ns", "dur_ns", "stream", "device", "correlation", "external_id",
    "launch_ev", "launch_name", "launch_ts_ns", "is_graph", "op_how", "cpu_op", "anchor_pid", "anchor_tid",
    "anchor_ts_ns",
)
ADDED_KEYS = ("root", "display_name", "family", "stack", "attribution", "launch_site", "site", "cpu_op_ev",
              "mapped_from", "match_kind")


def _links(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> pa.Table:
    """gpu_activity_links.sql as Arrow, plus ``i`` (row position)."""
    table = conn.sql(read_sql("attribute/gpu_activity_links.sql"), params=[file_ids]).to_arrow_table()
    return table.append_column("i", pa.array(range(table.num_rows), pa.int64()))


def _anchor_frames(conn: duckdb.DuckDBPyConnection, file_ids: list[int],
                   links: pa.Table) -> tuple[list[int], list[str], list[int]]:
    """(link row, frame pid, python id) of every link whose anchor point has a frame."""
    conn.register("_links", links.select(["i", "file_id", "anchor_pid", "anchor_tid", "anchor_ts_ns"]))
    try:
        found = conn.sql(read_sql("attribute/anchor_frames.sql"), params=[file_ids]).to_arrow_table()
    finally:
        conn.unregister("_links")
    return tuple(found.column(c).to_pylist() for c in ("i", "frame_pid", "python_id"))  # type: ignore[return-value]


def _stack_index(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> StackIndex:
    rows = conn.execute(
        "SELECT file_id, pid, python_id, parent_id, name, ts_ns + dur_ns FROM python_frames "
        "WHERE list_contains(?, file_id) AND python_id IS NOT NULL", [file_ids]
    ).fetchall()
    return StackIndex(rows)


def _stack_ids(cols: dict[str, list], found: tuple[list[int], list[str], list[int]], stacks: StackIndex) -> list[int]:
    """Per link row, the id of the Python stack enclosing its anchor point (EMPTY when none)."""
    ids = [EMPTY] * len(cols["file_id"])
    file_col, anchor_ts = cols["file_id"], cols["anchor_ts_ns"]
    rows, pids, python_ids = found
    anchors = ((file_col[i], pid, python_id, anchor_ts[i]) for i, pid, python_id in zip(rows, pids, python_ids))
    for i, sid in zip(rows, stacks.anchor_stack_ids(anchors)):
        ids[i] = sid
    return ids


def _attribution(is_graph: bool, op_how: str | None) -> str:
    if is_graph:
        return "graph"
    if op_how in ("external_id", "launch_external_id"):
        return "direct"
    if op_how == "enclosing":
        return "enclosing"
    return "none"


def _added_columns(cols: dict[str, list], stack_ids: list[int], stacks: StackIndex,
                   roots: dict[int, str]) -> list[list]:
    """The ADDED_KEYS columns, each computed once per distinct name / stack and spread over the rows."""
    names, kinds, graph = cols["name"], cols["kind"], cols["is_graph"]
    shown = {n: display_name(n or "") for n in set(names)}
    family = {n: classify(n or "") for n in set(names)}
    per_stack = {}
    for sid in set(stack_ids):
        raw = stacks.names(sid)
        per_stack[sid] = ([display_frame(f) for f in raw], choose_site(list(raw)) if raw else None)
    launch_site = [per_stack[s][1] for s in stack_ids]
    nothing = [None] * len(names)
    return [
        [roots[f] for f in cols["file_id"]],
        [shown[n] for n in names],
        ["memory" if k != "kernel" else family[n] if family[n] != "other" else classify_with_op(n or "", op)
         for k, n, op in zip(kinds, names, cols["cpu_op"])],
        [per_stack[s][0] for s in stack_ids],  # one list object per distinct stack, shared by its kernels
        [_attribution(g, h) for g, h in zip(graph, cols["op_how"])],
        launch_site,
        [None if g else s for g, s in zip(graph, launch_site)],
        [None if g else e for g, e in zip(graph, cols["op_ev"])],  # a replay's op is the graph wrapper
        nothing,
        nothing,
    ]


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
    with paused_gc():
        links = _links(conn, file_ids)
        found = _anchor_frames(conn, file_ids, links)
        stacks = _stack_index(conn, file_ids)
        meta = _file_meta(conn, file_ids)
        cols = {c: links.column(c).to_pylist() for c in (*LINK_KEYS, "op_ev")}
        added = _added_columns(cols, _stack_ids(cols, found, stacks), stacks, {f: m[0] for f, m in meta.items()})
        keys = (*LINK_KEYS, *ADDED_KEYS)
        by_file: dict[int, list[dict]] = defaultdict(list)
        for row in zip(*(cols[c] for c in LINK_KEYS), *added):
            by_file[row[0]].append(dict(zip(keys, row)))
        annotations = _annotations(conn, file_ids)
        records: list[dict] = []
        for fid, kernels in by_file.items():
            assign_steps(kernels, build_steps(annotations.get(fid, [])), meta[fid][1])
            records.extend(kernels)
    return records


def facts_table(records: list[dict]) -> pa.Table:
    """Arrow table of kernel records in `kernel_facts` column order (built column by column)."""
    with paused_gc():
        values = columns_of(records, FACT_COLUMNS)
        arrays = [to_array(v, f.type) for v, f in zip(values, FACT_SCHEMA)] if records else \
            [pa.array([], f.type) for f in FACT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=FACT_SCHEMA)


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
