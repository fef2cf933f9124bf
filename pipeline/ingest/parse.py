"""Parse one trace file into a Parquet spool (one folder per warehouse table).

Parsing happens outside the warehouse lock. The reader cuts the file into batches of whole
events; each batch is converted by DuckDB's JSON reader (`duckjson.py`), or by orjson when
DuckDB refuses it. Large files are converted by a few threads (DuckDB releases the GIL)
while the reader cuts the next batches, so one file uses every core while memory stays
bounded by ``in_flight × chunk size``.

Whatever goes wrong with one file is recorded on its `ParsedFile` (status ``error`` and a
message naming the file and the problem), never raised: a malformed event (`limits.py`), an
unreadable or truncated file, a spool that cannot be written (a full disk says so). Only
`Cancelled` (the caller's stop event) escapes.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import os
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from pipeline.exits import write_failure
from pipeline.ingest import reader
from pipeline.ingest.duckjson import Doubtful, prepare, settle, thread_parser
from pipeline.ingest.events import BadEvent, BatchResult, convert
from pipeline.ingest.limits import too_deep
from pipeline.ingest.reader import (
    ArrayEndInBatch, Batch, ReaderState, TraceReadError, iter_batches, parse_events, parse_tail, split_tail,
)
from pipeline.ingest.timestamps import detect_variant, quote_times
from pipeline.paths import safe_join

PARALLEL_MIN_BYTES = 8 << 20  # files at least this big (decompressed) are converted by threads
DUCKDB_MIN_BYTES = 2 << 20  # smaller batches go to orjson: its ~20 ms fixed cost beats DuckDB
Progress = Callable[[Path, int, int, float], None]
MAX_BASE_TIME_NS = 1 << 62  # a baseTimeNanoseconds beyond this is not a time (ts + base must fit int64)


class Cancelled(Exception):
    """The caller asked the parse to stop (Ctrl-C, a closed generator)."""


class SpoolWriteError(Exception):
    """The spool could not be written; the message says why (a full disk says so)."""


@dataclass
class ParsedFile:
    """What parsing one file produced; `spool` holds ``<table>/part-*.parquet``."""

    path: Path
    file_id: int
    spool: Path
    status: str = "ok"
    error: str | None = None
    note: str | None = None
    events: int = 0
    kernels: int = 0
    header: dict = field(default_factory=dict)
    ts_variant: str = "relative"
    categories: dict = field(default_factory=dict)
    seconds: float = 0.0
    tables: dict[str, list[pa.Table]] | None = None  # rows kept in memory instead of the spool

    @property
    def nbytes(self) -> int:
        # buffer sizes, not `Table.nbytes` (which walks every slice: ~50 µs a table)
        return sum(t.get_total_buffer_size() for parts in (self.tables or {}).values() for t in parts)

    @property
    def base_time_ns(self) -> int | None:
        value = self.header.get("baseTimeNanoseconds")
        return int(value) if isinstance(value, (int, float)) else None


@dataclass
class _BatchOut:
    events: int
    kernels: int
    categories: Counter
    tail_header: dict | None
    tables: dict[str, pa.Table] | None = None  # set when the caller keeps rows in memory


def _out(result: BatchResult, out: Path, batch: Batch, header: dict | None, keep: bool) -> _BatchOut:
    """Write a converted batch's tables to the spool, or hand them back when `keep`."""
    if not keep:
        _write_tables(result.tables, out, batch)
    kernels = result.tables["kernels"].num_rows if "kernels" in result.tables else 0
    return _BatchOut(result.events, kernels, result.categories, header, result.tables if keep else None)


def _write_tables(tables: dict, out: Path, batch: Batch) -> None:
    import pyarrow.parquet as pq  # only files too large to keep in memory spool Parquet

    part = f"part-{batch.number:06d}" + (f"-{batch.first_index}" if batch.first_index else "")
    for name, table in tables.items():
        folder = out / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / f"{part}.parquet", compression="snappy")
        except OSError as exc:
            raise SpoolWriteError(write_failure(exc, out)) from None


