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

The orjson path (`events.py`) checks these on the Python objects. DuckDB's reader checks the
args rule in SQL (`sql/ingest/events.sql` raises); the others are looked at on its result
(`doubtful`: a few Arrow aggregates), and so are two things it cannot see: a ``true``/``false``
time (it reads one as 1.0/0.0, so a time of exactly 0 or 1 µs sends the batch text to
`boolean_times`) and JSON nested deeper than orjson accepts (~1,000 levels, in any key:
`too_deep`, a scan of the batch's brackets before DuckDB). Any doubt hands the batch to the
orjson path, which names the event or finds nothing wrong: a false alarm only costs speed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.timestamps import MAX_ABS_NS

MAX_NAME_CHARS = 1 << 16
MAX_DUR_NS = 86_400 * 10**9
SHALLOW_DEPTH = 8  # real events nest ≤ 5 deep (event → args → Input Dims → list → list)

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_WS = b" \t\r\n"
_ZERO_OR_ONE = pa.array([0, 1000], pa.int64())  # ns of a time read from false / true


def too_deep(data: bytes) -> bool:
    """Whether a batch's brackets nest more than about SHALLOW_DEPTH levels (brackets inside
    strings counted too, so a false alarm only costs the slower path). ~0.5 ms per MB."""
    brackets = data.translate(None, _NOT_BRACKETS)
    for _ in range(SHALLOW_DEPTH):  # each pass removes one or two innermost levels
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return bool(brackets)


def doubtful(wide: pa.Table, text: bytes) -> bool:
    """Whether DuckDB's wide result (`sql/ingest/events.sql`) of the batch `text` may break a
    rule: a tabled event's name over the limit, a missing ts or dur, a ts or dur out of range,
    a time of 0 or 1 µs written as false/true. Over-inclusive (every row counts), never misses."""
    if not len(wide):
        return False
    tabled = pc.is_valid(wide["tbl"])
    if _longest(wide["name"], pc.binary_length) > MAX_NAME_CHARS and \
            _longest(pc.filter(wide["name"], tabled), pc.utf8_length) > MAX_NAME_CHARS:
        return True
    timed = pc.and_(tabled, pc.not_equal(wide["tbl"], "trace_meta"))
    complete = pc.and_(tabled, pc.fill_null(pc.equal(wide["ph"], "X"), False))
    if pc.any(pc.and_(timed, pc.is_null(wide["ts_ns"]))).as_py() or \
            pc.any(pc.and_(complete, pc.is_null(wide["dur_ns"]))).as_py():
        return True
    words = set()
    for column, low, high in (("ts_ns", 1 - MAX_ABS_NS, MAX_ABS_NS - 1), ("dur_ns", 0, MAX_DUR_NS)):
        least, most = (v.as_py() for v in pc.min_max(wide[column]).values())
        if least is not None and (least < low or most > high):
            return True
        found = pc.unique(pc.filter(wide[column], pc.is_in(wide[column], _ZERO_OR_ONE))).to_pylist()
        words.update(b"false" if v == 0 else b"true" for v in found)
    return boolean_times(text, sorted(words))


def _longest(names: pa.ChunkedArray, length) -> int:
    return pc.max(length(names)).as_py() or 0



def boolean_times(text: bytes, words: list[bytes]) -> bool:
    """Whether the batch text writes a ``"ts"`` or ``"dur"`` as one of `words` (true/false); a key
    inside a string matches too (the orjson path then finds nothing wrong)."""
    for word in words:
        at = text.find(word)
        while at >= 0:
            if _time_key_before(text, at):
                return True
            at = text.find(word, at + len(word))
    return False


def _time_key_before(text: bytes, at: int) -> bool:
    """Whether ``"ts"`` or ``"dur"``, a colon and any blanks come right before `at`."""
    at = _skip_blanks_back(text, at)
    if at == 0 or text[at - 1] != 0x3A:  # ':'
        return False
    key_end = _skip_blanks_back(text, at - 1)
    return text.endswith(b'"ts"', 0, key_end) or text.endswith(b'"dur"', 0, key_end)


def _skip_blanks_back(text: bytes, at: int) -> int:
    while at > 0 and text[at - 1] in _WS:
        at -= 1
    return at
