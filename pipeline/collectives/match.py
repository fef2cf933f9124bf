"""Collective instances matched across the ranks of one root (one stage's records of every rank).

Key of a collective: its display name, plus its process group (``coll_pg`` / ``coll_pg_ranks``
metadata) when the trace has it; without a process group, the stream too when every rank runs
that kernel on the same set of streams (NCCL communicators keep their own streams). Within each
step (``step``, None = the file's whole timeline), the k-th occurrence of a key on one rank is
matched with the k-th on every other rank of the key; occurrences beyond the smallest count are
``unmatched``. Where the kernels carry collective metadata, an instance whose ranks disagree on
(collective name, message sizes, dtype) is ``mismatched`` and left out of every figure.

Per instance: transfer = the shortest duration across its ranks; a rank's wait = its duration −
transfer. The instances' ends must line up (`clock_check`); only then is the late rank — the one
that starts last — read from the start times. Rules: docs/collectives.md.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from pipeline.collectives.facts import is_collective


@dataclass(frozen=True)
class CollKey:
    """What makes two kernels the same collective across ranks."""

    name: str
    pg: str | None = None
    pg_ranks: str | None = None
    stream: int | None = None

    def group(self) -> str | None:
        """Human label of the group part of the key (process group or stream), None when neither."""
        if self.pg is not None:
            return f"process group {self.pg}" + (f" {self.pg_ranks}" if self.pg_ranks else "")
        return f"stream {self.stream}" if self.stream is not None else None


@dataclass
class Instance:
    """One collective call seen on each of its ranks."""

    key: CollKey
    step: int | None
    index: int  # occurrence within the step
    members: dict[int, dict]  # rank → kernel record
    late: int | None = None  # set by `clock_check` when the ends line up

    def dur(self, rank: int) -> int:
        return self.members[rank]["dur_ns"] or 0

    def start(self, rank: int) -> int:
        return self.members[rank]["ts_ns"]

    def end(self, rank: int) -> int:
        return self.start(rank) + self.dur(rank)

    @cached_property
    def transfer_ns(self) -> int:
        """The time once every rank has arrived: the shortest duration across the ranks."""
        return min(self.dur(r) for r in self.members)

    def wait(self, rank: int) -> int:
        return self.dur(rank) - self.transfer_ns

    @property
    def pacer(self) -> int:
        """The rank that arrived last: the late rank when known, else the one with the shortest
        duration (its kernel started last when the ends line up); ties to the lowest rank."""
        if self.late is not None:
            return self.late
        return min(self.members, key=lambda r: (self.dur(r), r))


@dataclass
class Matched:
    """All instances of one collective key in one stage."""

    key: CollKey
    ranks: list[int]
    instances: list[Instance]
    unmatched: int = 0  # occurrences beyond the smallest per-step count, all ranks together
    mismatched: int = 0  # instances dropped because their ranks' metadata disagree
    comparable: bool | None = None  # ends line up (None: no instance)
    clock: dict[int, dict] = field(default_factory=dict)  # rank → {aligned_share, median_end_offset_ns}


def parse_ranks(text: str | None) -> tuple[int, ...] | None:
    """``'[0, 1, 2]'`` → (0, 1, 2); None when absent, truncated (``...``) or unreadable."""
    if not text or "..." in text:
        return None
    try:
        return tuple(int(x) for x in text.strip("[] ").split(",") if x.strip())
    except ValueError:
        return None


def _keys(coll: list[tuple[int, dict]]) -> list[CollKey]:
    """The key of each (rank, record); streams join the key only where the ranks agree on them."""
    streams: dict[str, dict[int, set]] = defaultdict(lambda: defaultdict(set))
    for rank, r in coll:
        if r.get("coll_pg") is None:
            streams[r["display_name"]][rank].add(r.get("stream"))
    same = {name: len({frozenset(s) for s in per.values()}) == 1 for name, per in streams.items()}
    keys = []
    for _, r in coll:
        name = r["display_name"]
        if r.get("coll_pg") is not None:
            keys.append(CollKey(name, r["coll_pg"], r.get("coll_pg_ranks")))
        else:
            keys.append(CollKey(name, stream=r.get("stream") if same.get(name) else None))
    return keys


def _signature(r: dict) -> tuple | None:
    sig = (r.get("coll_name"), r.get("coll_in_nelems"), r.get("coll_out_nelems"), r.get("coll_dtype"))
    return None if all(x is None for x in sig) else sig


def _match_key(key: CollKey, by_rank: dict[int, list[dict]]) -> Matched:
    members = parse_ranks(key.pg_ranks)
    ranks = sorted(r for r in by_rank if members is None or r in members)
    out = Matched(key, ranks, [])
    steps: dict[int, dict] = {r: defaultdict(list) for r in ranks}
    for r in ranks:
        for rec in sorted(by_rank[r], key=lambda k: (k["ts_ns"], k["ev"])):
            steps[r][rec["step"]].append(rec)
    for step in sorted({s for r in ranks for s in steps[r]}, key=lambda s: (s is None, s or 0)):
        counts = {r: len(steps[r].get(step, ())) for r in ranks}
        n = min(counts.values())
        out.unmatched += sum(c - n for c in counts.values())
        for k in range(n):
            inst = Instance(key, step, k, {r: steps[r][step][k] for r in ranks})
            sigs = {s for s in (_signature(m) for m in inst.members.values()) if s is not None}
            if len(sigs) > 1:
                out.mismatched += 1
            else:
                out.instances.append(inst)
    return out


def match_collectives(records: list[dict], rank_of: dict[int, int]) -> list[Matched]:
    """Match the collective kernels of one stage (records of every rank) into instances; keys held by
    fewer than two ranks are left out."""
    coll = [(rank_of[r["file_id"]], r) for r in records if r["file_id"] in rank_of and is_collective(r)]
    grouped: dict[CollKey, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for key, (rank, rec) in zip(_keys(coll), coll):
        grouped[key][rank].append(rec)
    out = []
    for key, by_rank in grouped.items():
        if len(by_rank) >= 2:
            m = _match_key(key, by_rank)
            if len(m.ranks) >= 2:
                out.append(m)
    return out


def clock_check(m: Matched, cfg: dict) -> None:
    """Whether the ends of `m`'s instances line up (rule in the `[clock]` table); sets ``comparable``,
    ``clock`` and, when comparable, each instance's late rank (the last to start; ties: the lowest)."""
    if not m.instances:
        return
    aligned: Counter = Counter()
    offsets: dict[int, list[int]] = defaultdict(list)
    for inst in m.instances:
        med = statistics.median(inst.end(r) for r in m.ranks)
        tol = max(cfg["end_tolerance_ns"], cfg["end_tolerance_frac"] * inst.transfer_ns)
        for r in m.ranks:
            off = inst.end(r) - med
            offsets[r].append(off)
            aligned[r] += abs(off) <= tol
    n = len(m.instances)
    m.clock = {r: {"aligned_share": aligned[r] / n, "median_end_offset_ns": round(statistics.median(offsets[r]))}
               for r in m.ranks}
    m.comparable = all(c["aligned_share"] >= cfg["min_aligned_share"] for c in m.clock.values())
    for inst in m.instances:
        if m.comparable:
            last = max(inst.start(r) for r in m.ranks)
            inst.late = min(r for r in m.ranks if inst.start(r) == last)
