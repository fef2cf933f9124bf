"""The same Kineto trace in another valid spelling, and copies with one kernel's durations scaled.

Numbers are read as `Decimal` and written back digit for digit, so a respelled trace holds exactly the
same times: keys reordered, other whitespace, or timestamps moved between Kineto's two clocks —
relative to ``baseTimeNanoseconds`` (Kineto ≥ 2024-05) and absolute epoch µs (older files, no base).
Tests diff a real trace with its respelling (nothing may change) and with a scaled copy (only the
scaled kernel may).
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

NS_PER_US = Decimal(1000)
US = Decimal("0.001")


def load_exact(path: Path) -> dict:
    """A trace file (``.json`` or ``.json.gz``) with every non-integer number as `Decimal`."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


def _dump(value: Any, out: list[str], indent: str, level: int, reverse: bool) -> None:
    pad, inner = "\n" + indent * level, "\n" + indent * (level + 1)
    if isinstance(value, dict):
        items = list(value.items())[::-1] if reverse else list(value.items())
        out.append("{")
        for i, (k, v) in enumerate(items):
            out.append(("," if i else "") + inner + json.dumps(k) + " :  ")
            _dump(v, out, indent, level + 1, reverse)
        out.append(pad + "}" if items else "}")
    elif isinstance(value, list):
        out.append("[")
        for i, v in enumerate(value):
            out.append(("," if i else "") + inner)
            _dump(v, out, indent, level + 1, reverse)
        out.append(pad + "]" if value else "]")
    elif isinstance(value, Decimal):
        out.append(str(value))
    else:
        out.append(json.dumps(value))


def dumps_respelled(obj: dict, *, reverse_keys: bool = True, events_last: bool = True, indent: str = "\t") -> str:
    """`obj` as JSON text with tabs and ``" :  "`` for whitespace and every object's keys in reverse
    order; with `events_last` the top-level keys are reversed among themselves and all written before
    ``traceEvents`` (a document whose end holds lists of objects, e.g. ``distributedInfo.pg_config``
    after the events, is what `events_last=False` writes for a Kineto header)."""
    if events_last:
        header = [k for k in obj if k != "traceEvents"]
        obj = {**{k: obj[k] for k in (header[::-1] if reverse_keys else header)}, "traceEvents": obj["traceEvents"]}
        out: list[str] = ["{"]
        for i, (k, v) in enumerate(obj.items()):
            out.append(("," if i else "") + "\n" + indent + json.dumps(k) + " :  ")
            _dump(v, out, indent, 1, reverse_keys)
        return "".join(out) + "\n}\n"
    out = []
    _dump(obj, out, indent, 0, reverse_keys)
    return "".join(out) + "\n"


def write_text(text: str, path: Path) -> Path:
    """Write trace text as ``.json`` or ``.json.gz`` (by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _events_with_ts(obj: dict):
    for e in obj["traceEvents"]:
        if isinstance(e, dict) and "ts" in e and not isinstance(e["ts"], str):
            yield e


def to_absolute(obj: dict) -> dict:
    """Relative ``ts`` (µs after ``baseTimeNanoseconds``) → absolute epoch µs; the base key is dropped
    (the older Kineto spelling). Exact: µs with 3 decimals stay µs with 3 decimals."""
    base = Decimal(int(obj["baseTimeNanoseconds"])) / NS_PER_US
    out = {k: v for k, v in obj.items() if k != "baseTimeNanoseconds"}
    out["traceEvents"] = [dict(e) for e in obj["traceEvents"]]
    for e in _events_with_ts(out):
        e["ts"] = (Decimal(e["ts"]) + base).quantize(US)
    return out


def to_relative(obj: dict, base_ns: int) -> dict:
    """Absolute epoch µs ``ts`` → relative to a new ``baseTimeNanoseconds`` = `base_ns`."""
    base = Decimal(base_ns) / NS_PER_US
    out = {"baseTimeNanoseconds": base_ns, **{k: v for k, v in obj.items() if k != "baseTimeNanoseconds"}}
    out["traceEvents"] = [dict(e) for e in obj["traceEvents"]]
    for e in _events_with_ts(out):
        e["ts"] = (Decimal(e["ts"]) - base).quantize(US)
    return out


def scale_kernel(obj: dict, name: str, factor: Decimal) -> dict:
    """A copy whose GPU kernels named `name` last `factor` × as long (µs rounded to 3 decimals); start
    times are kept, so the kernel's end moves and nothing else does."""
    out = dict(obj)
    out["traceEvents"] = []
    for e in obj["traceEvents"]:
        if isinstance(e, dict) and e.get("cat") == "kernel" and e.get("name") == name:
            e = {**e, "dur": (Decimal(e["dur"]) * factor).quantize(US)}
        out["traceEvents"].append(e)
    return out
