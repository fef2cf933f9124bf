"""Bring Python attribution to graph-replayed kernels: mapping trace first, eager steps second.

`pipeline.align` does the sequence alignment; this module decides what maps what, per stage,
and returns the match rate per stage for the report.
"""

from __future__ import annotations

from collections import defaultdict

from pipeline.align import sequence as align
from pipeline.classify import classify
from pipeline.stage import OUTSIDE, group_by_stage


def _steps(records: list[dict]) -> list[list[dict]]:
    """Kernel records grouped by (file, step) in time order; records outside steps form one step per file."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for k in records:
        groups[(k["file_id"], k["step"] if k["step"] is not None else -1)].append(k)
    out = []
    for key in sorted(groups, key=lambda g: (g[0], g[1])):
        out.append(sorted(groups[key], key=lambda k: (k["ts_ns"], k["ev"])))
    return out


def _stage_key(stage: str, stages: dict[str, list[dict]]) -> str:
    return "all" if set(stages) == {"unknown"} else stage


def _rate(formal: list[dict], source: str) -> dict:
    rate = align.match_rate(formal)
    rate["source"] = source
    return rate


def _apply(formal: list[dict], result: "align.AlignmentResult", label: str) -> dict:
    """Copy the transferred attribution back into the caller's records (in place)."""
    for old, new in zip(formal, align.transfer(formal, result)):
        if new.get("attribution") == "mapped":
            old.update(new, mapped_from=label)
        match = result.match_for(old)
        old["match_kind"] = match.kind if match else None
    return _rate(formal, label)


def _map_pair(formal: list[dict], mapping: list[dict], label: str) -> dict:
    return _apply(formal, align.align_steps(_steps(mapping), _steps(formal), family_of=classify), label)


def _map_within(formal: list[dict]) -> dict | None:
    steps = _steps(formal)
    if not any(s and not any(k["is_graph"] for k in s) for s in steps):
        return None  # no eager step to learn from
    result = align.align_within_trace(_steps(formal), family_of=classify)
    return _apply(formal, result, "eager steps of this trace")


def apply_alignment(formal: list[dict], mapping: list[dict], mapping_paths: list[str]) -> dict[str, dict]:
    """Align per stage, mutating `formal` records; return ``{stage: match-rate dict}``."""
    out: dict[str, dict] = {}
    formal_stages = group_by_stage(formal)
    mapping_stages = group_by_stage([k for k in mapping if k["stage"] != OUTSIDE])
    everything = [k for ks in mapping_stages.values() for k in ks]
    for stage, kernels in formal_stages.items():
        if stage == OUTSIDE or not any(k["is_graph"] for k in kernels):
            continue
        key = _stage_key(stage, formal_stages)
        source = mapping_stages.get(stage) or everything
        if source:
            out[key] = _map_pair(kernels, source, "mapping trace " + ", ".join(mapping_paths))
        else:
            rate = _map_within(formal)
            if rate is not None:
                out[key] = rate
    return out
