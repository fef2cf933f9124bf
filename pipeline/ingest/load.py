"""Copy parsed spools into the warehouse: one transaction per trace root.

Re-loading a root replaces its rows. A file that fails to parse is recorded in
`trace_files` with its error; if an earlier load of the same file succeeded, its rows are
kept and the file is marked ``stale`` — bad input never costs what was already stored, also
when discovery now rejects the file (overwritten by garbage or by JSON that is no trace).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.discover import TraceFile, TraceRoot
from pipeline.ingest.merged import carry_split, split_merged
from pipeline.ingest.parse import ParsedFile
from pipeline.paths import read_sql, safe_join
from pipeline.store import file_id_for, one_thread, run_statements, schema_columns, settle, transaction

TRACE_FILE_COLUMNS = (
    "file_id", "root", "path", "framework", "model", "run", "role", "stage", "rank", "kind",
    "size_bytes", "fingerprint", "status", "error", "note", "events", "kernels", "base_time_ns",
    "ts_variant", "metadata", "ingested_at",
)
NO_TS = ("trace_meta", "layerwise_nodes")  # tables without a ts_ns column to shift
FLUSH_BYTES = 64 << 20  # in-memory rows gathered for one INSERT
MAX_CHUNKS = 64  # more Arrow chunks than this are combined into one before the INSERT


@dataclass
class LoadSummary:
    """What one root load stored."""

    root: str
    files: int = 0
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def _metadata(parsed: ParsedFile | None) -> str | None:
    if parsed is None:
        return None
    meta = {k: v for k, v in parsed.header.items() if k != "traceEvents"}
    meta["_categories"] = parsed.categories
    return orjson.dumps(meta, default=str).decode()


def trace_file_row(root: TraceRoot, tf: TraceFile, parsed: ParsedFile | None, status: str, error: str | None) -> tuple:
    """One `trace_files` row in TRACE_FILE_COLUMNS order."""
    return (
        file_id_for(root.key, tf.rel_path), root.key, tf.rel_path, tf.framework, tf.model, root.run,
        tf.role, tf.stage, tf.rank, tf.kind, tf.size_bytes, tf.fingerprint, status, error,
        parsed.note if parsed else tf.reason, parsed.events if parsed else None,
        parsed.kernels if parsed else None, parsed.base_time_ns if parsed else None,
        parsed.ts_variant if parsed else None, _metadata(parsed), datetime.now(timezone.utc),
    )


def _shifted(parts: list[pa.Table], table: str, base: int) -> pa.Table:
    """One file's in-memory rows of `table`, ts shifted by its base time."""
    rows = pa.concat_tables(parts, promote_options="permissive")
    if table in NO_TS or not base:
        return rows
    column = rows.schema.get_field_index("ts_ns")
    return rows.set_column(column, "ts_ns", pc.add_checked(rows["ts_ns"], base))


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> int:
    """Insert Arrow `rows` into `table` (relation API: no SQL text), columns in the table's order."""
    with one_thread(conn, rows.num_rows):
        conn.from_arrow(rows.select(list(schema_columns(table)))).insert_into(table)
    return rows.num_rows


def _insert_spooled(conn: duckdb.DuckDBPyConnection, table: str, folder: Path, base: int) -> int:
    """Insert one spooled table folder (`sql/ingest/spooled_rows.sql`: ts shifted by `base`)."""
    pattern = str(folder / "*.parquet")
    if table in NO_TS:
        rel = settle(conn).from_parquet(pattern)
    else:
        rel = settle(conn).sql(read_sql("ingest/spooled_rows.sql"), params={"base": base, "path": pattern})
    if tuple(rel.columns) != schema_columns(table):  # insert_into matches columns by position
        raise ValueError(f"{folder}: spooled columns {rel.columns} are not those of {table}")
    rel.insert_into(table)
    import pyarrow.parquet as pq  # only files too large to keep in memory spool Parquet

    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))


def _copy_rows(conn: duckdb.DuckDBPyConnection, loaded: list[ParsedFile], rows: dict[str, int]) -> None:
    """Insert the parsed files' rows, ts shifted by each file's base time.

    Rows kept in memory are gathered across files, one INSERT per table and FLUSH_BYTES (a
    root of 10,000 small files costs a statement per table, not one per file and table; the
    gathered copy stays bounded); spooled files are read from their Parquet folders, one
    INSERT per file and table.
    """
    memory: dict[str, list[pa.Table]] = {}
    held: dict[str, int] = {}  # bytes gathered per table
    for parsed in loaded:
        base = int(parsed.base_time_ns or 0)
        if parsed.tables is not None:
            for table, parts in parsed.tables.items():
                memory.setdefault(table, []).append(shifted := _shifted(parts, table, base))
                held[table] = held.get(table, 0) + shifted.get_total_buffer_size()
                if held[table] >= FLUSH_BYTES:
                    _flush(conn, table, memory.pop(table), rows)
                    held[table] = 0
            continue
        folders = parsed.spool.iterdir() if parsed.spool.is_dir() else ()  # none when no row was written
        for folder in sorted(p for p in folders if p.is_dir()):
            rows[folder.name] = rows.get(folder.name, 0) + _insert_spooled(conn, folder.name, folder, base)
    for table, tables in sorted(memory.items()):
        _flush(conn, table, tables, rows)


