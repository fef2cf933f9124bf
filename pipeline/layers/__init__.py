"""Layer structure: forward passes, decoder layers and slots of each stage (docs/layers.md).

`assign_layers(records)` is a facts step: it adds ``layer``, ``slot``, ``layer_pass``,
``layer_group``, ``slot_role`` and ``layer_source`` to every kernel record (None outside the
layers) and returns, per stage, what it found. `pipeline.layers.table.layer_table` turns one
stage's records into the per-layer table.
"""

from __future__ import annotations

from collections import Counter

from pipeline.layers.detect import Pass, find_passes, step_groups
from pipeline.layers.slots import build
from pipeline.stage import OUTSIDE, group_by_stage

LAYER_KEYS = ("layer", "slot", "layer_pass", "layer_group", "slot_role", "layer_source")
NO_LAYERS = "no repeating kernel sequence and no nn.Module layer frames: no decoder layers found"
NO_ATTENTION = ("kernel blocks repeat, but none holds an attention kernel (families: pipeline/catalog/"
                "kernel_families.toml): not decoder layers")


def _key(r: dict) -> str:
    return r.get("display_name") or r.get("name") or ""


def _passes(records: list[dict]) -> list[Pass]:
    return [p for group in step_groups(records) for p in find_passes(group, _key)]


def _modal_count(passes: list[Pass]) -> int:
    counts = Counter(len(p.layers) for p in passes)
    return max(counts, key=lambda c: (counts[c], c))


def _mark(passes: list[Pass], count: int) -> dict:
    """Set the layer keys on the kernels of `passes` (all of `count` layers); return the stage info
    (``reason`` set and nothing marked when the repeating blocks hold no attention: no decoder layers)."""
    template, per_layer = build([layer for p in passes for layer in p.layers])
    if not any(g == "attention" for g, _ in template.groups):
        return {"count": None, "forward_passes": 0, "source": None, "slots": [], "reason": NO_ATTENTION}
    sources = Counter(p.source for p in passes)
    source = sources.most_common(1)[0][0]
    it = iter(per_layer)
    for pi, p in enumerate(passes):
        for li, layer in enumerate(p.layers):
            for r, slot in zip(layer, next(it)):
                s = template.index[id(slot)]
                group, role = template.groups[s]
                r.update(layer=li, slot=s, layer_pass=pi, layer_group=group, slot_role=role, layer_source=p.source)
    slots = [{"slot": i, "name": s.names.most_common(1)[0][0] if s.names else s.key, "key": s.key,
              "family": s.families.most_common(1)[0][0] if s.families else "other",
              "group": g, "role": role} for i, (s, (g, role)) in enumerate(zip(template.slots, template.groups))]
    return {"count": count, "forward_passes": len(passes), "source": source, "slots": slots, "reason": None}


def assign_layers(records: list[dict]) -> dict[str, dict]:
    """Add the layer keys to every record (in place); return ``{stage: info}`` per stage.

    ``info``: ``count`` (layers per forward pass), ``forward_passes``, ``source``, ``slots`` (template:
    ``slot, name, key, family, group, role``), ``excluded_passes`` (passes whose layer count differs
    from the stage's usual one; their kernels stay outside the layers) and ``reason`` (why there is
    no structure, else None).
    """
    blank = dict.fromkeys(LAYER_KEYS)
    for r in records:
        r.update(blank)
    out: dict[str, dict] = {}
    for stage, kernels in group_by_stage(records).items():
        if stage == OUTSIDE:
            continue
        passes = _passes(kernels)
        if not passes:
            out[stage] = {"count": None, "forward_passes": 0, "source": None, "slots": [], "reason": NO_LAYERS,
                          "excluded_passes": 0}
            continue
        count = _modal_count(passes)
        kept = [p for p in passes if len(p.layers) == count]
        out[stage] = _mark(kept, count)
        out[stage]["excluded_passes"] = len(passes) - len(kept)
    return out
