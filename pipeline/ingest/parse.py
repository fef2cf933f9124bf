"""Parse one trace file into a Parquet spool (one folder per warehouse table).

Parsing happens outside the warehouse lock. Large files are converted batch by batch in a
process pool (the reader only cuts bytes, workers parse and write Parquet), so one file uses
every core while memory stays bounded by ``in_flight × chunk size``.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing as mp
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from pipeline.ingest.events import convert
from pipeline.ingest.reader import (
    Batch, ReaderState, TraceReadError, iter_batches, parse_events, parse_tail,
)
from pipeline.ingest.timestamps import detect_variant, quote_times

PARALLEL_MIN_BYTES = 64 << 20
Progress = Callable[[Path, int, int, float], None]


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


def _write_tables(tables: dict, out: Path, number: int) -> None:
    for name, table in tables.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-{number:06d}.parquet", compression="snappy")


def convert_batch(path: str, batch: Batch, variant: str, file_id: int, out: str, bare: bool) -> _BatchOut:
    """Parse and convert one batch, writing its Parquet parts (runs in a worker process).

    The cyclic GC is paused meanwhile: a batch allocates ~10^5 dicts that are all garbage
    together afterwards, and collections during the build cost ~40 % of the parse.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _convert_batch(path, batch, variant, file_id, out, bare)
    finally:
        if enabled:
            gc.enable()


def _convert_batch(path: str, batch: Batch, variant: str, file_id: int, out: str, bare: bool) -> _BatchOut:
    if variant == "absolute_us_ns":
        batch = Batch(batch.number, quote_times(batch.data), batch.offset, batch.tail)
    header = None
    if batch.tail:
        events, header = parse_tail(batch, Path(path), bare)
    else:
        events = parse_events(batch, Path(path))
    result = convert(events, batch.number, variant, file_id)
    _write_tables(result.tables, Path(out), batch.number)
    kernels = result.tables["kernels"].num_rows if "kernels" in result.tables else 0
    return _BatchOut(result.events, kernels, result.categories, header)


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))


def _run_batches(parsed: ParsedFile, workers: int, progress: Progress | None) -> list[_BatchOut]:
    state = ReaderState()
    outs: list[_BatchOut] = []
    variant: str | None = None
    started = time.perf_counter()
    pool = _pool(workers) if workers > 1 else None
    pending: list[cf.Future] = []
    try:
        for batch in iter_batches(parsed.path, state):
            if variant is None:
                variant = parsed.ts_variant = detect_variant(batch.data[: 1 << 20])
            args = (str(parsed.path), batch, variant, parsed.file_id, str(parsed.spool), state.bare)
            if pool is None:
                outs.append(convert_batch(*args))
            else:
                pending.append(pool.submit(convert_batch, *args))
                while len(pending) > 2 * workers:
                    outs.append(pending.pop(0).result())
            if progress:
                progress(parsed.path, state.bytes_in, sum(o.events for o in outs), time.perf_counter() - started)
        outs.extend(f.result() for f in pending)
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
        if out.tail_header:
            parsed.header = {**parsed.header, **out.tail_header}
    parsed.categories = dict(cats)
    if parsed.events == 0:
        parsed.note = "traceEvents is empty"
    elif parsed.kernels == 0:
        cpu = cats.get("X:cpu_op", 0) + cats.get("X:python_function", 0)
        parsed.note = "no GPU kernels (CPU-only trace)" if cpu else "no GPU kernels"


def parse_file(path: Path, file_id: int, spool_root: Path, *, workers: int = 0,
               progress: Progress | None = None) -> ParsedFile:
    """Parse `path` into ``spool_root/<file_id>/``; errors are recorded, never raised."""
    spool = spool_root / str(file_id)
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(parents=True, exist_ok=True)
    parsed = ParsedFile(path=path, file_id=file_id, spool=spool)
    started = time.perf_counter()
    if workers <= 0:
        big = path.stat().st_size >= PARALLEL_MIN_BYTES // (8 if path.suffix == ".gz" else 1)
        workers = min(os.cpu_count() or 1, 4) if big else 1
    try:
        _finish(parsed, _run_batches(parsed, workers, progress))
    except TraceReadError as exc:
        parsed.status, parsed.error = "error", str(exc)
    except OSError as exc:
        parsed.status, parsed.error = "error", f"{path}: cannot read ({exc.strerror or exc})"
    if parsed.status != "ok":
        shutil.rmtree(spool, ignore_errors=True)
    parsed.seconds = time.perf_counter() - started
    return parsed
