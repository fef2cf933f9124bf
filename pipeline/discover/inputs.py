"""Command-line paths → trace roots: a data root, a trace root, a single file, or a mapping/formal pair."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from pipeline.discover.records import DiscoveryError, TraceRoot
from pipeline.discover.walk import (discover, discover_root, inspect_file, lone_file, lone_root, normal_path,
                                    sanitize_key)


def resolve_inputs(inputs: list[Path], data_root: Path | None = None) -> list[TraceRoot]:
    """Turn CLI inputs (a data root, a trace root or a single file) into trace roots."""
    roots: list[TraceRoot] = []
    for item in inputs:
        item = normal_path(item)  # `root/x/../f.json.gz` is `root/f.json.gz`, keyed as such
        if item.is_file():
            roots.append(single_file_root(item))
            continue
        if not item.exists():
            raise FileNotFoundError(f"{item}: no such file or directory")
        own = discover_root(item, data_root or item.parent)
        found = [own] if own is not None else discover(item)
        if not found:
            raise DiscoveryError(f"{item}: no trace root here{_all_rejected(item)}")
        roots.extend(found)
    return roots


def _all_rejected(folder: Path) -> str:
    """Why a folder of files named like traces is no root: each is rejected (docs/discovery.md)."""
    reasons = []
    for path in sorted(folder.glob("*.json*"))[:3]:
        tf = inspect_file(path)
        if tf.status == "rejected":
            reasons.append(f"{path.name}: {tf.reason}")
    return f" (every trace file is rejected: {'; '.join(reasons)}; stored rows are kept)" if reasons else ""


def single_file_root(path: Path) -> TraceRoot:
    """A one-file root keyed by the file's own name (``<dir>/<file>``); model and run come from the
    file's name or content and its folder's sidecars, never from a folder's name (`walk.lone_root`)."""
    path = normal_path(path)
    return lone_root(path, sanitize_key(f"{path.parent.name}/{path.name}"))


def pair_root(mapping: Path, formal: Path) -> TraceRoot:
    """An explicit pair (`triage --mapping-input A --formal-input B`) as one root holding `mapping`
    (role mapping) and `formal` (role formal)."""
    for path in (mapping, formal):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such trace file")
    files, runs = [], []
    for role, path in (("mapping", mapping), ("formal", formal)):
        tf, run = lone_file(path)  # like a lone file: no model or run from a folder's name
        files.append(dataclasses.replace(tf, role=role, rel_path=f"{role}/{path.name}"))
        runs.append(run)
    fmt = next((f.framework for f in files if f.framework != "unknown"), "unknown")
    model = next((f.model for f in reversed(files) if f.model), None)
    fp = hashlib.sha256("".join(f.fingerprint for f in files).encode()).hexdigest()[:16]
    return TraceRoot(
        key=sanitize_key(f"pair/{formal.parent.name}/{formal.name}"), path=formal.parent, framework=fmt,
        model=model, run=runs[1] or runs[0], files=tuple(files), fingerprint=fp, status="ok", reason=None,
        server_args=None, manifest=None,
    )
