"""What an event may hold: the rules both converters enforce, and the batch pre-check that
sends doubtful batches to the orjson path so the two always reach the same verdict.

An event that goes into a warehouse table (kernels, memcpy/memset, launches, CPU ops, Python
frames, annotations, metadata) is refused — the whole file is rejected, naming the file, the
event and the problem (docs/guarantees.md) — when:

* its ``args`` is present but not a JSON object (``null`` counts as absent);
* its ``name`` is longer than MAX_NAME_CHARS characters (real kernel names stay under ~2,000;
  a name of megabytes would cost analysis minutes per name);
* its ``ts`` is missing (metadata events excepted), or a complete event (``ph: X``) has no
  ``dur``;
* its ``dur`` is negative or longer than MAX_DUR_NS (one day: no profiler session lasts that
  long; the bound also keeps every sum of durations inside int64);
* ``ts``/``dur`` is not a number — ``true``/``false`` included — or out of range
  (`timestamps.MAX_ABS_NS`).

The orjson path (`events.py`) checks these on the Python objects. DuckDB's reader
(`sql/ingest/events.sql`) checks them in SQL and raises, so the batch falls back to the
orjson path, which names the event. Two things DuckDB's reader cannot see — a boolean read as
a DOUBLE (it becomes 1.0) and JSON nested deeper than orjson accepts (~1,000 levels) — are
caught before DuckDB by `needs_orjson`, a cheap scan of the batch bytes that routes a doubtful
batch to the orjson path, which then decides.
"""

from __future__ import annotations

import re

from pipeline.ingest.timestamps import MAX_ABS_NS

MAX_NAME_CHARS = 1 << 16
MAX_DUR_NS = 86_400 * 10**9
SHALLOW_DEPTH = 8  # real events nest ≤ 5 deep (event → args → Input Dims → list → list)

_BOOL_TIME = re.compile(rb'"(?:ts|dur)"\s*:\s*(?:true|false)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def sql_params() -> dict[str, int]:
    """The limits as `sql/ingest/events.sql` parameters."""
    return {"max_name": MAX_NAME_CHARS, "max_abs_ns": MAX_ABS_NS, "max_dur_ns": MAX_DUR_NS}


def needs_orjson(data: bytes) -> bool:
    """Whether a batch may hold what only the orjson path judges: a boolean ``ts``/``dur``, or
    nesting deeper than SHALLOW_DEPTH (brackets inside strings counted too, so a false alarm
    only costs the slower path)."""
    if (b"true" in data or b"false" in data) and _BOOL_TIME.search(data):
        return True
    brackets = data.translate(None, _NOT_BRACKETS)
    for _ in range(SHALLOW_DEPTH):
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return bool(brackets)
