"""An explicit mapping/formal pair (`triage --mapping-input A --formal-input B`) as one trace root."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from pipeline.discover import TraceRoot, inspect_file, sanitize_key


def pair_root(mapping: Path, formal: Path) -> TraceRoot:
    """A root holding `mapping` (role mapping) and `formal` (role formal)."""
    for path in (mapping, formal):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such trace file")
    files = []
    for role, path in (("mapping", mapping), ("formal", formal)):
        tf = inspect_file(path)
        files.append(dataclasses.replace(tf, role=role, rel_path=f"{role}/{path.name}"))
    fmt = next((f.framework for f in files if f.framework != "unknown"), "unknown")
    model = next((f.model for f in reversed(files) if f.model), None)
    fp = hashlib.sha256("".join(f.fingerprint for f in files).encode()).hexdigest()[:16]
    return TraceRoot(
        key=sanitize_key(f"pair/{formal.parent.name}/{formal.name}"), path=formal.parent, framework=fmt,
        model=model, run=formal.parent.name, files=tuple(files), fingerprint=fp, status="ok", reason=None,
        server_args=None, manifest=None,
    )
