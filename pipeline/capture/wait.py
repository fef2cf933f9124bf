"""Wait until a stage's trace files are really written, per rank, with bounded time.

A file counts only if it is new or changed since the stage's snapshot, complete (gzip:
the stream reaches its trailer and the JSON closes; plain JSON: closes with `}`/`]` and
parses) and the same size on two polls in a row.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.capture.errors import CaptureError
from pipeline.capture.http import OutOfTime, time_left

Snapshot = dict[str, tuple[int, int]]
PARSE_LIMIT = 64 << 20  # plain JSON above this is checked by its closing bracket only
CHUNK = 1 << 20


def list_traces(directory: Path, globs: list[str]) -> list[Path]:
    """Trace files directly in `directory` matching any glob (no recursion)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and any(fnmatch.fnmatch(p.name, g) for g in globs))


def snapshot(directory: Path, globs: list[str]) -> Snapshot:
    """(size, mtime_ns) of every trace already there, to ignore unchanged ones later."""
    out: Snapshot = {}
    for p in list_traces(directory, globs):
        st = p.stat()
        out[p.name] = (st.st_size, st.st_mtime_ns)
    return out


def _ends_json(tail: bytes) -> bool:
    return tail.rstrip()[-1:] in (b"}", b"]")


def _gzip_state(path: Path) -> str | None:
    """None when the gzip stream(s) end properly and the JSON closes, else a reason."""
    decomp, tail = zlib.decompressobj(31), b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                while chunk:
                    out = decomp.decompress(chunk)
                    tail = (tail + out)[-64:] if out.strip() else tail
                    chunk = decomp.unused_data if decomp.eof else b""
                    if chunk:
                        decomp = zlib.decompressobj(31)
    except zlib.error as err:
        return f"gzip stream corrupt: {err}"
    if not decomp.eof:
        return "gzip trailer missing"
    return None if _ends_json(tail) else "JSON inside gzip not closed"


def _json_state(path: Path, size: int) -> str | None:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 64))
        tail = fh.read()
    if not _ends_json(tail):
        return "JSON not closed (no final } or ])"
    if size <= PARSE_LIMIT:
        try:
            json.loads(path.read_bytes())
        except ValueError as err:
            return f"JSON does not parse: {err}"
    return None


def incomplete_reason(path: Path) -> str | None:
    """Why `path` is not a complete trace yet, or None when it is."""
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    if path.name.endswith(".gz"):
        return _gzip_state(path)
    return _json_state(path, size)


@dataclass
class _Seen:
    size: int = -1
    mtime_ns: int = -1
    stable: bool = False
    reason: str | None = "not checked"
    changed_at: float = field(default_factory=time.monotonic)


@dataclass
class WaitSpec:
    """What to wait for and for how long."""

    directory: Path
    globs: list[str]
    before: Snapshot
    route: str
    timeout: float = 180.0
    poll: float = 0.5
    settle: float = 3.0
    expected_ranks: int | None = None
    rank_of: Callable[[str], int | None] = lambda name: None
    elsewhere: list[Path] = field(default_factory=list)
    elsewhere_before: dict[str, Snapshot] = field(default_factory=dict)


def _new_files(spec: WaitSpec) -> list[Path]:
    out = []
    for p in list_traces(spec.directory, spec.globs):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if spec.before.get(p.name) != (st.st_size, st.st_mtime_ns):
            out.append(p)
    return out


def _update(seen: dict[str, _Seen], files: list[Path], now: float) -> None:
    for p in files:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        s = seen.setdefault(p.name, _Seen())
        if (st.st_size, st.st_mtime_ns) != (s.size, s.mtime_ns):
            s.stable = False
            s.size, s.mtime_ns, s.changed_at, s.reason = st.st_size, st.st_mtime_ns, now, "still growing"
        elif not s.stable:
            s.stable = True
            s.reason = incomplete_reason(p)


def _done(spec: WaitSpec, seen: dict[str, _Seen], now: float) -> bool:
    if not seen or any(not s.stable or s.reason for s in seen.values()):
        return False
    if spec.expected_ranks:
        ranks = {spec.rank_of(n) for n in seen} - {None}
        return len(ranks) >= spec.expected_ranks
    return now - max(s.changed_at for s in seen.values()) >= spec.settle


def wait_for_traces(spec: WaitSpec) -> list[Path]:
    """Poll until the new traces are complete and settled; raise `CaptureError` after
    `spec.timeout`, `http.OutOfTime` when the command's own deadline comes first."""
    seen: dict[str, _Seen] = {}
    left = time_left(f"before waiting for traces in {spec.directory}")
    budget = spec.timeout if left is None else min(spec.timeout, left)
    deadline = time.monotonic() + budget
    while True:
        now = time.monotonic()
        _update(seen, _new_files(spec), now)
        if _done(spec, seen, now):
            return [spec.directory / n for n in sorted(seen)]
        if now >= deadline:
            if budget < spec.timeout:
                raise OutOfTime("capture ran out of time (its --timeout) while waiting for traces: "
                                + _timeout_message(spec, seen, budget))
            raise CaptureError(_timeout_message(spec, seen, budget))
        time.sleep(min(spec.poll, max(0.0, deadline - now)))


def _describe(seen: dict[str, _Seen]) -> str:
    parts = []
    for name, s in sorted(seen.items()):
        parts.append(f"{name} ({s.reason})" if s.reason else f"{name} (complete)")
    return ", ".join(parts)


def _elsewhere(spec: WaitSpec) -> list[str]:
    hits = []
    for d in spec.elsewhere:
        if d.resolve() == spec.directory.resolve():
            continue
        before = spec.elsewhere_before.get(str(d), {})
        for p in list_traces(d, spec.globs):
            st = p.stat()
            if before.get(p.name) != (st.st_size, st.st_mtime_ns):
                hits.append(str(p))
    return hits


def _timeout_message(spec: WaitSpec, seen: dict[str, _Seen], waited: float) -> str:
    head = f"after {spec.route}: "
    bad = {n: s for n, s in seen.items() if s.reason}
    if not seen:
        msg = head + f"no new trace in {spec.directory} after {waited:g} s"
    elif bad:
        msg = head + (f"no complete trace set in {spec.directory} after {waited:g} s; "
                      f"saw {len(bad)} partial file{'s' if len(bad) > 1 else ''} {_describe(bad)}")
    else:
        ranks = sorted({spec.rank_of(n) for n in seen} - {None})
        msg = head + (f"only ranks {ranks} of {spec.expected_ranks} expected appeared in "
                      f"{spec.directory} after {waited:g} s: {_describe(seen)}")
    other = _elsewhere(spec)
    if other:
        msg += ("; but new trace(s) appeared elsewhere: " + ", ".join(other) +
                " — the server writes there, so pass that directory (it must be the server's "
                "trace dir) or relaunch the server with its trace dir under --output-dir")
    return msg


def move_into(files: list[Path], target: Path) -> list[Path]:
    """Move traces into `target` (rename when possible), avoiding name collisions."""
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for p in files:
        dest = target / p.name
        if dest.exists():
            dest = target / f"{time.time_ns()}-{p.name}"
        try:
            os.replace(p, dest)
        except OSError:
            import shutil

            shutil.move(str(p), dest)
        moved.append(dest)
    return moved