def convert_batch(path: str, batch: Batch, variant: str, file_id: int, out: str, bare: bool,
                  keep: bool = False) -> _BatchOut:
    """Parse and convert one batch with orjson; its tables go to the spool (or back, with `keep`).

    The path for small batches, for batches DuckDB refuses and for a tail's last event. The
    cyclic GC is paused meanwhile: a batch allocates ~10^5 dicts that are all garbage
    together afterwards, and collections during the build cost ~40 % of the parse.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _convert_batch(path, batch, variant, file_id, out, bare, keep)
    finally:
        if enabled:
            gc.enable()


def _convert_batch(path: str, batch: Batch, variant: str, file_id: int, out: str, bare: bool,
                   keep: bool) -> _BatchOut:
    header = None
    if variant != "relative":  # orjson would turn 19-digit values into doubles
        batch = replace(batch, data=quote_times(batch.data))
    if batch.tail:
        events, header = parse_tail(batch, Path(path), bare)
    else:
        events = parse_events(batch, Path(path))
    try:
        result = convert(events, batch.number, variant, file_id, batch.first_index)
    except BadEvent as exc:
        raise TraceReadError(f"{path}: {exc}") from None
    return _out(result, Path(out), batch, header, keep)


def _duck_batch(batch: Batch, file_id: int, out: Path, variant: str, keep: bool = False) -> _BatchOut | None:
    """Convert a middle batch with DuckDB's JSON reader; None when DuckDB refuses it."""
    raw = out / f".batch-{batch.number:06d}.json"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with open(raw, "wb") as fh:
            fh.write(b"[")
            fh.write(batch.data)
            fh.write(b"]")
        result = thread_parser().convert(raw, batch.number, file_id, variant, batch.data)
    except (duckdb.Error, Doubtful):
        return None
    except OSError as exc:
        raise SpoolWriteError(write_failure(exc, out)) from None
    finally:
        raw.unlink(missing_ok=True)
    return _out(result, out, batch, None, keep)


def convert_any(path: str, batch: Batch, variant: str, file_id: int, out: str, bare: bool,
                keep: bool = False) -> list[_BatchOut]:
    """Convert one batch: DuckDB when it is at least DUCKDB_MIN_BYTES, else (or when DuckDB
    refuses it) orjson; a tail's last event and the document's end always go through orjson, and
    so does a batch nested too deep for DuckDB's reader to judge (`limits.too_deep`)."""
    head, rest = split_tail(batch) if batch.tail else (batch, None)
    big = head is not None and len(head.data) >= DUCKDB_MIN_BYTES and not too_deep(head.data)
    done = _duck_batch(head, file_id, Path(out), variant, keep) if big else None
    if done is None:  # small, refused or a one-event tail: the whole batch goes through orjson
        return [convert_batch(path, batch, variant, file_id, out, bare, keep)]
    if rest is None:
        return [done]
    rest = replace(rest, first_index=done.events)
    return [done, convert_batch(path, rest, variant, file_id, out, bare, keep)]


def _read_batches(parsed: ParsedFile, *args) -> list[_BatchOut]:
    """`_run_batches`; again, cut before the events array's end, when a middle batch went past
    it (`ArrayEndInBatch`: a cut in a list of objects after the array). Read once otherwise."""
    try:
        return _run_batches(parsed, *args)
    except ArrayEndInBatch as exc:
        shutil.rmtree(parsed.spool, ignore_errors=True)
        return _run_batches(parsed, *args, array_end=exc.end)


