"""Alignment match rates in the report: the stored rates of the view's ranks, per stage.

`pipeline.facts` stores one rate per rank and stage that needed alignment (`alignment_rates`);
a view over one rank shows that rank's, a view over several ranks the ranks' counts and times
summed.
"""

from __future__ import annotations

from pipeline.analyze.protocol import Pooled, StagePart

RATE_FIELDS = ("by_count", "by_time", "kernels", "mapped", "time_ns", "mapped_ns", "source", "method")


def combine_rates(rates: list[dict]) -> dict | None:
    """Several ranks' rates of one stage → one (counts and times summed, sources listed once)."""
    if not rates:
        return None
    if len(rates) == 1:
        return {k: rates[0][k] for k in RATE_FIELDS}
    sums = {k: sum(r[k] for r in rates) for k in ("kernels", "mapped", "time_ns", "mapped_ns")}
    return {
        "by_count": sums["mapped"] / sums["kernels"] if sums["kernels"] else 1.0,
        "by_time": sums["mapped_ns"] / sums["time_ns"] if sums["time_ns"] else 1.0,
        **sums,
        "source": "; ".join(dict.fromkeys(r["source"] for r in rates)),
        "method": "; ".join(dict.fromkeys(r["method"] for r in rates if r["method"])) or None,
    }


class GraphSites(Pooled):
    """Stage fields ``cross_root`` and ``catalog_sites``: which other root, and which catalog entries,
    gave graph replays their sites (docs/layers.md) — stored per stage when the facts were built."""

    name = "graph_sites"

    def run(self, part: StagePart, done: dict) -> dict:
        notes = part.ctx.notes.get(part.stage) or {}
        return {"cross_root": notes.get("cross_root"), "catalog_sites": notes.get("catalog_sites")}


class AlignmentRate(Pooled):
    """Stage field ``alignment``: how much of the time that needed a site alignment mapped (null
    when no kernel of the stage needed it)."""

    name = "alignment"

    def run(self, part: StagePart, done: dict) -> dict:
        keys = [*part.ranks, *([None] if part.unranked or not part.ranks else [])]
        rates = [part.ctx.alignment[(r, part.stage)] for r in keys if (r, part.stage) in part.ctx.alignment]
        return {"alignment": combine_rates(rates)}
