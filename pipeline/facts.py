"""`kernel_facts`: built once per root, for every rank, and stored; every later step reads it.

One call, `build_facts`, runs attribute → layers (forward passes, decoder layers, slots) → align
(per rank: the rank's mapping trace, else the eager steps of its own trace; slot by slot where
both have layers) → sites from outside the trace (another root of the model, the kernel-site
catalog) → costs (FLOPs and bytes from the op's shapes) → collectives (metadata, the CPU gap
before each) and stores, in one transaction, the root's facts (one row per GPU
activity of every file, mapping traces included) and the alignment match rates per rank and
stage. `load_facts` reads them back as Arrow, in the order they were built.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import orjson
import pyarrow as pa

from pipeline.align.apply import apply_alignment
from pipeline.align.catalog import attribute_from_catalog
from pipeline.align.cross_root import attribute_cross_root
from pipeline.analyze.table import columns_of, list_ids, to_array
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.collectives.facts import collective_facts
from pipeline.gc_pause import paused_gc
from pipeline.layers import assign_layers
from pipeline.paths import read_sql
from pipeline.report.state import FACTS_VERSION
from pipeline.roofline.costs import assign_costs
from pipeline.stage import OUTSIDE
from pipeline.store import one_thread, query_dicts, run_statements, settle, transaction

FACT_SCHEMA = pa.schema([
    ("root", pa.string()), ("file_id", pa.int64()), ("ev", pa.int64()), ("seq", pa.int64()), ("rank", pa.int32()),
    ("kind", pa.string()), ("name", pa.string()), ("display_name", pa.string()), ("family", pa.string()),
    ("ts_ns", pa.int64()), ("dur_ns", pa.int64()), ("stream", pa.int64()), ("device", pa.int64()),
    ("correlation", pa.int64()), ("launch_name", pa.string()), ("launch_ts_ns", pa.int64()), ("is_graph", pa.bool_()),
    ("cpu_op_ev", pa.int64()), ("cpu_op", pa.string()), ("site", pa.string()), ("launch_site", pa.string()),
    ("stack", pa.list_(pa.string())), ("stack_id", pa.int64()), ("step", pa.int32()), ("step_name", pa.string()),
    ("stage", pa.string()), ("attribution", pa.string()), ("mapped_from", pa.string()), ("match_kind", pa.string()),
    ("flops", pa.int64()), ("bytes", pa.int64()), ("dtype", pa.string()), ("cost_model", pa.string()),
    ("cost_note", pa.string()),
    ("coll_name", pa.string()), ("coll_in_nelems", pa.int64()), ("coll_out_nelems", pa.int64()),
    ("coll_group_size", pa.int32()), ("coll_dtype", pa.string()), ("coll_pg", pa.string()),
    ("coll_pg_ranks", pa.string()), ("gap_prev_end_ns", pa.int64()), ("gap_prev_launch_ns", pa.int64()),
    ("gap_cpu_ops", pa.list_(pa.struct([("name", pa.string()), ("count", pa.int64()), ("time_ns", pa.int64())]))),
    ("gap_site", pa.string()),
    ("layer", pa.int32()), ("slot", pa.int32()), ("layer_pass", pa.int32()), ("layer_group", pa.string()),
    ("slot_role", pa.string()), ("layer_source", pa.string()), ("input_dims", pa.string()),
])
FACT_COLUMNS = tuple(FACT_SCHEMA.names)
RATE_KEYS = ("by_count", "by_time", "kernels", "mapped", "time_ns", "mapped_ns", "source", "method")


@dataclass(frozen=True)
class FactsSummary:
    """What one `build_facts` call stored."""

    root: str
    rows: int
    files: int
    ranks: list[int]
    alignment: list[dict]  # one row per (rank, stage) that needed alignment
    built_at: dt.datetime
    table: pa.Table | None = field(default=None, repr=False, compare=False)  # the rows stored, as Arrow


def _files(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    ids = ok_file_ids(conn, root)
    rows = query_dicts(conn, read_sql("facts/root_files.sql"), [ids])
    order = {f: i for i, f in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r["file_id"]])


def _rank_groups(files: list[dict]) -> dict[int | None, list[dict]]:
    groups: dict[int | None, list[dict]] = defaultdict(list)
    for f in files:
        groups[f["rank"]].append(f)
    return groups


def _align_rank(records: list[dict], files: list[dict]) -> dict[str, dict]:
    """Align one rank's formal (or single) traces with its mapping traces; rates per stage."""
    mapping_ids = {f["file_id"] for f in files if f["role"] == "mapping"}
    if len(mapping_ids) == len(files):  # only mapping traces: they are the timing traces
        mapping_ids = set()
    formal = [k for k in records if k["file_id"] not in mapping_ids]
    mapped = [k for k in records if k["file_id"] in mapping_ids]
    paths = [f["path"] for f in files if f["file_id"] in mapping_ids]
    return apply_alignment(formal, mapped, mapping_paths=paths)


