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

RULE = ("GPU-side savings shorten a step only along its critical path: from the step's last GPU activity, walk back "
        "to the activity that ended last before each one started; count kernel time (a collective counts its transfer "
        "and the walk continues on the rank that arrived last); stop where an activity was launched after its "
        "predecessor ended (the GPU waited for a CPU). ceiling = Σ over steps of the counted time / stage window")
_LIMIT = 10_000_000  # guard: each step of the walk moves back in time, this is never reached


def _end(r: dict) -> int:
    return r["ts_ns"] + (r["dur_ns"] or 0)


class _Lanes:
    """Per (rank, step): the activities sorted by end, to find the latest end ≤ t."""

    def __init__(self, by_rank: dict[int | None, list[dict]]):
        self.lanes: dict[tuple, tuple[list[int], list[dict]]] = {}
        for rank, records in by_rank.items():
            groups: dict = defaultdict(list)
            for r in records:
                groups[r["step"]].append(r)
            for step, rs in groups.items():
                rs.sort(key=lambda r: (_end(r), r["ts_ns"], r["ev"]))
                self.lanes[(rank, step)] = ([_end(r) for r in rs], rs)

    def before(self, rank: int | None, k: dict) -> dict | None:
        ends, rs = self.lanes.get((rank, k["step"]), ([], []))
        i = bisect_right(ends, k["ts_ns"]) - 1
        while i >= 0 and rs[i] is k:
            i -= 1
        return rs[i] if i >= 0 else None

    def steps(self, rank: int | None) -> list[dict]:
        """The last-ending activity of each step of `rank`."""
        return [rs[-1] for (r, _), (_, rs) in self.lanes.items() if r == rank and rs]


def _walk(lanes: _Lanes, inst_of: dict[tuple[int, int], Instance], rank: int | None, k: dict) -> int:
    total, q = 0, rank
    for _ in range(_LIMIT):
        inst = inst_of.get((k["file_id"], k["ev"]))
        if inst is not None:
            total += inst.transfer_ns
            pacer = inst.pacer
            if pacer != q:
                q, k = pacer, inst.members[pacer]
        else:
            total += k["dur_ns"] or 0
        prev = lanes.before(q, k)
        if prev is None or (k.get("launch_ts_ns") is not None and k["launch_ts_ns"] > _end(prev)):
            return total
        k = prev
    return total


def host_bound(by_rank: dict[int | None, list[dict]], rank: int | None, matched: list[Matched], *, window_ns: int,
               idle_ns: int, launch_bound_ns: int | None) -> dict:
    """``stages[].host_bound`` of `rank` (None: the records without a rank, or a root with one rank).

    `by_rank`: the stage's records of every rank (the reported rank's among them); `matched`: the
    stage's collectives (`pipeline.collectives.match`); `window_ns`, `idle_ns`, `launch_bound_ns`:
    the stage's figures on the reported rank's timeline (overlap analysis)."""
    inst_of = {(rec["file_id"], rec["ev"]): inst for m in matched for inst in m.instances
               for rec in inst.members.values()}
    lanes = _Lanes(by_rank)
    ceiling = sum(_walk(lanes, inst_of, rank, last) for last in lanes.steps(rank))
    wait = sum(inst.wait(rank) for m in matched for inst in m.instances if rank in inst.members)
    own = by_rank.get(rank, [])
    notes = []
    if own and all(r.get("launch_ts_ns") is None for r in own):
        notes.append("no launch timestamps: the CPU's pacing cannot be seen, so the ceiling counts every activity on "
                     "the chain (an upper bound)")
    if not matched:
        notes.append("no collective matched across ranks: collectives count as GPU work")
    return {
        "ceiling_share": ceiling / window_ns if window_ns else None,
        "ceiling_ns": ceiling,
        "window_ns": window_ns,
        "gpu_idle_ns": idle_ns,
        "launch_bound_ns": launch_bound_ns,
        "collective_wait_ns": wait,
        "rule": RULE,
        "note": "; ".join(notes) or None,
    }


def combine_host_bound(parts: dict[int | None, dict]) -> dict:
    """Per-rank `host_bound` (each on its own timeline) → one, figures summed over the ranks."""
    keys = ("ceiling_ns", "window_ns", "gpu_idle_ns", "launch_bound_ns", "collective_wait_ns")
    out = {k: sum(p[k] or 0 for p in parts.values()) for k in keys}
    notes = list(dict.fromkeys(p["note"] for p in parts.values() if p["note"]))
    return {"ceiling_share": out["ceiling_ns"] / out["window_ns"] if out["window_ns"] else None, **out,
            "rule": RULE + f"; summed over {len(parts)} ranks, each on its own timeline",
            "note": "; ".join(notes) or None}
