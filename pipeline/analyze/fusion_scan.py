"""Chain scanning for the fuse-pattern matcher: a stage's kernels per (step, stream), and the
walk that finds ordered split chains in them (used by `pipeline.analyze.fusion`).

A chain is a sequence of elements; `hits[d][e]` says whether distinct (name, family) pair `d`
matches element `e`, `glue[d]` whether it may sit between chain kernels. Semantics:
``docs/fusions.md`` (Matching).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipeline.analyze.table import columns_of


@dataclass
class Stage:
    """The stage's kernels as columns, distinct (name, family) pairs, and (step, stream) sequences.

    ``seqs``: kernel indices per (step, stream) in first-seen order, each sorted by start time;
    ``at[d]``: per sequence, the positions in it of kernels with distinct pair ``d``.
    """

    name: list[str]
    display: list[str | None]
    family: list[str | None]
    ts: list[int]
    dur: list[int]
    op: list[int | None]
    site: list[str | None]
    distinct: list[tuple[str, str | None]]
    ids: list[int]
    seqs: list[list[int]]
    at: list[dict[int, list[int]]]
    members: dict[int, list[int]]  # distinct pair -> kernel indices, ascending

    @classmethod
    def of(cls, kernels: Any) -> "Stage":
        cols = ("name", "display_name", "family", "ts_ns", "dur_ns", "cpu_op_ev", "site", "step", "stream")
        if isinstance(kernels, pa.Table):
            name, display, family, ts, dur, op, site, step, stream = (
                kernels.column(c).to_pylist() if c in kernels.column_names else [None] * kernels.num_rows
                for c in cols)
        else:
            name, display, family, ts, dur, op, site, step, stream = columns_of(kernels, cols)
        index: dict[tuple[str, str | None], int] = {}
        ids = [index.setdefault(pair, len(index)) for pair in zip(name, family)]
        members: dict[int, list[int]] = defaultdict(list)
        for i, d in enumerate(ids):
            members[d].append(i)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, key in enumerate(zip(step, stream)):
            groups[key].append(i)
        seqs = []
        at = []
        for idx in groups.values():
            idx.sort(key=ts.__getitem__)
            seqs.append(idx)
            where: dict[int, list[int]] = defaultdict(list)
            for pos, i in enumerate(idx):
                where[ids[i]].append(pos)
            at.append(where)
        return cls(list(name), list(display), list(family), list(ts), list(dur), list(op), list(site),
                   list(index), ids, seqs, at, members)


def walk(n: int, max_gap: int, st: Stage, seq: list[int], start: int, first: int,
         hits: list, glue: list) -> list[int]:
    """Positions in `seq` matching chain elements first, first+1, ... (of `n`) from `start`; glue skipped."""
    ids, ts, dur = st.ids, st.ts, st.dur
    taken, elem, j = [start], first + 1, start + 1
    while elem < n and j < len(seq):
        prev, cur = seq[j - 1], seq[j]
        if ts[cur] - (ts[prev] + dur[prev]) > max_gap:
            break
        d = ids[cur]
        if hits[d][elem]:
            taken.append(j)
            elem += 1
        elif not glue[d]:
            break
        j += 1
    return taken


def one_launch_group(st: Stage, idx: list[int]) -> bool:
    """All kernels launched by the same (known) CPU op."""
    ops = {st.op[i] for i in idx}
    return len(ops) == 1 and None not in ops


def candidates(st: Stage, seq_no: int, ids: set[int]) -> list[int]:
    """Positions in sequence `seq_no` of kernels whose distinct pair is in `ids`, ascending."""
    where = st.at[seq_no]
    if len(ids) <= len(where):
        runs = [where[d] for d in ids if d in where]
    else:
        runs = [at for d, at in where.items() if d in ids]
    return sorted(pos for at in runs for pos in at)


def scan(n: int, max_gap: int, st: Stage, hits: list, glue: list) -> tuple[list[list[int]], int]:
    """Full chains of `n` elements (leftmost, non-overlapping) and how many were one launch group.

    A chain can only start at a kernel matching its first element, so each sequence is visited at
    those positions only. Cost: O(candidates x chain length); walks stop at the first non-glue mismatch.
    """
    chains: list[list[int]] = []
    grouped = 0
    heads = {d for d, row in enumerate(hits) if row[0]}
    ids = st.ids
    for seq_no, seq in enumerate(st.seqs):
        s = 0  # the next position a chain may start at
        last = len(seq) - 1
        for c in candidates(st, seq_no, heads):
            if c < s:
                continue
            if n > 1 and (c == last or not (hits[ids[seq[c + 1]]][1] or glue[ids[seq[c + 1]]])):
                s = c + 1  # the next kernel neither matches the second element nor is glue: `walk` stops at once
                continue
            pos = walk(n, max_gap, st, seq, c, 0, hits, glue)
            if len(pos) < n:
                s = c + 1
                continue
            taken = [seq[j] for j in pos]
            if one_launch_group(st, taken):
                grouped += 1
            else:
                chains.append(taken)
            s = pos[-1] + 1
    return chains, grouped


def best_run(n: int, max_gap: int, st: Stage, hits: list, glue: list) -> list[int]:
    """Chain element indices of the longest in-order run of adjacent kernels (first found wins).

    Only asked for when no full chain matched anywhere, so every matching position is a start.
    """
    best: list[int] = []
    starters = {d for d, row in enumerate(hits) if any(row)}
    ids = st.ids
    for seq_no, seq in enumerate(st.seqs):
        last = len(seq) - 1
        for s in candidates(st, seq_no, starters):
            row = hits[ids[seq[s]]]
            nxt = ids[seq[s + 1]] if s < last else None
            for first in range(n):
                if row[first] and n - first > len(best):
                    if nxt is None or first + 1 == n or not (hits[nxt][first + 1] or glue[nxt]):
                        run = 1  # what `walk` returns when the next kernel cannot extend the run
                    else:
                        run = len(walk(n, max_gap, st, seq, s, first, hits, glue))
                    if run > len(best):
                        best = list(range(first, first + run))
            if len(best) >= n - 1:  # a run of n would have been a full chain: nothing can beat this
                return best
    return best
