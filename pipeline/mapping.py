"""Bring Python attribution to graph-replayed kernels: mapping trace first, eager steps second.

`pipeline.align` does the sequence alignment; this module decides what maps what, per stage,
and returns the match rate per stage for the report.
"""

from __future__ import annotations

from collections import defaultdict

from pipeline import align
from pipeline.classify import classify


def _steps(records: list[dict]) -> list[list[dict]]:
    """Kernel records grouped by (file, step) in time order; records outside steps form one step per file."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for k in records:
        groups[(k["file_id"], k["step"] if k["step"] is not None else -1)].append(k)
    out = []
    for key in sorted(groups, key=lambda g: (g[0], g[1])):
        out.append(sorted(groups[key], key=lambda k: (k["ts_ns"], k["ev"])))
    return out


def _by_stage(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for k in records:
        out[k["stage"]].append(k)
    return out


def _stage_key(stage: str, stages: dict[str, list[dict]]) -> str:
    return "all" if set(stages) == {"unknown"} else stage


def _rate(formal: list[dict], source: str) -> dict:
    rate = align.match_rate(formal)
    rate["source"] = source
    return rate


def _map_pair(formal: list[dict], mapping: list[dict], label: str) -> dict:
    result = align.align_steps(_steps(mapping), _steps(formal), family_of=classify)
    align.transfer(formal, result)
    for k in formal:
        if k.get("attribution") == "mapped":
            k["mapped_from"] = label
    return _rate(formal, label)


def _map_within(formal: list[dict]) -> dict | None:
    if not any(k["is_graph"] for k in formal) or all(k["is_graph"] for k in formal):
        return None
    label = "eager steps of this trace"
    align.align_within_trace(_steps(formal))
    for k in formal:
        if k.get("attribution") == "mapped":
            k["mapped_from"] = label
    return _rate(formal, label)


def apply_alignment(formal: list[dict], mapping: list[dict], mapping_paths: list[str]) -> dict[str, dict]:
    """Align per stage, mutating `formal` records; return ``{stage: match-rate dict}``."""
    out: dict[str, dict] = {}
    formal_stages = _by_stage(formal)
    mapping_stages = _by_stage(mapping)
    for stage, kernels in formal_stages.items():
        if not any(k["is_graph"] for k in kernels):
            continue
        key = _stage_key(stage, formal_stages)
        source = mapping_stages.get(stage) or (mapping if len(mapping_stages) == 1 else None)
        if source:
            out[key] = _map_pair(kernels, source, "mapping trace " + ", ".join(mapping_paths))
        else:
            rate = _map_within(formal)
            if rate is not None:
                out[key] = rate
    return out
