"""The smallest valid Kineto trace: one kernel event shape, and a root of many three-kernel files.

Used where the cost per file is measured or tested (`benchmarks/robustness.py`,
`tests/test_limits.py`), not for analysis: the events carry only what ingest requires.
"""

from __future__ import annotations

from pathlib import Path

import orjson

KERNEL = {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1.0, "dur": 1.0,
          "args": {"correlation": 1}}


def write_tiny_root(root: Path, files: int) -> Path:
    """`files` per-rank trace files of three kernels each under `root` (created); returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        events = [dict(KERNEL, ts=1.0 + j, args={"correlation": j}) for j in range(3)]
        (root / f"f{i:05d}-rank-{i}.trace.json").write_bytes(orjson.dumps({"traceEvents": events}))
    return root
