"""The host-bound ceiling of a stage: the largest share of its wall time that GPU-side kernel savings
could recover.

A kernel made faster only shortens the stage when it lies on the stage's critical path and the
time it frees is not absorbed by a wait on a CPU — its own rank's (the next kernel is only
launched later: launch-bound) or another rank's (a collective waits for a late rank, whose CPU
launched it late). Per step, from the step's last GPU activity on the reported rank, we walk back
along the chain of GPU activities: from an activity to the one on the same rank and step that
ended last before it started. The walk

- counts each activity's duration, except a matched collective, which counts its transfer time
  only and continues on the rank that arrived last (the late rank when the ends line up, else
  the rank with the shortest duration): the wait is not work;
- stops at an activity launched after its predecessor ended (the GPU was waiting for the CPU
  that launched it: no GPU saving before this point can move the end of the step), and at the
  first activity of the step.

``ceiling_ns`` = Σ over steps of what the walks count; ``ceiling_share`` = ceiling / the stage's
window on the reported rank's own clock. Rule and limits: docs/collectives.md.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

from pipeline.collectives.match import Instance, Matched
from pipeline.gc_pause import without_gc

RULE = ("GPU-side savings shorten a step only along its critical path: from the step's last GPU activity, walk back "
        "to the activity that ended last before each one started; count kernel time (a collective counts its transfer "
        "and the walk continues on the rank that arrived last); stop where an activity was launched after its "
        "predecessor ended (the GPU waited for a CPU). ceiling = Σ over steps of the counted time / stage window")
def _end(r: dict) -> int:
    return r["ts_ns"] + (r["dur_ns"] or 0)


class _Lane:
    """One rank's activities in one step, sorted by end. For entry i: its predecessor (the latest end
    ≤ its start, strictly earlier in this order; -1 for none) and whether the CPU paced it (no
    predecessor, or launched after the predecessor ended) — computed when the walk gets there."""

    __slots__ = ("recs", "ends", "pos")

    def __init__(self, recs: list[dict], inst_of: dict[tuple[int, int], Instance]):
        recs.sort(key=lambda r: (_end(r), r["ts_ns"], r["ev"]))
        self.recs = recs
        self.ends = [_end(r) for r in recs]
        self.pos = {(r["file_id"], r["ev"]): i for i, r in enumerate(recs)
                    if (r["file_id"], r["ev"]) in inst_of} if inst_of else {}

    def pred(self, i: int) -> int:
        return min(bisect_right(self.ends, self.recs[i]["ts_ns"]), i) - 1

    def paced(self, i: int, p: int) -> bool:
        launch = self.recs[i].get("launch_ts_ns")
        return p < 0 or (launch is not None and launch > self.ends[p])


class _Lanes:
    """The stage's records grouped by (rank, step); a lane is sorted when first used."""

    def __init__(self, by_rank: dict[int | None, list[dict]], inst_of: dict[tuple[int, int], Instance]):
        self.inst_of = inst_of
        self.groups: dict[tuple, list[dict]] = defaultdict(list)
        for rank, records in by_rank.items():
            for r in records:
                self.groups[(rank, r["step"])].append(r)
        self.built: dict[tuple, _Lane] = {}

    def __getitem__(self, key: tuple) -> _Lane:
        lane = self.built.get(key)
        if lane is None:
            lane = self.built[key] = _Lane(list(self.groups[key]), self.inst_of)
        return lane


def _walk(lanes: _Lanes, rank: int | None, step: int | None, limit: int) -> int:
    """The counted time of one step's walk, from the last-ending activity of `rank` in `step`."""
    lane, inst_of = lanes[(rank, step)], lanes.inst_of
    i, q, total = len(lane.recs) - 1, rank, 0
    for _ in range(limit):  # every move goes to an earlier entry of a lane; the bound only guards odd data
        rec = lane.recs[i]
        inst = inst_of.get((rec["file_id"], rec["ev"])) if inst_of else None
        if inst is None:
            total += rec["dur_ns"] or 0
        else:
            total += inst.transfer_ns
            pacer = inst.pacer
            if pacer != q:
                member = inst.members[pacer]
                q, lane = pacer, lanes[(pacer, member["step"])]
                i = lane.pos[(member["file_id"], member["ev"])]
        p = lane.pred(i)
        if lane.paced(i, p):
            return total
        i = p
    return total


def host_bound(by_rank: dict[int | None, list[dict]], rank: int | None, matched: list[Matched], *, window_ns: int,
               idle_ns: int, launch_bound_ns: int | None) -> dict:
    """``stages[].host_bound`` of `rank` (None: the records without a rank, or a root with one rank).

    `by_rank`: the stage's records of every rank (the reported rank's among them); `matched`: the
    stage's collectives (`pipeline.collectives.match`); `window_ns`, `idle_ns`, `launch_bound_ns`:
    the stage's figures on the reported rank's timeline (overlap analysis)."""
    return host_bounds(by_rank, matched, {rank: (window_ns, idle_ns, launch_bound_ns)})[rank]


@without_gc
def host_bounds(by_rank: dict[int | None, list[dict]], matched: list[Matched],
                figures: dict[int | None, tuple[int, int, int | None]]) -> dict[int | None, dict]:
    """`host_bound` of several ranks at once (rank → (window, idle, launch-bound)), grouping the records once."""
    inst_of = {(rec["file_id"], rec["ev"]): inst for m in matched for inst in m.instances
               for rec in inst.members.values()}
    lanes = _Lanes(by_rank, inst_of)
    limit = sum(len(g) for g in lanes.groups.values()) + 1
    out = {}
    for rank, (window_ns, idle_ns, launch_bound_ns) in figures.items():
        ceiling = sum(_walk(lanes, r, step, limit) for r, step in list(lanes.groups) if r == rank)
        wait = sum(inst.wait(rank) for m in matched for inst in m.instances if rank in inst.members)
        own = by_rank.get(rank, [])
        notes = []
        if own and all(r.get("launch_ts_ns") is None for r in own):
            notes.append("no launch timestamps: the CPU's pacing cannot be seen, so the ceiling counts every activity "
                         "on the chain (an upper bound)")
        if not matched:
            notes.append("no collective matched across ranks: collectives count as GPU work")
        out[rank] = {
            "ceiling_share": ceiling / window_ns if window_ns else None,
            "ceiling_ns": ceiling,
            "window_ns": window_ns,
            "gpu_idle_ns": idle_ns,
            "launch_bound_ns": launch_bound_ns,
            "collective_wait_ns": wait,
            "rule": RULE,
            "note": "; ".join(notes) or None,
        }
    return out


def combine_host_bound(parts: dict[int | None, dict]) -> dict:
    """Per-rank `host_bound` (each on its own timeline) → one, figures summed over the ranks."""
    keys = ("ceiling_ns", "window_ns", "gpu_idle_ns", "launch_bound_ns", "collective_wait_ns")
    out = {k: sum(p[k] or 0 for p in parts.values()) for k in keys}
    notes = list(dict.fromkeys(p["note"] for p in parts.values() if p["note"]))
    return {"ceiling_share": out["ceiling_ns"] / out["window_ns"] if out["window_ns"] else None, **out,
            "rule": RULE + f"; summed over {len(parts)} ranks, each on its own timeline",
            "note": "; ".join(notes) or None}
