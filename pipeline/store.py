"""The DuckDB warehouse: schema, a cross-process write queue, and atomic per-root loads.

DuckDB admits one writing process per file. Every connection to a file warehouse is taken
under an exclusive ``flock`` on ``<warehouse>.lock``, so a second loader *waits* for the first
instead of failing on DuckDB's own lock. A single root is parsed before the lock is taken;
several roots in one call share one connection while the next ones are parsed ahead
(`pipeline.ingest.iter_ingest`); inside the lock parsed tables are copied in, one
transaction per root.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline.paths import SQL_DIR, read_sql

# Tables keyed by file_id, from `sql/schema/` (raw) and derived steps (created by their SQL).
EVENT_TABLES = ("kernels", "gpu_memops", "launches", "cpu_ops", "python_frames", "annotations", "trace_meta")
LOCK_TIMEOUT_S = 3600.0
LOG = logging.getLogger("proftriage")


def file_id_for(root: str, rel_path: str) -> int:
    """Stable 63-bit id of a file within a root."""
    digest = hashlib.blake2b(f"{root}\0{rel_path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


def schema_statements() -> list[str]:
    """Every DDL file under ``sql/schema`` in name order."""
    return [read_sql(f"schema/{p.name}") for p in sorted((SQL_DIR / "schema").glob("*.sql"))]


class WarehouseLockTimeout(Exception):
    """Another process held the warehouse for longer than the timeout."""


class Warehouse:
    """A DuckDB warehouse file (or ``:memory:``) with serialised access."""

    def __init__(self, path: Path | str | None = None, lock_timeout_s: float = LOCK_TIMEOUT_S):
        self.path = ":memory:" if path in (None, ":memory:") else Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._memory_conn: duckdb.DuckDBPyConnection | None = None

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    @contextmanager
    def _lock(self) -> Iterator[None]:
        if self.in_memory:
            yield
            return
        assert isinstance(self.path, Path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a+") as fh:
            deadline = time.monotonic() + self.lock_timeout_s
            said = False
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not said:  # once: the process is queued, not hung
                        LOG.warning("waiting for the warehouse %s: another process is using it (writers queue; "
                                    "up to %.0f s)", self.path, self.lock_timeout_s)
                        said = True
                    if time.monotonic() > deadline:
                        raise WarehouseLockTimeout(f"{self.path}: still locked after {self.lock_timeout_s:.0f} s")
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An open connection with the schema in place; queued behind other processes."""
        if self.in_memory:
            if self._memory_conn is None:
                self._memory_conn = duckdb.connect(":memory:")
                ensure_schema(self._memory_conn, scratch=True)
            yield self._memory_conn
            return
        with self._lock():
            conn = duckdb.connect(str(self.path))
            try:
                ensure_schema(conn)
                yield conn
            finally:
                conn.close()


def ensure_schema(conn: duckdb.DuckDBPyConnection, scratch: bool = False) -> None:
    """Create every table that does not exist yet (idempotent), in one transaction.

    One transaction instead of one autocommit per statement: ~10× faster on a new file. The hash of
    the schema text is recorded: a warehouse already at this schema skips the DDL (one query per
    connection); after a schema change, derived tables whose columns no longer match their DDL are
    rebuilt (`_rebuild_derived`) and the missing tables created. `scratch`: a new in-memory
    warehouse that lives one process (triage's): nothing to rebuild, and the tables are created
    without their ``COMMENT ON`` column documentation (same tables and columns; those ~500
    statements were ~0.1 s of every triage).
    """
    with transaction(conn):
        conn.execute(read_sql("schema/99_schema_info.sql"))
        row = conn.execute(read_sql("meta/ddl_hash.sql")).fetchone()
        if row is not None and row[0] == ddl_hash():
            return  # created from this very schema text: nothing to do
        if not scratch:
            _rebuild_derived(conn)
        conn.execute(schema_ddl(documented=not scratch))
        conn.execute(read_sql("meta/set_ddl_hash.sql"), [ddl_hash()])


# Tables computed from the raw event tables: dropped and recreated when their definition changes
# (`proftriage analyze` builds them again; the state check names it). Raw tables are never dropped.
FACT_TABLES = ("kernel_facts", "alignment_rates", "facts_builds", "stage_notes")
DERIVED_PREFIXES = ("report_", "diff_")
TABLE_RE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\);", re.S)
COLUMN_RE = re.compile(r'^\s*"?(\w+)"?\s+([A-Z]+(?:\[\])?)', re.M)  # name, type (a quoted name read bare)