def _run_batches(parsed: ParsedFile, workers: int, progress: Progress | None, keep: bool,
                 chunk_bytes: int | None = None, stop: threading.Event | None = None,
                 array_end: int | None = None) -> list[_BatchOut]:
    state = ReaderState()
    outs: list[_BatchOut] = []
    variant: str | None = None
    started = time.perf_counter()
    pool = cf.ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    pending: list[cf.Future] = []
    try:
        for batch in iter_batches(parsed.path, state, chunk_bytes, array_end):
            if stop is not None and stop.is_set():
                raise Cancelled(str(parsed.path))
            if variant is None:
                variant = parsed.ts_variant = detect_variant(batch.data[: 1 << 20])
            args = (str(parsed.path), batch, variant, parsed.file_id, str(parsed.spool), state.bare, keep)
            if pool is None:
                outs.extend(convert_any(*args))
            else:
                pending.append(pool.submit(convert_any, *args))
                while len(pending) > 2 * workers:
                    outs.extend(pending.pop(0).result())
            if progress:
                progress(parsed.path, state.bytes_in, sum(o.events for o in outs), time.perf_counter() - started)
        for future in pending:
            outs.extend(future.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    parsed.header = state.header
    return outs


def _finish(parsed: ParsedFile, outs: list[_BatchOut]) -> None:
    cats: Counter = Counter()
    for out in outs:
        parsed.events += out.events
        parsed.kernels += out.kernels
        cats.update(out.categories)
        for name, table in (out.tables or {}).items():
            parsed.tables.setdefault(name, []).append(table)
        if out.tail_header:
            parsed.header = {**parsed.header, **out.tail_header}
    parsed.categories = dict(cats)
    if parsed.events == 0:
        parsed.note = "traceEvents is empty"
    elif parsed.kernels == 0:
        cpu = cats.get("X:cpu_op", 0) + cats.get("X:python_function", 0)
        parsed.note = "no GPU kernels (CPU-only trace)" if cpu else "no GPU kernels"


def size_estimate(path: Path) -> int:
    """Decompressed size of a trace file: gzip's trailer (ISIZE, size mod 2^32), else ×8.

    0 when the file cannot be read: the parse then reports why."""
    try:
        size = path.stat().st_size
        if path.suffix != ".gz" or size < 18:
            return size
        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            isize = int.from_bytes(fh.read(4), "little")
    except OSError:
        return 0
    return isize if isize >= size else size * 8  # wrapped past 4 GiB or a multi-member file


def converter_threads(estimate: int, workers: int = 0) -> int:
    """Threads converting a file's batches: `workers` if given, else one per core (up to 4)
    for a file of at least PARALLEL_MIN_BYTES decompressed, else one."""
    if workers > 0:
        return workers
    return min(os.cpu_count() or 1, 4) if estimate >= PARALLEL_MIN_BYTES else 1


def parse_file(path: Path, file_id: int, spool_root: Path, *, workers: int = 0,
               progress: Progress | None = None, in_memory: bool = False,
               stop: threading.Event | None = None) -> ParsedFile:
    """Parse `path` into ``spool_root/<file_id>/`` (or into memory); errors are recorded, never raised.

    `in_memory` keeps the Arrow tables in `ParsedFile.tables` instead of writing Parquet:
    for small files, where the spool's writes and reads cost more than the parse. `stop`,
    once set, ends the parse between two batches with `Cancelled`. `spool_root` must be
    this process's own (`spool.private_spool`): the file's folder in it is replaced.
    """
    spool = safe_join(spool_root, str(file_id))
    parsed = ParsedFile(path=path, file_id=file_id, spool=spool, tables={} if in_memory else None)
    started = time.perf_counter()
    try:
        if spool.exists():  # created on first write only: most files never spool (`in_memory`)
            shutil.rmtree(spool)
        _parse_into(parsed, workers, progress, in_memory, stop)
    except SpoolWriteError as exc:
        parsed.status, parsed.error = "error", f"{path}: {exc}"
    except OSError as exc:
        parsed.status, parsed.error = "error", f"{path}: {write_failure(exc, spool)}"
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the run; it is recorded
        parsed.status, parsed.error = "error", f"{path}: cannot be ingested ({type(exc).__name__}: {exc})"
    finally:
        settle()
    if parsed.status != "ok":
        shutil.rmtree(spool, ignore_errors=True)
        parsed.tables = None if parsed.tables is None else {}
    parsed.seconds = time.perf_counter() - started
    return parsed


def _parse_into(parsed: ParsedFile, workers: int, progress: Progress | None, in_memory: bool,
                stop: threading.Event | None) -> None:
    path = parsed.path
    estimate = size_estimate(path)
    if estimate >= DUCKDB_MIN_BYTES:
        prepare()  # the parsing database starts while the first batch is read
    workers = converter_threads(estimate, workers)
    # A mid-size file is cut into one batch per thread (each DuckDB query costs ~7 ms to plan).
    chunk = None if workers == 1 else min(reader.CHUNK_BYTES, max(2 * DUCKDB_MIN_BYTES, estimate // workers))
    try:
        _finish(parsed, _read_batches(parsed, workers, progress, in_memory, chunk, stop))
        _check_base_time(parsed)
    except TraceReadError as exc:
        parsed.status, parsed.error = "error", str(exc)
    except OSError as exc:  # writes raise SpoolWriteError, so this is the trace itself
        parsed.status, parsed.error = "error", f"{path}: cannot read ({exc.strerror or exc})"


def _check_base_time(parsed: ParsedFile) -> None:
    value = parsed.header.get("baseTimeNanoseconds")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < MAX_BASE_TIME_NS:
        raise TraceReadError(f"{parsed.path}: baseTimeNanoseconds is {value!r}, not a time in nanoseconds")
