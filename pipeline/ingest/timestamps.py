"""Kineto timestamps → integer nanoseconds, exactly, for the three variants in the wild.

1. ``relative``: µs with 3 decimals relative to ``baseTimeNanoseconds`` (Kineto ≥ 2024-05) —
   also TraceLens slices, which keep relative ``ts`` but drop the base. Values stay below
   2^53 ns, so ``round(ts * 1000)`` on a double is exact.
2. ``absolute_us``: integer epoch µs (Kineto before 2024-03). Python ints stay exact.
3. ``absolute_us_ns``: epoch µs with 3 decimals (19 significant digits, 2024-03 → 2024-04).
   A double cannot hold them, so the orjson path rewrites the batch text to quote ``ts``
   before parsing (`quote_times`) and converts the decimal strings digit by digit; DuckDB
   takes the digits from each event's text (`sql/ingest/ts_text.sql`). ``dur`` stays a
   number: durations are far below 2^53 ns, so ``round(dur * 1000)`` on a double is exact.

Both converters (`events.py` here, `sql/ingest/events.sql` in DuckDB) read a value the same
way: a JSON number, or a string holding one. Halves round away from zero (DuckDB's
``round``). Anything else — ``true``/``false`` included, and any value whose nanoseconds reach
``MAX_ABS_NS`` (2^62, ~146 years: a relative ts plus an epoch base still fits int64) — is not a
time: the file is rejected with the event and the value named (`BadNumber`), instead of
storing a kernel without a time or with a wrong one (docs/guarantees.md).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

_TS_SAMPLE = re.compile(rb'"ts"\s*:\s*(-?\d+)(\.\d+)?')
_TS_KINETO = re.compile(rb'"ts": (-?\d+(?:\.\d+)?)')  # Kineto's own spelling: a literal prefix, fast
_TS_ANY = re.compile(rb'("ts"\s*:\s*)(-?\d+(?:\.\d+)?)')
ABSOLUTE_MIN_US = 10**14  # ~1973 in epoch µs; relative ts never get this large
MAX_ABS_NS = 1 << 62  # |ts| and dur in ns stay below this (ts + baseTimeNanoseconds fits int64)


def detect_variant(sample: bytes) -> str:
    """Guess the timestamp variant from the first ``ts`` values of a batch."""
    for n, match in enumerate(_TS_SAMPLE.finditer(sample)):
        if int(match.group(1)) >= ABSOLUTE_MIN_US:
            return "absolute_us_ns" if match.group(2) else "absolute_us"
        if n >= 50:
            break
    return "relative"


def quote_times(data: bytes) -> bytes:
    """Rewrite ``"ts": 123.456`` as ``"ts": "123.456"`` so the digits survive parsing.

    Kineto writes ``"ts": `` with one space, which a literal-prefix pattern finds ~2× faster;
    when that misses a ``"ts"`` key (another writer's spacing) the general pattern runs. One
    C-level split and a join: ``re.sub`` with a template expands each match in Python.
    """
    parts = _TS_KINETO.split(data)
    if len(parts) // 2 == data.count(b'"ts"'):
        parts[1::2] = [b'"ts": "%s"' % n for n in parts[1::2]]
        return b"".join(parts)
    parts = _TS_ANY.split(data)
    parts[2::3] = [b'"%s"' % n for n in parts[2::3]]
    return b"".join(parts)


_DECIMAL = re.compile(r"\s*(-?)(\d+)(?:\.(\d*))?\s*")


class BadNumber(ValueError):
    """A time value that is neither a number nor a string holding one."""

    def __init__(self, index: int, value: object, why: str = "not a number"):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as JSON writes it
        super().__init__(f"{why}: {shown}")
        self.index, self.value = index, value


def _exact_ns(value: object, index: int) -> int | None:
    """One absolute timestamp → ns, decimal digits kept exactly (DuckDB's DECIMAL(38,3) cast).

    A float counts by its shortest decimal spelling (what DuckDB's reader renders it as), not
    by its binary value: ``1712170298123557.0`` is ...557000 ns, never ...557120.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadNumber(index, value)
    if isinstance(value, int):
        return _bounded(value * 1000, index, value)
    text = repr(value) if isinstance(value, float) else value
    match = _DECIMAL.fullmatch(text)
    if match:  # the common case, without Decimal
        sign, whole, frac = match.groups()
        frac = frac or ""
        ns = int(whole) * 1000 + int((frac + "000")[:3]) + (frac[3:4] >= "5")
        return _bounded(-ns if sign else ns, index, value)
    try:  # exponent forms
        number = Decimal(text.strip())
    except InvalidOperation:
        raise BadNumber(index, value) from None
    if not number.is_finite():
        raise BadNumber(index, value)
    return _bounded(int((number * 1000).to_integral_value(ROUND_HALF_UP)), index, value)


def _bounded(ns: int, index: int, value: object) -> int:
    if -MAX_ABS_NS < ns < MAX_ABS_NS:
        return ns
    raise BadNumber(index, value, "out of range")


def _as_double(value: object, index: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and "_" not in value:  # Python reads "1_000"; DuckDB does not
        try:
            number = float(value)
        except ValueError:
            raise BadNumber(index, value) from None
        if math.isfinite(number):
            return number
    raise BadNumber(index, value)


def to_ns(values: list, variant: str) -> pa.Array:
    """Convert µs values (number, numeric string or None) to int64 ns; raises `BadNumber`.

    ``variant`` is the file's timestamp variant for ``ts``; durations are always converted
    as ``"relative"`` (doubles are exact for them).
    """
    if variant != "relative":
        return pa.array([_exact_ns(v, i) for i, v in enumerate(values)], pa.int64())
    arr = None
    if bool not in set(map(type, values)):  # pyarrow would read true/false as 1.0/0.0
        try:
            arr = pa.array(values, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    if arr is None:
        arr = pa.array([_as_double(v, i) for i, v in enumerate(values)], pa.float64())
    ns = pc.round(pc.multiply(arr, 1000.0), round_mode="half_towards_infinity")
    low, high = pc.min_max(ns).values()  # one pass; ±inf (from 1e999) is out of range too
    if low.is_valid and (high.as_py() >= MAX_ABS_NS or low.as_py() <= -MAX_ABS_NS):
        inside = pc.fill_null(pc.less(pc.abs(ns), float(MAX_ABS_NS)), True)
        bad = pc.index(inside, False).as_py()
        raise BadNumber(bad, values[bad], "not a number" if math.isinf(ns[bad].as_py()) else "out of range")
    return pc.cast(ns, pa.int64())
