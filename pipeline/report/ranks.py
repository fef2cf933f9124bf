"""The per-rank view of a multi-rank stage (`triage --all-ranks`): each kernel row's time on every
rank, the stage's straggler, each rank's own timeline figures, and how they were combined
(JSON fields in docs/json-schema.md).

A rank's *stage time* is the summed duration of that stage's GPU activities (kernels, memcpy,
memset) on that rank — the stage's ``kernel_time_ns`` restricted to the rank. Durations only:
the ranks' clocks need not agree (an SGLang merged trace reads every rank against rank 0's
``baseTimeNanoseconds``), so no cross-rank timestamps are compared here.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from pipeline.analyze.kernel_table import timeline_scope
from pipeline.analyze.protocol import StagePart

STAGE_TIME = "summed GPU activity time (kernels + memcpy + memset) of this stage on the rank"
TIMELINE_RULE = ("each rank is its own GPU on its own clock: window, busy, idle, launch-bound, ≥ 2 streams, "
                 "category overlap, overlap rows and fusions are computed on each rank's timeline and then "
                 "summed (rows merged by kernel name / pattern); the window is the sum of the per-rank "
                 "windows, not a wall-clock span")
WAIT_RULE = ("the rank that waits least at this stage's collectives (mean wait per matched instance it took part in; "
             "ties: the rank late most often, then the lowest): the others wait for it. wait = duration − transfer, "
             "transfer = the shortest duration across the ranks of an instance (docs/collectives.md)")


def rank_spread(part: StagePart, rows: list[dict]) -> dict | None:
    """Add ``rank_time_ns`` to every kernel row and return the stage's per-rank summary.

    ``rows`` are the stage's kernel-table rows (keyed by display name). Returns None (and adds
    nothing) when the part holds fewer than two ranks.
    """
    ranks = sorted(part.ranks)
    if len(ranks) < 2:
        return None
    by_name: dict[str, Counter] = defaultdict(Counter)
    time: Counter = Counter()
    count: Counter = Counter()
    names, durations = part.table.column("display_name").to_pylist(), part.table.column("dur_ns").to_pylist()
    for name, dur, r in zip(names, durations, part.rank_column):
        if r is None:
            continue
        by_name[name][r] += dur
        time[r] += dur
        count[r] += 1
    for row in rows:
        row["rank_time_ns"] = {str(r): by_name[row["name"]].get(r, 0) for r in ranks}
    per_rank = [{"rank": r, "time_ns": time[r], "kernels": count[r]} for r in ranks]
    median = statistics.median(p["time_ns"] for p in per_rank)
    # furthest from the median; ties (always the case with two ranks) go to the slower rank
    worst = max(per_rank, key=lambda p: (abs(p["time_ns"] - median), p["time_ns"], -p["rank"]))
    deviation = worst["time_ns"] - median
    return {
        "definition": f"stage time = {STAGE_TIME}",
        "ranks": ranks,
        "per_rank": per_rank,
        "median_ns": round(median),
        "straggler": {
            "rank": worst["rank"],
            "time_ns": worst["time_ns"],
            "deviation_ns": round(deviation),
            "deviation_share": deviation / median if median else None,
            "rule": "the rank whose stage time is furthest from the median across ranks "
                    "(ties: the slower rank)",
        },
    }


def add_rank_timelines(spread: dict, parts: dict) -> None:
    """Each rank's own window / busy / idle / ≥ 2 streams / launch-bound (from its run of the
    stage) into ``spread["per_rank"]`` (0 for a rank without kernels in the stage)."""
    for p in spread["per_rank"]:
        own = parts.get(p["rank"])
        p["window_ns"] = own["summary"]["window_ns"] if own else 0
        p["busy_ns"] = own["busy_ns"] if own else 0
        p["idle_ns"] = own["idle_ns"] if own else 0
        p["multi_stream_ns"] = own["multi_stream_ns"] if own else 0
        p["launch_bound_ns"] = (own["launch_bound_ns"] or 0) if own else 0


class RankSpread:
    """Stage fields ``ranks`` and ``timeline`` (and each kernel row's ``rank_time_ns``): null on one
    timeline; over several ranks, the spread of stage time, the straggler and each rank's timeline."""

    name = "ranks"

    def run(self, part: StagePart, done: dict) -> dict:
        return {"ranks": None}

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict:
        spread = rank_spread(whole, done["kernels"])
        if spread is None:
            return {"ranks": None}
        add_rank_timelines(spread, parts)
        timeline = {"scope": timeline_scope(spread["ranks"], whole.unranked), "ranks": spread["ranks"],
                    "unranked": whole.unranked, "rule": TIMELINE_RULE}
        return {"ranks": spread, "timeline": timeline}


def add_wait_straggler(spread: dict, rows: list[dict]) -> None:
    """Add ``straggler.wait`` (the straggler by collective wait, from the stage's collectives rows) and
    ``straggler.basis`` (what the straggler line uses: ``collective wait``, else ``stage time``). The
    stage-time fields of ``straggler`` stay as they are."""
    sg = spread["straggler"]
    per: dict[int, dict] = {}
    for row in rows:
        for p in row["per_rank"]:
            a = per.setdefault(p["rank"], {"rank": p["rank"], "wait_ns": 0, "instances": 0, "late_count": None})
            a["wait_ns"] += p["wait_ns"]
            a["instances"] += row["instances"]
            if p["late_count"] is not None:
                a["late_count"] = (a["late_count"] or 0) + p["late_count"]
    per = {r: a for r, a in per.items() if a["instances"]}
    if not per:
        sg["wait"], sg["basis"] = None, "stage time"
        return
    best = min(per.values(), key=lambda a: (a["wait_ns"] / a["instances"], -(a["late_count"] or 0), a["rank"]))
    sg["wait"] = {
        "rank": best["rank"],
        "wait_ns": best["wait_ns"],
        "median_wait_ns": round(statistics.median(a["wait_ns"] for a in per.values())),
        "late_count": best["late_count"],
        "instances": best["instances"],
        "per_rank": [per[r] for r in sorted(per)],
        "rule": WAIT_RULE,
    }
    sg["basis"] = "collective wait"
