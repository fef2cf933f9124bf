"""The fusion stage analyzer: catalogued patterns matched on one timeline's kernel sequence
(`pipeline.analyze.fusion.match_fusions`), and over several ranks merged by pattern."""

from __future__ import annotations

from collections import defaultdict

from pipeline.analyze.fusion import LEVEL_ORDER, TOP_SITES, match_fusions
from pipeline.analyze.protocol import StagePart


def _ordered_union(lists: list[list[str]], limit: int | None = None) -> list[str]:
    out = list(dict.fromkeys(x for xs in lists for x in xs))
    return out[:limit] if limit else out


def merge_fusions(parts: dict, total_time_ns: int) -> list[dict]:
    """Each rank's fusions → merged by pattern: times and occurrence counts summed, status from the
    summed counts, evidence and sites in the order of the ranks' items by time."""
    by_pattern: dict[str, list[dict]] = defaultdict(list)
    for p in parts.values():
        for f in p["fusions"]:
            by_pattern[f["pattern"]].append(f)
    fusions = []
    for items in by_pattern.values():
        items = sorted(items, key=lambda f: -f["time_ns"])
        out = dict(items[0])
        for key in ("time_ns", "occurrences", "fused_occurrences", "split_occurrences"):
            out[key] = sum(f[key] for f in items)
        fused, split = out["fused_occurrences"], out["split_occurrences"]
        out["status"] = "both" if fused and split else "fused" if fused else "split"
        out["share"] = out["time_ns"] / total_time_ns if total_time_ns else 0.0
        out["evidence"] = _ordered_union([f["evidence"] for f in items])
        out["sites"] = _ordered_union([f["sites"] for f in items], TOP_SITES)
        fusions.append(out)
    return sorted(fusions, key=lambda f: (-f["time_ns"], f["pattern"]))


def merge_near_misses(parts: dict, matched: set[str]) -> list[dict]:
    """Near misses of the patterns no rank matched: the highest level any rank showed, with the
    ranks that showed it."""
    near: dict[str, dict] = {}
    for rank, p in parts.items():
        for m in p["near_misses"]:
            if m["pattern"] in matched:
                continue
            seen = near.get(m["pattern"])
            if seen is None or LEVEL_ORDER[m["level"]] < LEVEL_ORDER[seen["level"]]:
                near[m["pattern"]] = {**m, "ranks": seen["ranks"] if seen else []}
            near[m["pattern"]]["ranks"].append(rank)
    return sorted(near.values(), key=lambda m: (LEVEL_ORDER[m["level"]], m["pattern"]))


class FusionTable:
    """Stage fields ``fusions`` and ``near_misses``."""

    name = "fusions"

    def run(self, part: StagePart, done: dict) -> dict:
        c = part.ctx
        found = match_fusions(part.table, stage=part.stage, framework=c.framework, platform=c.platform, tp=c.tp,
                              model=c.model, total_time_ns=done["kernel_time_ns"])
        return {"fusions": found["fusions"], "near_misses": found["near_misses"]}

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict:
        fusions = merge_fusions(parts, done["kernel_time_ns"])
        return {"fusions": fusions, "near_misses": merge_near_misses(parts, {f["pattern"] for f in fusions})}
