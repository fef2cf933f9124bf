"""What a server loads once, before it forks a worker per command.

Only pure-Python state: modules, parsed catalogs, compiled regexes and templates. No DuckDB
database and no Arrow compute run here: their worker threads would not survive a fork (a child
would wait on them forever), so `native_threads` is checked after warming.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import os
import time
from pathlib import Path

from pipeline.paths import SQL_DIR, TEMPLATES_DIR

MODULES = (
    "pipeline.cli", "pipeline.report.triage", "pipeline.report.build", "pipeline.render.markdown",
    "pipeline.ingest.duckjson", "pipeline.ingest.parse", "pipeline.facts", "pipeline.diff.nightly",
    "pipeline.capture.runner", "pyarrow.parquet",
)
# Threads a fork may leave behind safely: jemalloc (loaded by pyarrow) re-creates its background
# thread in the child after its own fork handlers.
FORK_SAFE_THREADS = {"jemalloc_bg_thd"}
# The command-line parser, built once (plugins' entry points scanned, the version read) unless building it
# printed something (a plugin that cannot load says so on stderr): then each command builds its own and
# prints that note to its own client, as a process of its own would.
PARSER: argparse.ArgumentParser | None = None


class UnsafeToFork(RuntimeError):
    """A thread that a fork would strand is running after warm-up (its child would wait on it forever)."""


def _catalogs() -> None:
    from pipeline import classify, frames, stage
    from pipeline.align import catalog as sites
    from pipeline.analyze import fusion
    from pipeline.collectives import load_config
    from pipeline.ingest import argspec, duckjson
    from pipeline.layers import groups
    from pipeline.roofline import architectures, devices
    from pipeline.roofline.models import registry
    from pipeline.store import declared_columns, schema_ddl

    classify.classify("warm")
    classify.load_op_hints()
    sites.site_entries()
    frames.rules()
    stage.step_stage("warm")
    groups.group_rules()
    groups.group_labels()
    argspec.specs()
    duckjson.table_columns()
    for variant in ("absolute", "relative"):
        duckjson.events_sql(variant)
    fusion.compile_catalog()
    load_config()
    registry.entries()
    devices.catalog_specs()
    architectures.catalog_architectures()
    schema_ddl(True)
    schema_ddl(False)
    declared_columns()


def _files() -> None:
    from pipeline.paths import read_sql
    from pipeline.render.markdown import environment, overlap_rules

    for path in sorted(SQL_DIR.rglob("*.sql")):
        read_sql(path.relative_to(SQL_DIR).as_posix())
    env = environment()
    for path in sorted(TEMPLATES_DIR.rglob("*.j2")):
        env.get_template(path.relative_to(TEMPLATES_DIR).as_posix())
    overlap_rules()


def _parser() -> argparse.ArgumentParser | None:
    from pipeline.cli import build_parser

    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
        parser = build_parser()
    return None if said.getvalue() else parser


def native_threads() -> list[str]:
    """Names of this process's OS threads other than the main one (Linux; empty elsewhere)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return []
    names = []
    for tid in sorted(os.listdir(tasks)):
        if int(tid) != os.getpid():
            try:
                names.append((tasks / tid / "comm").read_text().strip())
            except OSError:
                continue
    return names


def warm() -> float:
    """Load everything a command needs that survives a fork; returns the seconds it took.
    Raises UnsafeToFork when a thread that a fork would strand is running."""
    started = time.perf_counter()
    for name in MODULES:
        importlib.import_module(name)
    _catalogs()
    _files()
    global PARSER
    PARSER = _parser()
    unsafe = [t for t in native_threads() if t not in FORK_SAFE_THREADS]
    if unsafe:
        raise UnsafeToFork(f"threads running after warm-up would not survive a fork: {', '.join(unsafe)}")
    gc.collect()
    gc.freeze()  # workers then do not copy pages the collector would touch
    return time.perf_counter() - started
