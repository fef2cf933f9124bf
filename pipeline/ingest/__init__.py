"""Ingest: parse trace files (outside any lock) and load them into the warehouse per root."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline.discover import TraceRoot, normal_path, resolve_inputs
from pipeline.exits import write_failure
from pipeline.ingest.layerwise import layerwise_table, load_layerwise
from pipeline.ingest.load import LoadSummary, load_root, spool_root_for
from pipeline.ingest.parse import ParsedFile, Progress, converter_threads, parse_file, size_estimate
from pipeline.ingest.reader import TraceReadError
from pipeline.ingest.spool import private_spool
from pipeline.paths import read_sql
from pipeline.store import Warehouse, file_id_for, write_through

__all__ = ["ingest_root", "ingest_inputs", "iter_ingest", "parse_root", "vanished_roots", "LoadSummary"]

IN_MEMORY_BYTES = 256 << 20
LOOKAHEAD_ROOTS = 2  # roots parsed ahead of the one loading (each ≤ IN_MEMORY_BYTES in memory, the rest spooled)


def _parse_layerwise(path: Path, file_id: int, spool_root: Path) -> ParsedFile:
    import pyarrow.parquet as pq

    spool = spool_root / str(file_id)
    parsed = ParsedFile(path=path, file_id=file_id, spool=spool)
    try:
        rows, context = load_layerwise(path)
    except TraceReadError as exc:
        parsed.status, parsed.error = "error", str(exc)
        return parsed
    except Exception as exc:  # noqa: BLE001 - recorded against the file; the run goes on
        parsed.status, parsed.error = "error", f"{path}: cannot be ingested ({type(exc).__name__}: {exc})"
        return parsed
    try:
        (spool / "layerwise_nodes").mkdir(parents=True, exist_ok=True)
        pq.write_table(layerwise_table(rows, file_id), spool / "layerwise_nodes" / "part-000000.parquet")
    except OSError as exc:
        parsed.status, parsed.error = "error", f"{path}: {write_failure(exc, spool)}"
        return parsed
    parsed.header = {"context": context}
    parsed.events = len(rows)
    return parsed


def parse_root(root: TraceRoot, spool: Path, progress: Progress | None = None,
               workers: int = 0, stop: threading.Event | None = None) -> dict[str, ParsedFile | None]:
    """Parse every loadable file of `root` into `spool` (this run's own: `private_spool`); no
    warehouse access. `stop`, once set, ends the parse with `parse.Cancelled`."""
    out: dict[str, ParsedFile | None] = {}
    spool_root = spool_root_for(spool, root.key)
    budget = IN_MEMORY_BYTES  # small files skip the Parquet spool while their rows fit this
    for tf in root.files:
        if tf.status != "ok" or root.status != "ok":
            out[tf.rel_path] = None
            continue
        fid = file_id_for(root.key, tf.rel_path)
        if tf.kind == "layerwise":
            out[tf.rel_path] = _parse_layerwise(tf.path, fid, spool_root)
        else:
            keep = size_estimate(tf.path) <= budget
            out[tf.rel_path] = got = parse_file(tf.path, fid, spool_root, workers=workers, progress=progress,
                                                in_memory=keep, stop=stop)
            budget -= got.nbytes
    return out


def ingest_root(root: TraceRoot, warehouse: Warehouse, spool: Path,
                progress: Progress | None = None, workers: int = 0) -> LoadSummary:
    """Parse a root, then replace its rows in the warehouse in one transaction."""
    return list(iter_ingest([root], warehouse, spool, progress, workers))[0]


def iter_ingest(roots: list[TraceRoot], warehouse: Warehouse, spool: Path, progress: Progress | None = None,
                workers: int = 0) -> Iterator[LoadSummary]:
    """Ingest `roots` in order, one transaction per root, yielding each summary once it is stored.

    One warehouse connection serves every root (opening it and creating the schema cost
    ~20 ms each time). One background thread parses the roots in order, up to LOOKAHEAD_ROOTS
    beyond the one loading (so neither side idles on a small root while the other works on a
    big one), the first while the warehouse opens. Commits go to DuckDB's WAL (which
    checkpoints itself past 16 MB) except the last, which checkpoints straight into the file
    (`store.write_through`), so nothing is left to write on close.

    A lone root whose parse uses several threads is parsed before the lock is taken, so its
    parse never holds other loaders up (racing the warehouse open for the cores made it
    ~10 % slower). A lone root parsed on one thread is parsed while the warehouse opens
    (DuckDB releases the GIL): such a parse is short (< ~0.1 s), and a small root gains the
    open's ~20 ms.

    Parsed files go to a folder under `spool` that only this call uses (`spool.private_spool`),
    removed when the call ends, however it ends: concurrent runs on one root never share one.
    """
    if not roots:
        return
    with private_spool(spool) as own:
        yield from _iter_ingest(roots, warehouse, own, progress, workers)


def _iter_ingest(roots: list[TraceRoot], warehouse: Warehouse, spool: Path, progress: Progress | None,
                 workers: int) -> Iterator[LoadSummary]:
    if len(roots) == 1 and _parses_on_threads(roots[0], workers):
        parsed = parse_root(roots[0], spool, progress, workers)
        with warehouse.connect() as conn:
            write_through(conn)
            yield load_root(conn, roots[0], parsed)
        return
    stop = threading.Event()  # set on the way out: a parse still running ahead ends at its next batch
    with cf.ThreadPoolExecutor(max_workers=1) as ahead:
        parsing = [ahead.submit(parse_root, root, spool, progress, workers, stop) for root in roots[:LOOKAHEAD_ROOTS]]
        try:
            with warehouse.connect() as conn:
                if not warehouse.in_memory:  # closed after the run; the other core parses ahead (~5 %)
                    conn.execute("SET threads = 1")
                for i, root in enumerate(roots):
                    parsed = parsing[i].result()
                    if i + LOOKAHEAD_ROOTS < len(roots):
                        parsing.append(ahead.submit(parse_root, roots[i + LOOKAHEAD_ROOTS], spool, progress, workers,
                                                    stop))
                    if i + 1 == len(roots):  # earlier commits may sit in the WAL; the last one checkpoints them all
                        write_through(conn)
                    parsing[i] = None  # the loaded root's tables can go
                    yield load_root(conn, root, parsed)
        finally:
            stop.set()
            for future in parsing:
                if future is not None:
                    future.cancel()


def _parses_on_threads(root: TraceRoot, workers: int) -> bool:
    """Whether parsing `root` converts some file's batches on several threads."""
    return any(converter_threads(size_estimate(tf.path), workers) > 1 for tf in root.files if tf.status == "ok")


def vanished_roots(conn: duckdb.DuckDBPyConnection, inputs: list[Path], roots: list[TraceRoot]) -> list[tuple[str, str]]:
    """(key, path) of stored roots under a folder of `inputs` that this run did not find — moved,
    deleted, or every file now rejected. Nothing deletes their rows; `ingest` names them."""
    seen = {r.key for r in roots} | {str(r.path) for r in roots}
    folders = [str(normal_path(p)) for p in inputs if Path(p).is_dir()]
    stored = conn.execute(read_sql("ingest/stored_roots.sql")).fetchall()
    return [(key, path) for key, path in stored if key not in seen and path not in seen
            and any(path == f or path.startswith(f + "/") for f in folders)]


def ingest_inputs(inputs: list[Path], warehouse: Warehouse, spool: Path, data_root: Path | None = None,
                  progress: Progress | None = None, workers: int = 0) -> list[LoadSummary]:
    """Ingest every root named by `inputs` (see `iter_ingest`)."""
    return list(iter_ingest(resolve_inputs(inputs, data_root), warehouse, spool, progress, workers))