COMMENT_RE = re.compile(r"^COMMENT ON .*? IS '(?:[^']|'')*';?", re.M | re.S)  # a statement: SQL literal, '' escaped


@lru_cache(maxsize=2)
def schema_ddl(documented: bool = True) -> str:
    """Every DDL statement of `sql/schema` as one script; without `documented`, no ``COMMENT ON``."""
    text = ";\n".join(s.strip().rstrip(";") for s in schema_statements())
    return text if documented else COMMENT_RE.sub("", text)


@lru_cache(maxsize=1)
def ddl_hash() -> str:
    """Hash of the schema text."""
    return hashlib.blake2b("\n".join(schema_statements()).encode(), digest_size=16).hexdigest()


@lru_cache(maxsize=1)
def declared_columns() -> dict[str, list[str]]:
    """Every table of `sql/schema` with its column names in order, parsed from the DDL text once per
    process (DuckDB's catalog functions take ~40 ms per call; a parse ~0.7 ms)."""
    out = {}
    for ddl in schema_statements():
        for name, body in TABLE_RE.findall(ddl):
            out[name] = [c for c, _ in COLUMN_RE.findall(body) if c != "PRIMARY"]
    return out


def schema_columns(table: str) -> tuple[str, ...]:
    """`table`'s columns in sql/schema order, () for a table sql/schema does not declare."""
    return tuple(declared_columns().get(table, ()))


def _rebuild_derived(conn: duckdb.DuckDBPyConnection) -> bool:
    """Drop every derived table (`sql/meta/drop_derived.sql`: facts and reports, so none is left
    pointing at rows that are gone) when one's columns differ from its DDL; True when dropped."""
    actual = dict(conn.execute(read_sql("meta/all_columns.sql")).fetchall())
    derived = [t for t in declared_columns() if t in FACT_TABLES or t.startswith(DERIVED_PREFIXES)]
    if all(actual.get(t) == declared_columns()[t] for t in derived if t in actual):
        return False
    run_statements(conn, "meta/drop_derived.sql", [])
    return True


def file_tables() -> list[str]:
    """Every table of ``sql/schema`` with a ``file_id`` column, except ``trace_files`` itself."""
    return sorted(t for t, cols in declared_columns().items() if t != "trace_files" and "file_id" in cols)


def settle(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Finish any result an earlier ``execute(...).fetchone()`` left open (DuckDB ≥ 2 refuses
    relation-API work on the connection until then); return `conn`."""
    complete = getattr(conn, "complete", None)
    if complete is not None:
        complete()
    return conn


ONE_THREAD_MIN_ROWS = 50_000


@contextmanager
def one_thread(conn: duckdb.DuckDBPyConnection, rows: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a bulk insert of `rows` rows from Arrow on one DuckDB thread, then give the connection its
    threads back: DuckDB's multi-threaded scan of an Arrow table costs about twice the CPU for no
    speed-up (kernel_facts of the 83 MB benchmark trace: 0.27 s vs 0.14 s), while its queries keep
    every core. Below `ONE_THREAD_MIN_ROWS` the insert runs as is: the three settings statements
    (~0.7 ms) cost more than the scan saves, and a small trace makes dozens of such inserts."""
    settle(conn)
    if rows < ONE_THREAD_MIN_ROWS:
        yield conn
        return
    threads = conn.execute("SELECT current_setting('threads')").fetchone()[0]
    conn.execute("SET threads = 1")
    try:
        yield conn
    finally:
        conn.execute(f"SET threads = {int(threads)}")


def query_dicts(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    """Run a query and return its rows as dicts (via Arrow, no per-row Python tuples)."""
    return conn.sql(sql, params=params).to_arrow_table().to_pylist()


def run_statements(conn: duckdb.DuckDBPyConnection, name: str, params: list) -> None:
    """Run each statement of `sql/<name>` (several, ``;``-separated, comment lines skipped) with `params`."""
    text = "\n".join(line for line in read_sql(name).splitlines() if not line.lstrip().startswith("--"))
    for statement in filter(str.strip, text.split(";")):
        conn.execute(statement, params)


def write_through(conn: duckdb.DuckDBPyConnection) -> None:
    """Make each following commit checkpoint straight into the database file.

    With DuckDB's default 16 MB threshold a bulk load is written twice: into the WAL at
    commit, into the file at the checkpoint on close. Past the threshold a large commit skips
    the WAL and checkpoints at once (DuckDB's ``auto_checkpoint_skip_wal_threshold``), which
    is as durable and ~25 % cheaper for a 15 MB trace. Global to the database instance.
    """
    conn.execute("SET checkpoint_threshold = '1KB'")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any exception."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
