"""Discovery's records (TraceFile, TraceRoot), its error, and what every discovery module shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import read_catalog

MANIFEST_NAME = "proftriage.toml"
CAPTURE_NAME = "capture.json"
SERVER_ARGS_NAME = "server_args.json"
_SGLANG_RANK_RE = re.compile(r"-TP-(\d+)")


class DiscoveryError(Exception):
    """The data root (or a file given to inspect_file) cannot be used."""


@dataclass(frozen=True)
class TraceFile:
    """One trace file and what its name, sidecars and first bytes say about it."""

    path: Path
    rel_path: str
    kind: str
    framework: str
    model: str | None
    role: str
    stage: str
    rank: int | None
    size_bytes: int
    mtime_ns: int
    fingerprint: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class TraceRoot:
    """A directory that directly holds trace files (plus its mapping/ formal/ subdirs)."""

    key: str
    path: Path
    framework: str
    model: str | None
    run: str | None  # None: a lone file whose sidecars name no run
    files: tuple[TraceFile, ...]
    fingerprint: str
    status: str
    reason: str | None
    server_args: dict | None
    manifest: dict | None


@dataclass
class _Ctx:
    """What a root's sidecars and location say, shared by its files."""

    root_dir: Path
    dir_framework: str
    dir_model: str | None
    manifest: dict | None = None
    capture: dict | None = None
    server_args: dict | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sniff:
    kind: str | None   # 'kineto' | 'layerwise' | None
    decided: bool      # False: header unreadable, kind unknown
    head: str          # decoded first bytes (for content markers)
    note: str | None = None


def _rel(path: Path, root_dir: Path) -> str:
    try:
        return path.relative_to(root_dir).as_posix()
    except ValueError:
        return path.name


def _catalog() -> dict:
    return read_catalog("discovery.toml")
