"""The nightly matrix file (`matrix.toml`): which roots each entry re-runs, which entries capture.

An entry names a framework and a model, optionally a `roots` glob (relative to the data root) and,
for live capture, a server (`url`, or `mapping_url` + `formal_url`; docs/capture.md). The Dagster
schedules (`assets/schedules.py`) read it through here.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from pipeline.discover import TraceRoot
from pipeline.render.bundle import bundle_key


def load_matrix(path: Path) -> list[dict]:
    """`[[entry]]` tables of the matrix file (empty when the file does not exist)."""
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        entries = tomllib.load(fh).get("entry", [])
    for i, e in enumerate(entries):
        if not e.get("framework") or not e.get("model"):
            raise ValueError(f"{path}: entry {i} needs framework and model")
    return entries


def is_capture(entry: dict) -> bool:
    """Entries with a live server (`url`, or `mapping_url` + `formal_url`) are captured, not re-run."""
    return bool(entry.get("url") or entry.get("mapping_url") or entry.get("formal_url"))


def select_roots(entry: dict, roots: list[TraceRoot], data_root: Path) -> list[TraceRoot]:
    """Roots an entry names: its `roots` glob (relative to the data root), else its framework × model."""
    pattern = entry.get("roots")
    if pattern:
        return [r for r in roots if fnmatch.fnmatch(_rel(r, data_root), pattern) or fnmatch.fnmatch(r.key, pattern)]
    want = bundle_key_of_entry(entry)
    return [r for r in roots if bundle_key(r.framework, r.model) == want]


def bundle_key_of_entry(entry: dict) -> str:
    """The bundle key (`<framework>/<model slug>`) of a matrix entry."""
    return bundle_key(entry["framework"], entry["model"])


def _rel(root: TraceRoot, data_root: Path) -> str:
    try:
        return root.path.resolve().relative_to(data_root.resolve()).as_posix()
    except ValueError:
        return root.key