def _flush(conn: duckdb.DuckDBPyConnection, table: str, tables: list[pa.Table], rows: dict[str, int]) -> None:
    merged = pa.concat_tables(tables, promote_options="permissive")
    if merged.num_columns and merged.column(0).num_chunks > MAX_CHUNKS:  # DuckDB scans thousands of
        merged = merged.combine_chunks()  # tiny chunks slowly; copying a few big ones costs more
    rows[table] = rows.get(table, 0) + _insert(conn, table, merged)


def _previous_ok(conn: duckdb.DuckDBPyConnection, root: str) -> dict[int, str]:
    return dict(conn.execute(read_sql("ingest/previous_files.sql"), [root]).fetchall())


def _file_rows(root: TraceRoot, parsed: dict[str, ParsedFile | None], previous: dict[int, str],
               summary: LoadSummary) -> tuple[list[tuple], dict[int, str]]:
    """New `trace_files` rows of the root, and the files whose previous load is kept (``stale``)
    with the reason.

    A file that loaded before keeps its rows — and its `trace_files` row, which describes them —
    when it now fails to parse, is rejected by discovery (overwritten by garbage, by non-trace
    JSON) or its root is rejected; the reason is an error of this load (printed by `ingest`,
    exit 1 with ``--strict``).
    """
    rows, keep = [], {}
    for tf in root.files:
        result = parsed.get(tf.rel_path)
        fid = file_id_for(root.key, tf.rel_path)
        status, error = _status_of(root, tf, result)
        failed = status in ("error", "rejected") or (status == "skipped" and root.status != "ok")
        if failed and fid in previous:
            summary.errors.append(error or tf.rel_path)
            summary.kept.append(tf.rel_path)
            keep[fid] = f"{error}; keeping the rows of the previous successful load"
            continue
        if status == "error":
            summary.errors.append(error or tf.rel_path)
        rows.append(trace_file_row(root, tf, result, status, error))
    return rows, keep


def _replace_file_rows(conn: duckdb.DuckDBPyConnection, root: str, rows: list[tuple], keep: dict[int, str]) -> None:
    """Swap the root's `trace_files` rows for `rows`, the kept files' rows marked stale in place."""
    conn.execute(read_sql("ingest/replace_root_files.sql"), [root, list(keep)])
    if keep:
        _update_stale(conn, keep)
    if rows:  # one Arrow insert: executemany costs ~1 ms a row
        _insert(conn, "trace_files", pa.table({c: list(v) for c, v in zip(TRACE_FILE_COLUMNS, zip(*rows))}))


def _update_stale(conn: duckdb.DuckDBPyConnection, keep: dict[int, str]) -> None:
    conn.register("_kept", pa.table({"file_id": list(keep), "error": list(keep.values())}))
    try:
        conn.execute(read_sql("ingest/mark_stale.sql"))
    finally:
        conn.unregister("_kept")


def load_root(conn: duckdb.DuckDBPyConnection, root: TraceRoot,
              parsed: dict[str, ParsedFile | None]) -> LoadSummary:
    """Replace `root`'s rows with the parsed files (``parsed`` maps rel_path → result)."""
    summary = LoadSummary(root=root.key, files=len(root.files))
    previous = _previous_ok(conn, root.key)
    trace_rows, keep = _file_rows(root, parsed, previous, summary)
    carried = carry_split(conn, root.key, set(keep), previous)  # per-rank files split from a kept merged file
    kept = set(keep) | {row[0] for row in carried}
    stale_ids = [fid for fid in previous if fid not in kept]
    loaded = [r for r in (parsed.get(tf.rel_path) for tf in root.files) if r is not None and r.status == "ok"]
    with transaction(conn):
        if stale_ids:
            run_statements(conn, "ingest/delete_files.sql", [stale_ids])  # every table keyed by file_id
        _replace_file_rows(conn, root.key, trace_rows, keep)
        summary.ok = len(loaded)
        _upsert_root(conn, root, summary)
        _copy_rows(conn, loaded, summary.rows)
        if carried or any(tf.kind == "merged" for tf in root.files):
            split_merged(conn, root.key, carried)  # SGLang merged trace → one virtual file per rank
    for result in parsed.values():
        if result is not None:
            shutil.rmtree(result.spool, ignore_errors=True)
    return summary


def _status_of(root: TraceRoot, tf: TraceFile, result: ParsedFile | None) -> tuple[str, str | None]:
    if tf.status != "ok":
        return tf.status, f"{tf.path}: {tf.reason}" if tf.status == "rejected" else tf.reason
    if result is None:
        return "skipped", f"not parsed: {root.reason}" if root.status != "ok" else "not parsed"
    return result.status, result.error


def _upsert_root(conn: duckdb.DuckDBPyConnection, root: TraceRoot, summary: LoadSummary) -> None:
    status = root.status if root.status != "ok" else ("ok" if summary.ok or not summary.errors else "error")
    reason = root.reason or ("; ".join(summary.errors[:3]) if status == "error" else None)
    conn.execute(
        read_sql("ingest/upsert_root.sql"),
        [root.key, str(root.path), root.framework, root.model, root.run, root.fingerprint, status, reason,
         orjson.dumps(root.server_args).decode() if root.server_args else None, datetime.now(timezone.utc)],
    )


def spool_root_for(state_spool: Path, root_key: str) -> Path:
    """Spool folder of one root (parsed files go to ``<spool>/<hash>/<file_id>``)."""
    return safe_join(state_spool, f"{file_id_for(root_key, ''):x}")
