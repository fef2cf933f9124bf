"""Slots: one template of positions for every layer of a stage, and each kernel's place in it.

A layer's *signature* is its kernels' slot identities: the kernel key without tile or batch-size
parts (`normalise_key`, so tile variants of one GEMM or attention kernel share a key), the kernel's group
and the role its position in the layer gives it (`pipeline.layers.groups.refine`: a GEMM before the
attention is ``qkv``, the first one after the post-attention norm ``gate_up`` or ``router`` …). The
most common signature is the template; every other signature is aligned to it by a small dynamic
programme (same key, group and role scores 3; same group and role 1 — e.g.
``kernel_unified_attention_2d`` / ``_3d`` — else no match), and what stays unmatched becomes a new
slot at its place (the dense MLP of an MoE model's first layer gets slots of its own). Signatures
are few and short, so this is linear in the number of kernels. Past `MAX_ALIGNED` distinct
signatures the rest are placed greedily (same identity, then same group, within a short window).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipeline.align.sequence import normalise_key
from pipeline.layers.groups import base_group, refine

MAX_ALIGNED = 64
GREEDY_WINDOW = 8
EXACT, SAME_GROUP = 3, 1
Elem = tuple[str, str, str, "str | None"]  # (key, base group, group, role)


@dataclass(eq=False)
class Slot:
    """One template position."""

    key: str
    base: str
    group: str = "other"
    role: str | None = None
    names: Counter = field(default_factory=Counter)
    families: Counter = field(default_factory=Counter)


def _identity(name: str | None, family: str | None) -> tuple[str, str]:
    """(slot key, base group) of a kernel: its identity for slot matching (tile / template numbers
    dropped: `normalise_key`) and its catalog group."""
    return normalise_key(name or ""), base_group(name or "", family)


def signature(layer: list[dict], seen: dict | None = None) -> tuple[Elem, ...]:
    """The slot identities of one layer's kernels, in order (`seen`: (name, family) → (key, base
    group) already computed, shared by the layers of a stage)."""
    seen = {} if seen is None else seen
    keys = []
    for r in layer:
        pair = (r.get("name"), r.get("family"))
        ident = seen.get(pair)
        if ident is None:
            ident = seen[pair] = _identity(*pair)
        keys.append(ident)
    roles = refine([b for _, b in keys])
    return tuple((k, b, g, role) for (k, b), (g, role) in zip(keys, roles))


def _score(a: Elem, slot: Slot) -> int:
    if a[2] != slot.group or a[3] != slot.role:
        return 0
    if a[0] == slot.key:
        return EXACT
    return SAME_GROUP if a[2] != "other" else 0


def align(sig: list[Elem], template: list[Slot]) -> list[int | None]:
    """Template index per signature element (None: unmatched) by a maximum-score alignment."""
    n, m = len(sig), len(template)
    t = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        ti, tn, a = t[i], t[i + 1], sig[i]
        for j in range(m - 1, -1, -1):
            s = _score(a, template[j])
            ti[j] = max(tn[j], ti[j + 1], tn[j + 1] + s if s else 0)
    out: list[int | None] = [None] * n
    i = j = 0
    while i < n and j < m:
        s = _score(sig[i], template[j])
        if s and t[i][j] == t[i + 1][j + 1] + s:
            out[i] = j
            i, j = i + 1, j + 1
        elif t[i][j] == t[i + 1][j]:
            i += 1
        else:
            j += 1
    return out


def _merge(sig: list[Elem], template: list[Slot]) -> tuple[list[Slot], list[Slot]]:
    """(new template, slot per element): unmatched elements become slots before the next match."""
    match = align(sig, template)
    merged: list[Slot] = []
    mine: list[Slot] = []
    j = 0
    for elem, jj in zip(sig, match):
        if jj is None:
            slot = Slot(*elem)
            merged.append(slot)
            mine.append(slot)
            continue
        merged.extend(template[j:jj + 1])
        mine.append(template[jj])
        j = jj + 1
    merged.extend(template[j:])
    return merged, mine


def _greedy(sig: list[Elem], template: list[Slot], spare: dict[str, Slot]) -> list[Slot]:
    out, p = [], 0
    for elem in sig:
        window = template[p:p + GREEDY_WINDOW]
        hit = next((i for i, s in enumerate(window) if _score(elem, s) == EXACT), None)
        if hit is None:
            hit = next((i for i, s in enumerate(window) if _score(elem, s)), None)
        if hit is None:
            out.append(spare.setdefault(elem[2], Slot("(other kernels in the layer)", elem[1], elem[2])))
            continue
        out.append(window[hit])
        p += hit + 1
    return out


@dataclass
class Template:
    """The stage's slots, in order, with group and role per slot."""

    slots: list[Slot]
    groups: list[tuple[str, str | None]]
    index: dict[int, int]  # id(slot) -> position


def build(layers: list[list[dict]]) -> tuple[Template, list[list[Slot]]]:
    """The template of these layers and the slot of every kernel (per layer, in order)."""
    seen: dict = {}
    sigs = [signature(layer, seen) for layer in layers]
    ranked = [s for s, _ in Counter(sigs).most_common()]
    template: list[Slot] = [Slot(*e) for e in ranked[0]] if ranked else []
    placed: dict[tuple, list[Slot]] = {ranked[0]: list(template)} if ranked else {}
    for sig in ranked[1:MAX_ALIGNED]:
        template, placed[sig] = _merge(list(sig), template)
    spare: dict[str, Slot] = {}
    for sig in ranked[MAX_ALIGNED:]:
        placed[sig] = _greedy(list(sig), template, spare)
    template += list(spare.values())
    per_layer = [placed[s] for s in sigs]
    names: dict[int, list] = {}
    families: dict[int, list] = {}
    for layer, slots in zip(layers, per_layer):
        for r, slot in zip(layer, slots):
            names.setdefault(id(slot), [slot]).append(r.get("display_name") or r.get("name") or "")
            families.setdefault(id(slot), [slot]).append(r.get("family") or "other")
    for slot, *seen_names in names.values():  # counted per slot, in first-seen order as one by one
        slot.names.update(seen_names)
    for slot, *seen_families in families.values():
        slot.families.update(seen_families)
    groups = [(s.group, s.role) for s in template]
    return Template(template, groups, {id(s): i for i, s in enumerate(template)}), per_layer
