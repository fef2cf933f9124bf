"""Copy parsed spools into the warehouse: one transaction per trace root.

Re-loading a root replaces its rows. A file that fails to parse is recorded in
`trace_files` with its error; if an earlier load of the same file succeeded, its rows are
kept and the file is marked ``stale`` — bad input never costs what was already stored.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from pipeline.discover import TraceFile, TraceRoot
from pipeline.ingest.merged import carry_split, split_merged
from pipeline.ingest.parse import ParsedFile
from pipeline.store import file_id_for, file_tables, transaction

TRACE_FILE_COLUMNS = (
    "file_id", "root", "path", "framework", "model", "run", "role", "stage", "rank", "kind",
    "size_bytes", "fingerprint", "status", "error", "note", "events", "kernels", "base_time_ns",
    "ts_variant", "metadata", "ingested_at",
)


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


def _copy_spool(conn: duckdb.DuckDBPyConnection, parsed: ParsedFile, rows: dict[str, int]) -> None:
    """Insert a parsed file's rows (Parquet spool or in-memory Arrow), ts shifted by the base time."""
    if parsed.tables is not None:
        sources = {t: pa.concat_tables(parts, promote_options="permissive") for t, parts in parsed.tables.items()}
    else:
        sources = {p.name: str(p / "*.parquet") for p in parsed.spool.iterdir() if p.is_dir()}
    for table, source in sorted(sources.items()):
        if isinstance(source, str):
            relation, params = "read_parquet(?)", [source]
        else:
            conn.register("_parsed_rows", source)
            relation, params = "_parsed_rows", []
        shift = "" if table in ("trace_meta", "layerwise_nodes") else f" REPLACE (ts_ns + {int(parsed.base_time_ns or 0)} AS ts_ns)"
        count = conn.execute(f"INSERT INTO {table} BY NAME SELECT *{shift} FROM {relation}", params).fetchone()
        if not isinstance(source, str):
            conn.unregister("_parsed_rows")
        rows[table] = rows.get(table, 0) + (count[0] if count else 0)


def _previous_ok(conn: duckdb.DuckDBPyConnection, root: str) -> dict[int, str]:
    rows = conn.execute(
        "SELECT file_id, path FROM trace_files WHERE root = ? AND status IN ('ok', 'stale')", [root]
    ).fetchall()
    return {fid: path for fid, path in rows}


def load_root(conn: duckdb.DuckDBPyConnection, root: TraceRoot,
              parsed: dict[str, ParsedFile | None]) -> LoadSummary:
    """Replace `root`'s rows with the parsed files (``parsed`` maps rel_path → result)."""
    summary = LoadSummary(root=root.key, files=len(root.files))
    previous = _previous_ok(conn, root.key)
    trace_rows, keep = [], set()
    for tf in root.files:
        result = parsed.get(tf.rel_path)
        fid = file_id_for(root.key, tf.rel_path)
        status, error = _status_of(tf, result)
        if status == "error":
            summary.errors.append(error or tf.rel_path)
            if fid in previous:
                keep.add(fid)
                status = "stale"
                error = f"{error}; keeping the rows of the previous successful load"
                summary.kept.append(tf.rel_path)
        trace_rows.append(trace_file_row(root, tf, result, status, error))
    carried = carry_split(conn, root.key, keep, previous)  # per-rank files split from a kept merged file
    keep.update(row[0] for row in carried)
    stale_ids = [fid for fid in previous if fid not in keep]
    with transaction(conn):
        for table in file_tables() if stale_ids else ():
            conn.execute(f"DELETE FROM {table} WHERE list_contains(?, file_id)", [stale_ids])
        conn.execute("DELETE FROM trace_files WHERE root = ?", [root.key])
        conn.executemany(
            f"INSERT INTO trace_files ({', '.join(TRACE_FILE_COLUMNS)}) VALUES ({', '.join('?' * len(TRACE_FILE_COLUMNS))})",
            trace_rows,
        )
        _upsert_root(conn, root, summary)
        for tf in root.files:
            result = parsed.get(tf.rel_path)
            if result is not None and result.status == "ok":
                _copy_spool(conn, result, summary.rows)
                summary.ok += 1
        if carried or any(tf.kind == "merged" for tf in root.files):
            split_merged(conn, root.key, carried)  # SGLang merged trace → one virtual file per rank
    for result in parsed.values():
        if result is not None:
            shutil.rmtree(result.spool, ignore_errors=True)
    return summary


def _status_of(tf: TraceFile, result: ParsedFile | None) -> tuple[str, str | None]:
    if tf.status != "ok":
        return tf.status, tf.reason
    if result is None:
        return "skipped", "not parsed"
    return result.status, result.error


def _upsert_root(conn: duckdb.DuckDBPyConnection, root: TraceRoot, summary: LoadSummary) -> None:
    status = root.status if root.status != "ok" else ("ok" if summary.ok or not summary.errors else "error")
    reason = root.reason or ("; ".join(summary.errors[:3]) if status == "error" else None)
    conn.execute("DELETE FROM trace_roots WHERE root = ?", [root.key])
    conn.execute(
        "INSERT INTO trace_roots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [root.key, str(root.path), root.framework, root.model, root.run, root.fingerprint, status, reason,
         orjson.dumps(root.server_args).decode() if root.server_args else None, datetime.now(timezone.utc)],
    )


def spool_root_for(state_spool: Path, root_key: str) -> Path:
    """Spool folder of one root (parsed files go to ``<spool>/<hash>/<file_id>``)."""
    return state_spool / f"{file_id_for(root_key, ''):x}"
