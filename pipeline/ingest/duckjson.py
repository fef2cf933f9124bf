"""Convert event batches with DuckDB's JSON reader: no Python object per event.

Each batch (a run of whole events cut by `reader.py`) is written as a JSON array file and
read by one query, `sql/ingest/events.sql`, into a wide Arrow table (one row per event,
the union of every table's columns plus the target table `tbl`); `split` then cuts it into
the warehouse tables, numbering events by row position and counting categories. The columns
read from ``args`` are generated from the event-argument spec the orjson path reads too
(`argspec.py`, `pipeline/catalog/event_args.toml`). The result is the same `BatchResult`
that the orjson path (`events.convert`) builds, so both feed the same spool; `parse.py` falls
back to the orjson path for any batch DuckDB refuses. One in-memory DuckDB database per
process (one thread per query), one cursor of it per Python thread; DuckDB releases the GIL,
so a few threads convert batches in parallel while the reader cuts the next ones.
"""

from __future__ import annotations

import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.argspec import sql_parts, wide_columns
from pipeline.ingest.events import BATCH_SHIFT, TABLES, BatchResult
from pipeline.ingest.limits import doubtful
from pipeline.paths import read_sql
from pipeline.store import schema_columns

MEMORY_LIMIT = "1GB"
# The split's Arrow buffers come from the C allocator: pyarrow's default mimalloc pool backs
# fresh allocations with transparent huge pages here, and zeroing them cost the split 10-60 ms
# per batch in a new process instead of ~10 ms (benchmarks, docs/performance.md).
POOL = pa.system_memory_pool()
_local = threading.local()
_shared: dict[str, duckdb.DuckDBPyConnection] = {}
_shared_lock = threading.Lock()
_preparing: dict[str, threading.Thread] = {}

# Wide columns of events.sql that fill a table column of another name (the spec'd args are
# mapped by argspec.wide_columns; every other column has its own name).
_RENAMED = {("annotations", "cat"): "ann_cat", ("annotations", "dur_ns"): "ann_dur_ns", ("trace_meta", "key"): "name"}


@lru_cache(maxsize=1)
def table_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Each table's columns, in sql/schema order, as (column, column of the wide result)."""
    wide = wide_columns() | _RENAMED
    return {t: tuple((c, wide.get((t, c), c)) for c in schema_columns(t)) for t in TABLES}


@lru_cache(maxsize=2)
def _template(variant: str) -> str:
    timed = read_sql("ingest/ts_relative.sql" if variant == "relative" else "ingest/ts_text.sql")
    parts = sql_parts() | {"timed": timed}
    sql = read_sql("ingest/events.sql")
    for name, text in parts.items():
        sql = sql.replace("{" + name + "}", text)
    return sql


def events_sql(variant: str) -> str:
    """`sql/ingest/events.sql` with its placeholders filled (parameters $source, $file_id):
    absolute timestamps are read digit for digit (`ts_text.sql`), relative ones as doubles."""
    return _template("relative" if variant == "relative" else "absolute")


def _database() -> duckdb.DuckDBPyConnection:
    """The process's parsing database (created once: each new instance costs ~50 ms)."""
    with _shared_lock:
        if "db" not in _shared:
            con = duckdb.connect(config={"threads": 1, "memory_limit": MEMORY_LIMIT,
                                         "preserve_insertion_order": True})
            con.execute(read_sql("ingest/macros.sql"))
            _shared["db"] = con
        return _shared["db"]


def prepare() -> None:
    """Start creating the parsing database on a background thread, if it does not exist yet.

    Called when a file's first batch is still being read, so the ~20 ms the database takes
    to start overlap the reading instead of delaying the first conversion.
    """
    if "db" not in _shared and _preparing.get("thread") is None:
        thread = _preparing["thread"] = threading.Thread(target=_prepare, name="duckjson-prepare", daemon=True)
        thread.start()


def _prepare() -> None:
    try:
        _database()
    except duckdb.Error:
        pass  # the first conversion opens it again and reports the error


def settle() -> None:
    """Wait for a `prepare` still running: a DuckDB database half-created when the process
    exits aborts it (exit 134, "terminate called …"), e.g. after a file that fails fast."""
    thread = _preparing.pop("thread", None)
    if thread is not None:
        thread.join()


class Doubtful(Exception):
    """DuckDB read the batch, but it may break a rule of `limits.py`: the orjson path decides."""


class BatchParser:
    """A cursor of the parsing database that turns batch files into Arrow tables."""

    def __init__(self) -> None:
        self.con = _database().cursor()

    def convert(self, source: Path, batch_number: int, file_id: int, variant: str = "relative",
                text: bytes | None = None) -> BatchResult:
        """Read `source` (a JSON array of events) and split it by table; raises duckdb.Error,
        or `Doubtful` when the result may break a rule of `limits.py` (`text`: the batch's
        bytes, for the check of times written as true/false).

        `variant` is the file's timestamp variant (`timestamps.detect_variant`): absolute
        timestamps need the exact DECIMAL conversion, relative ones are exact as doubles.
        """
        wide = self.con.sql(events_sql(variant), params={"source": str(source), "file_id": file_id}).to_arrow_table()
        if text is not None and doubtful(wide, text):
            raise Doubtful(str(source))
        return split(wide, batch_number << BATCH_SHIFT)


def categories(wide: pa.Table) -> Counter:
    """Events per ``"ph:cat"`` (``"ph"`` alone when cat is empty), as the orjson path counts them."""
    ph = pc.coalesce(wide["ph"], "None", memory_pool=POOL)
    cat = wide["cat"]
    joined = pc.binary_join_element_wise(ph, cat, ":", memory_pool=POOL)
    key = pc.if_else(pc.equal(pc.coalesce(cat, "", memory_pool=POOL), ""), ph, joined, memory_pool=POOL)
    counts = pc.value_counts(key.combine_chunks(memory_pool=POOL), memory_pool=POOL)  # no Acero plan, no thread pool
    return Counter(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def split(wide: pa.Table, first: int) -> BatchResult:
    """Cut the wide per-event table into the warehouse tables; `first` is the ordinal of row 0."""
    result = BatchResult(events=wide.num_rows, categories=categories(wide))
    tbl = wide["tbl"]
    for table, columns in table_columns().items():
        mask = pc.equal(tbl, table, memory_pool=POOL)
        if not pc.any(mask).as_py():
            continue
        positions = pc.indices_nonzero(mask, memory_pool=POOL)  # position in the batch → ordinal
        ev = pc.add(pc.cast(positions, pa.int64(), memory_pool=POOL), first, memory_pool=POOL)
        rows = pc.filter(wide.select([source for _, source in columns if source != "ev"]), mask, memory_pool=POOL)
        named = dict(zip([name for name, source in columns if source != "ev"], rows.columns))
        result.tables[table] = pa.table({name: ev if source == "ev" else named[name] for name, source in columns})
    return result


def thread_parser() -> BatchParser:
    """The calling thread's parser (created on first use, kept for the thread's life)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = BatchParser()
    return parser
