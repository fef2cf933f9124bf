"""Match the kernel rows of one stage across the two sides (docs/diff.md "Matching").

Rules, in order; each pairs only rows the rules before it left unpaired:

1. ``site``: same display name, family and site;
2. ``name``: same display name and family (the site moved: e.g. a graph replay mapped on one
   side only, or a line number that changed);
3. ``slot``: same family and layer slot (`kernel_facts.slot`, issue 18), where the facts have a
   slot column — a tile variant or a kernel replaced by another of its family at the same place
   in the decoder layer;
4. ``order``: same family and the same place in the order of first appearance among the family's
   rows (each side's rows of that family ranked by their first activity in the stage, i.e. in the
   first step that runs them) — the fallback for 3 when the facts have no slot column, and for
   rows without a slot (outside the layers); two rows with different slots are never paired.

Where a rule finds several candidates on both sides (rules 2–3), they are paired largest-first by
time. Rows left over are ``new`` (variant only) or ``gone`` (base only).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Hashable

from pipeline.diff.sides import Row

MATCH_RULES = (
    "site: same display name, family and site",
    "name: same display name and family",
    "slot: same family and layer slot (kernel_facts.slot, where the facts have it)",
    "order: same family and place in the order of first appearance among the family's rows in the stage "
    "(rows without a slot)",
)


@dataclass(frozen=True)
class Pair:
    """A base row and a variant row (either None when unmatched) and the rule that paired them."""

    base: Row | None
    variant: Row | None
    rule: str | None  # site | name | slot | order | None


def _order_ranks(rows: list[Row]) -> dict[int, int]:
    """id(row) → its place among its family's rows by first appearance (0 = first)."""
    ranks: dict[int, int] = {}
    counter: dict[str, int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: (r.first_seq, r.key)):
        ranks[id(row)] = counter[row.family]
        counter[row.family] += 1
    return ranks


def _pair_by(rule: str, key: Callable[[Row], Hashable | None], base: list[Row], variant: list[Row],
             out: list[Pair]) -> tuple[list[Row], list[Row]]:
    """Pair rows with equal non-None keys (largest-first within a key); return the leftovers."""
    groups: dict[Hashable, tuple[list[Row], list[Row]]] = defaultdict(lambda: ([], []))
    for row in base:
        k = key(row)
        if k is not None:
            groups[k][0].append(row)
    for row in variant:
        k = key(row)
        if k is not None:
            groups[k][1].append(row)
    used: set[int] = set()
    for bs, vs in groups.values():
        by_time = lambda r: (-r.total_ns, r.first_seq, r.key)
        for b, v in zip(sorted(bs, key=by_time), sorted(vs, key=by_time)):
            out.append(Pair(b, v, rule))
            used.update((id(b), id(v)))
    return [r for r in base if id(r) not in used], [r for r in variant if id(r) not in used]


def match_rows(base: list[Row], variant: list[Row]) -> list[Pair]:
    """Every row of both sides exactly once: matched pairs, then gone and new rows."""
    pairs: list[Pair] = []
    b_order, v_order = _order_ranks(base), _order_ranks(variant)
    left_b, left_v = _pair_by("site", lambda r: r.key, base, variant, pairs)
    left_b, left_v = _pair_by("name", lambda r: (r.name, r.family), left_b, left_v, pairs)
    slot = lambda r: None if r.slot is None else (r.family, r.slot)
    left_b, left_v = _pair_by("slot", slot, left_b, left_v, pairs)
    # rule 4: compare a row's place in its own side's order
    ordered_b = {id(r): (r.family, b_order[id(r)]) for r in left_b if r.slot is None}
    ordered_v = {id(r): (r.family, v_order[id(r)]) for r in left_v if r.slot is None}
    key4 = lambda r: ordered_b.get(id(r)) if id(r) in ordered_b else ordered_v.get(id(r))
    left_b, left_v = _pair_by("order", key4, left_b, left_v, pairs)
    pairs += [Pair(r, None, None) for r in left_b] + [Pair(None, r, None) for r in left_v]
    return pairs
