"""Bring Python attribution to graph-replayed kernels: mapping trace first, eager steps second.

When both sides have layer structure (`pipeline.layers.assign_layers` ran on them) the transfer is
slot-wise and linear (`pipeline.align.slotmap`); the whole-sequence alignment
(`pipeline.align.sequence`) remains only for stages without layers. Returns the match rate per stage
for the report.
"""

from __future__ import annotations

from collections import defaultdict

from pipeline.align import sequence as align
from pipeline.align import slotmap
from pipeline.classify import classify
from pipeline.stage import OUTSIDE, group_by_stage

WITHIN = "eager steps of this trace"


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
    rate["method"] = "sequence alignment"
    return rate


def _apply(formal: list[dict], result: "align.AlignmentResult", label: str) -> dict:
    """Copy the transferred attribution back into the caller's records (in place)."""
    for old, new in zip(formal, align.transfer(formal, result)):
        if new.get("attribution") == "mapped":
            old.update(new, mapped_from=label)
        match = result.match_for(old)
        old["match_kind"] = match.kind if match else None
    return _rate(formal, label)


def _has_layers(records: list[dict]) -> bool:
    return any(r.get("layer") is not None for r in records)


def _by_slots(formal: list[dict], source: list[dict], label: str) -> dict:
    needed = [r for r in formal if slotmap.needs_site(r)]
    src = slotmap.source_stage(formal[0]["stage"], source)
    slotmap.slot_transfer(formal, src, "mapped", label)
    return slotmap.rate(formal, "mapped", label, needed)


def _map_pair(formal: list[dict], mapping: list[dict], label: str) -> dict:
    if _has_layers(formal) and _has_layers(mapping):
        return _by_slots(formal, mapping, label)
    return _apply(formal, align.align_steps(_steps(mapping), _steps(formal), family_of=classify), label)


def _eager_steps(records: list[dict]) -> list[dict]:
    return [k for s in _steps(records) if s and not any(k["is_graph"] for k in s) for k in s]


def _map_within(formal: list[dict], kernels: list[dict]) -> dict | None:
    eager = _eager_steps([k for k in formal if k["stage"] != OUTSIDE])
    if not eager:
        return None  # no eager step to learn from
    if _has_layers(kernels) and _has_layers(eager):
        return _by_slots(kernels, eager, WITHIN)
    stage = kernels[0]["stage"]
    result = align.align_within_trace(_steps(kernels + [k for k in eager if k["stage"] != stage]), family_of=classify)
    return _apply(kernels, result, WITHIN)


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
            rate = _map_within(formal, kernels)
            if rate is not None:
                out[key] = rate
    return out
