"""The overlap stage analyzer: the rows of one timeline (`pipeline.analyze.overlap`), and the
rows of several ranks merged by kernel name with their verdicts recomputed from the sums.

Each rank is its own GPU on its own clock, so busy, idle, launch-bound, ≥ 2 streams and the
category overlap are each rank's figures summed; rows are merged by name.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pipeline.analyze.kernel_table import timeline_scope
from pipeline.analyze.overlap import analyze_overlap, category_sets, dep_risk_of, family_rows, judged, load_config
from pipeline.analyze.protocol import StagePart

SUMMED = ("time_ns", "count", "exposed_ns", "hidden_ns", "same_stream_overlap_ns", "hidden_by_compute_ns",
          "hidden_by_comm_ns", "hidden_by_memory_ns", "launch_gap_ns")
STAGE_SUMS = ("busy_ns", "idle_ns", "multi_stream_ns", "pdl_overlaps", "pdl_overlap_ns")


def _top(weights: dict) -> str | None:
    """The heaviest key; ties to the larger key (as the overlap rows pick family and site)."""
    weights = {k: v for k, v in weights.items() if k is not None}
    return max(weights, key=lambda k: (weights[k], k)) if weights else None


def merge_rows(rows: list[dict], busy: int, window: int, cfg: dict) -> dict:
    """One kernel name's rows from several ranks → one row: tallies summed, family / site /
    dependency risk by time across the ranks, verdict, gain and priority recomputed from the sums
    against the summed busy and window (the rules of `pipeline.analyze.overlap`)."""
    first = rows[0]
    sums = {k: sum(r[k] for r in rows) for k in SUMMED}
    hidden_by: Counter = Counter()
    fam: Counter = Counter()
    site: Counter = Counter()
    risk_time = [0, 0, 0]
    for r in rows:
        hidden_by.update(r["hidden_by"])
        fam[r["family"]] += r["time_ns"] + r["count"]  # as overlap.py: duration + 1 per kernel
        site[r["site"]] += r["time_ns"] + r["count"]
        risk_time[("low", "medium", "high").index(r["dep_risk"])] += r["time_ns"]
    family = _top(fam) or "other"
    dep_risk = dep_risk_of(risk_time)
    out = dict(first)  # keeps the key order of the single-rank rows (and any field added there)
    out.pop("rank_skew", None)  # a rank's own verdict; the merged row is judged again (collectives)
    out.update(sums, family=family, site=_top(site),
               hidden_by={c: hidden_by[c] for c in first["hidden_by"]}, dep_risk=dep_risk,
               **judged(sums["time_ns"], sums["same_stream_overlap_ns"], sums["exposed_ns"], sums["launch_gap_ns"],
                        busy, window, family, dep_risk, cfg))
    return out


def _notes(notes: dict, scope: str) -> str:
    distinct = list(dict.fromkeys(n for n in notes.values() if n))
    if not distinct:
        detail = ""
    elif len(distinct) == 1 and all(notes.values()):
        detail = f"; every rank: {distinct[0]}"
    else:
        detail = "; " + "; ".join(f"{'rank ' + str(r) if r is not None else 'no rank'}: {n}"
                                  for r, n in notes.items() if n)
    return f"overlap figures and rows {scope}, each rank on its own timeline{detail}"


class OverlapTable:
    """Stage fields ``overlap`` (every row, priority order; the table limit applies on read),
    ``overlap_families``, ``busy_ns``, ``idle_ns``, ``launch_bound_ns``, ``multi_stream_ns``,
    ``pdl_overlaps``, ``pdl_overlap_ns``, ``category_overlap`` (HTA's rule),
    ``family_category_overlap``, ``anomalies`` and ``overlap_note``."""

    name = "overlap"

    def run(self, part: StagePart, done: dict) -> dict:
        o = analyze_overlap(part.table, launches=None)
        return {"overlap": o["rows"], "overlap_families": o["families"],
                "busy_ns": o["busy_ns"], "idle_ns": o["idle_ns"],
                "launch_bound_ns": o["launch_bound_ns"], "multi_stream_ns": o["multi_stream_ns"],
                "pdl_overlaps": o["pdl_overlaps"], "pdl_overlap_ns": o["pdl_overlap_ns"],
                "category_overlap": o["category_overlap"], "family_category_overlap": o["family_category_overlap"],
                "anomalies": o["anomalies"], "overlap_note": o["note"]}

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict:
        cfg = load_config()
        sums = {k: sum(p[k] for p in parts.values()) for k in STAGE_SUMS}
        named: dict[str, list[dict]] = defaultdict(list)
        category: Counter = Counter()
        by_family: Counter = Counter()
        anomalies: Counter = Counter()
        for p in parts.values():
            for row in p["overlap"]:
                named[row["name"]].append(row)
            category.update(p["category_overlap"])
            by_family.update(p["family_category_overlap"])
            anomalies.update(p["anomalies"])
        rows = [merge_rows(rs, sums["busy_ns"], done["summary"]["window_ns"], cfg) for rs in named.values()]
        rows.sort(key=lambda r: (r["priority"], -r["gain_ns"], -r["time_ns"], r["name"]))
        scope = timeline_scope(whole.ranks, whole.unranked)
        return {"overlap": rows, "overlap_families": family_rows(rows, category_sets(cfg)[0], sums["busy_ns"]),
                **sums, "launch_bound_ns": sum(p["launch_bound_ns"] or 0 for p in parts.values()),
                # category sets in the order the ranks first show them
                "category_overlap": dict(category), "family_category_overlap": dict(by_family),
                "anomalies": {k: anomalies[k] for k in next(iter(parts.values()))["anomalies"]},
                "overlap_note": _notes({r: p["overlap_note"] for r, p in parts.items()}, scope)}