def _timing(records: list[dict], files: list[dict]) -> list[dict]:
    """The records of the timing traces (formal or single; the mapping traces when there is nothing else)."""
    mapping = {f["file_id"] for f in files if f["role"] == "mapping"}
    timing = [k for k in records if k["file_id"] not in mapping]
    return timing or records


def _stage_notes(root: str, timing: list[dict], **per_stage: dict) -> list[dict]:
    """One row per stage of what the layer, cross-root and catalog steps found (a trace without any
    stage is ``all``, as the report names it)."""
    stages = {k["stage"] for k in timing if k["stage"] != OUTSIDE}
    rekey = (lambda s: "all") if stages == {"unknown"} else (lambda s: s)
    rows: dict[str, dict] = {}
    for kind, found in per_stage.items():
        for stage, value in found.items():
            rows.setdefault(rekey(stage), {"root": root, "stage": rekey(stage)})[kind] = value
    return list(rows.values())


def attribute_root_records(conn: duckdb.DuckDBPyConnection, root: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(records, alignment rows, stage notes) of every loaded file of `root`: attribution, layers,
    alignment per rank, sites from other roots and the catalog, costs, collective metadata."""
    files = _files(conn, root)
    records = attribute_files(conn, [f["file_id"] for f in files])
    rank_of = {f["file_id"]: f["rank"] for f in files}
    by_rank: dict[int | None, list[dict]] = defaultdict(list)
    for k in records:
        k["rank"] = rank_of[k["file_id"]]
        by_rank[k["rank"]].append(k)
    layers = assign_layers(records)  # layer, slot, … on every record: alignment maps slot to slot
    alignment = []
    for rank, group in _rank_groups(files).items():
        for stage, rate in _align_rank(by_rank[rank], group).items():
            alignment.append({"root": root, "rank": rank, "stage": stage, **{k: rate.get(k) for k in RATE_KEYS}})
    timing = _timing(records, files)
    [(framework, model)] = conn.execute(read_sql("facts/root_identity.sql"), [root]).fetchall() or [(None, None)]
    cross_root = attribute_cross_root(conn, root, timing)  # graph replays still without a site: another root
    catalog = attribute_from_catalog(timing, framework, model)  # … then the kernel-site catalog
    collective_facts(conn, records)  # NCCL metadata and what the CPU did before each collective
    assign_costs(conn, records)  # FLOPs and bytes per activity from its (possibly mapped) op's shapes
    for i, k in enumerate(records):
        k["seq"] = i
    notes = _stage_notes(root, timing, layers=layers, cross_root=cross_root, catalog_sites=catalog)
    return records, alignment, notes


def facts_table(records: list[dict]) -> pa.Table:
    """Arrow table of kernel records in `kernel_facts` column order (built column by column)."""
    if not records:
        return FACT_SCHEMA.empty_table()
    with paused_gc():
        names = [c for c in FACT_COLUMNS if c != "stack_id"]
        values = dict(zip(names, columns_of(records, names)))
        values["stack_id"] = list_ids([s or () for s in values["stack"]])[1]
        arrays = [to_array(values[f.name], f.type) for f in FACT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=FACT_SCHEMA)


def store_facts(conn: duckdb.DuckDBPyConnection, root: str, records: list[dict],
                alignment: list[dict], notes: list[dict] = ()) -> tuple[dt.datetime, pa.Table]:
    """Replace `root`'s facts, alignment rates and stage notes in one transaction; return the build
    time and the facts table stored."""
    table = facts_table(records)
    rates = pa.Table.from_pylist(alignment, schema=_RATES_SCHEMA) if alignment else _RATES_SCHEMA.empty_table()
    built_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with transaction(settle(conn)):
        run_statements(conn, "facts/delete_root.sql", [root])
        with one_thread(conn, table.num_rows):
            conn.from_arrow(table).insert_into("kernel_facts")
        conn.from_arrow(rates).insert_into("alignment_rates")
        conn.from_arrow(pa.Table.from_pylist([{**n, **{k: _json(n.get(k)) for k in NOTE_KINDS}} for n in notes],
                                             schema=_NOTES_SCHEMA)).insert_into("stage_notes")
        conn.execute(read_sql("facts/record_build.sql"), [root, built_at, table.num_rows, root, FACTS_VERSION])
    return built_at, table


_RATES_SCHEMA = pa.schema([
    ("root", pa.string()), ("rank", pa.int32()), ("stage", pa.string()), ("by_count", pa.float64()),
    ("by_time", pa.float64()), ("kernels", pa.int64()), ("mapped", pa.int64()), ("time_ns", pa.int64()),
    ("mapped_ns", pa.int64()), ("source", pa.string()), ("method", pa.string()),
])


NOTE_KINDS = ("layers", "cross_root", "catalog_sites")
_NOTES_SCHEMA = pa.schema([("root", pa.string()), ("stage", pa.string()),
                           *((k, pa.string()) for k in NOTE_KINDS)])


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def build_facts(conn: duckdb.DuckDBPyConnection, root: str) -> FactsSummary:
    """Attribute and align every loaded file of `root` (all ranks) and store the facts."""
    records, alignment, notes = attribute_root_records(conn, root)
    built_at, table = store_facts(conn, root, records, alignment, notes)
    ranks = sorted({k["rank"] for k in records if k["rank"] is not None})
    return FactsSummary(root, len(records), len({k["file_id"] for k in records}), ranks, alignment, built_at, table)


def load_facts(conn: duckdb.DuckDBPyConnection, root: str, for_report: bool = False) -> pa.Table:
    """The stored facts of `root` as Arrow, in build order (files by path, kernels in time order);
    ``for_report``: the columns the analyses read (`report_facts`)."""
    sql = "facts/load_for_report.sql" if for_report else "facts/load.sql"
    return conn.sql(read_sql(sql), params=[root]).to_arrow_table()


def report_facts(table: pa.Table) -> pa.Table:
    """A facts table (`facts_table`, as stored) as `load_facts(for_report=True)` reads it back: without
    ``root`` and the ``stack`` lists, which no analysis reads (``stack_id`` stands for them)."""
    return table.drop_columns(["root", "stack"])


def stage_notes(conn: duckdb.DuckDBPyConnection, root: str) -> dict[str, dict]:
    """stage → the stored layer / cross-root / catalog findings of `root` (each a dict or None)."""
    out = {}
    for row in query_dicts(conn, read_sql("facts/stage_notes.sql"), [root]):
        out[row["stage"]] = {k: orjson.loads(row[k]) if row[k] else None for k in NOTE_KINDS}
    return out


def alignment_rates(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    """The stored alignment rates of `root`, one row per (rank, stage)."""
    return query_dicts(conn, read_sql("facts/alignment_rates.sql"), [root])
