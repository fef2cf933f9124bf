"""Slot-wise transfer: a kernel takes the site of the source kernel at the same layer and slot.

Both sides carry the layer keys of `pipeline.layers.assign_layers`. The two slot templates are
aligned once (a few dozen slots: same kernel, group and role score 3, same group and role 1), then every target
kernel that needs a site looks up the source kernel at ``(its layer, the matched slot)`` — a dict
lookup, so the transfer is linear. Kernels outside the layers (embedding, final norm, lm_head,
sampling) are short sequences per step and keep the whole-sequence alignment
(`pipeline.align.sequence.align_sequences`) — the only place it is still used when layers exist.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pipeline.align.sequence import align_sequences, is_wrapper_site, normalise_key
from pipeline.classify import classify
from pipeline.layers.detect import step_groups
from pipeline.layers.groups import base_group
from pipeline.layers.slots import Slot, align

REAL = ("direct", "enclosing", "mapped")
MAX_OUTSIDE_CELLS = 250_000  # outside-layer sequences longer than this product are left unmapped


def needs_site(r: dict) -> bool:
    """A graph replay or unattributed kernel without a real site of its own."""
    att = r.get("attribution")
    if att in ("direct", "mapped", "cross_root", "catalog"):
        return False
    site = r.get("site")
    if r.get("is_graph"):
        return True
    return (att == "none" and (not site or is_wrapper_site(site))) or (att == "enclosing" and is_wrapper_site(site))


def has_site(r: dict) -> bool:
    """A kernel whose own attribution reaches a real (non-wrapper) site."""
    return r.get("attribution") in REAL and bool(r.get("site")) and not is_wrapper_site(r.get("site"))


def template_of(records: list[dict]) -> list[Slot]:
    """The slot template (by slot index) of one stage's records."""
    keys: dict[int, Counter] = defaultdict(Counter)
    for r in records:
        if r.get("slot") is not None:
            name = r.get("name") or ""
            keys[r["slot"]][(normalise_key(name), base_group(name, r.get("family")), r.get("layer_group") or "other",
                             r.get("slot_role"))] += 1
    if not keys:
        return []
    return [Slot(*keys[i].most_common(1)[0][0]) if i in keys else Slot("", "other") for i in range(max(keys) + 1)]


def match_slots(target: list[Slot], source: list[Slot]) -> dict[int, tuple[int, str]]:
    """Target slot → (source slot, ``exact`` | ``family``)."""
    sig = [(s.key, s.base, s.group, s.role) for s in target]
    out = {}
    for t, s in enumerate(align(sig, source)):
        if s is not None:
            out[t] = (s, "exact" if target[t].key == source[s].key else "family")
    return out


def source_stage(target_stage: str, source: list[dict]) -> list[dict]:
    """The source records of the stage to map from: the same stage, else the one with most layer kernels."""
    by_stage: dict[str, list[dict]] = defaultdict(list)
    for r in source:
        if r.get("layer") is not None:
            by_stage[r["stage"]].append(r)
    if not by_stage:
        return []
    chosen = target_stage if target_stage in by_stage else max(by_stage, key=lambda s: len(by_stage[s]))
    return [r for r in source if r["stage"] == chosen]


def _index(source: list[dict]) -> tuple[dict, dict]:
    by_layer: dict[tuple[int, int], dict] = {}
    by_slot: dict[int, dict] = {}
    for r in source:
        if r.get("slot") is None or not has_site(r):
            continue
        by_layer.setdefault((r["slot"], r["layer"]), r)
        by_slot.setdefault(r["slot"], r)
    return by_layer, by_slot


def shown_site(site: str, kind: str) -> str:
    """A transferred site as stored: a site from another root says so (``cross_root: <site>``)."""
    return f"{kind}: {site}" if kind == "cross_root" else site


def _copy(dst: dict, src: dict, kind: str, label: str, match: str | None) -> None:
    dst.update(site=shown_site(src["site"], kind), stack=src.get("stack") or [], cpu_op=src.get("cpu_op"),
               cpu_op_ev=src.get("cpu_op_ev"), cpu_op_file_id=src.get("file_id"),  # the op lives in src's file
               attribution=kind, mapped_from=label, match_kind=match)


def _outside_pairs(target: list[dict], source: list[dict]) -> list[tuple[dict, dict, str]]:
    """(target, source, kind) for the kernels outside the layers, step by step, by sequence alignment."""
    src_steps = step_groups([r for r in source if r.get("layer") is None])
    src = max(src_steps, key=lambda s: sum(1 for r in s if has_site(r)), default=[])
    out = []
    for tgt in step_groups([r for r in target if r.get("layer") is None]):
        if not tgt or not src or len(tgt) * len(src) > MAX_OUTSIDE_CELLS:
            continue
        pairs, _ = align_sequences([normalise_key(r["name"]) for r in src], [normalise_key(r["name"]) for r in tgt],
                                   [classify(r["name"]) for r in src], [classify(r["name"]) for r in tgt])
        out += [(tgt[j], src[i], kind) for i, j, kind in pairs]
    return out


def slot_transfer(target: list[dict], source: list[dict], kind: str, label: str) -> list[tuple[dict, dict]]:
    """Give every target kernel that `needs_site` the site, stack and CPU op of its source counterpart
    (in place; ``attribution = kind``, ``mapped_from = label``; a cross-root site is stored as
    ``cross_root: <site>``). Returns the (target, source) pairs."""
    t_slots, s_slots = template_of(target), template_of(source)
    matched = match_slots(t_slots, s_slots) if t_slots and s_slots else {}
    by_layer, by_slot = _index(source)
    pairs: list[tuple[dict, dict]] = []
    for r in target:
        if r.get("slot") is None or not needs_site(r) or r["slot"] not in matched:
            continue
        s, match = matched[r["slot"]]
        src = by_layer.get((s, r["layer"])) or by_slot.get(s)
        if src is not None:
            _copy(r, src, kind, label, match)
            pairs.append((r, src))
    for r, src, match in _outside_pairs(target, source):
        if needs_site(r) and has_site(src):
            _copy(r, src, kind, label, match)
            pairs.append((r, src))
    return pairs


def rate(target: list[dict], kind: str, label: str, needed: list[dict]) -> dict:
    """Match rate over the kernels that needed a site: by count and by time (the alignment dict shape)."""
    got = [r for r in needed if r.get("attribution") == kind]
    t = sum(r["dur_ns"] for r in needed)
    gt = sum(r["dur_ns"] for r in got)
    return {"by_count": len(got) / len(needed) if needed else 1.0, "by_time": gt / t if t else 1.0,
            "kernels": len(needed), "mapped": len(got), "time_ns": t, "mapped_ns": gt, "source": label,
            "method": "layer slots"}
