"""The per-layer table of one stage (JSON ``stages[].layers``), from the records' layer keys.

Rule (exact, integer ns): ``count × forward_passes × per_layer_ns + remainder_ns + outside_ns ==
kernel_time_ns``. ``in_layers_ns`` is the summed time of the kernels inside decoder layers;
``per_layer_ns`` its integer mean per layer (floor) and ``remainder_ns`` the rest of that division
(``0 ≤ remainder_ns < count × forward_passes``). A layer that differs from the others (a dense
first layer of an MoE model, a first layer without a piece its successors have) still counts as one
of the ``count`` layers: its kernels sit in their own slots, whose ``layers`` field says in how many
of the layers they occur, and ``variants[]`` lists such layers. Everything outside the layers
(embedding, final norm, lm_head, sampling, scheduler work, passes whose layer count differs) is
``outside_ns``.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

from pipeline.analyze.table import Kernels, columns_of
from pipeline.layers.groups import group_labels

COLUMNS = ("display_name", "family", "dur_ns", "layer", "slot", "layer_pass", "layer_group", "slot_role",
           "layer_source")
TOP_OUTSIDE = 10
RULE = ("count × forward_passes × per_layer_ns + remainder_ns + outside_ns = kernel_time_ns; per_layer_ns is "
        "in_layers_ns // (count × forward_passes) and remainder_ns the rest of that division")


def _columns(kernels: Kernels) -> dict[str, list]:
    if isinstance(kernels, pa.Table):
        return {c: (kernels.column(c).to_pylist() if c in kernels.column_names else [None] * kernels.num_rows)
                for c in COLUMNS}
    return dict(zip(COLUMNS, columns_of(list(kernels), COLUMNS)))


def _slots(c: dict[str, list], rows: list[int], per: int, in_layers: int) -> list[dict]:
    by_slot: dict[int, list[int]] = defaultdict(list)
    slot_of = c["slot"]
    for i in rows:
        by_slot[slot_of[i]].append(i)
    acc: dict[int, dict] = {}
    for slot, idx in by_slot.items():  # counters in first-seen order, as per-row increments would leave them
        first = idx[0]
        acc[slot] = {"names": Counter(map(c["display_name"].__getitem__, idx)),
                     "families": Counter(map(c["family"].__getitem__, idx)),
                     "time_ns": sum(map(c["dur_ns"].__getitem__, idx)), "launches": len(idx),
                     "layers": set(zip(map(c["layer_pass"].__getitem__, idx), map(c["layer"].__getitem__, idx))),
                     "group": c["layer_group"][first], "role": c["slot_role"][first]}
    out = []
    for slot in sorted(acc):
        s = acc[slot]
        out.append({
            "slot": slot, "name": s["names"].most_common(1)[0][0], "names": [n for n, _ in s["names"].most_common(3)],
            "family": s["families"].most_common(1)[0][0], "group": s["group"],
            "group_label": group_labels().get(s["group"], s["group"]), "role": s["role"],
            "time_ns": s["time_ns"], "ns_per_layer": s["time_ns"] / per, "launches_per_layer": s["launches"] / per,
            "layers": len(s["layers"]), "share": s["time_ns"] / in_layers if in_layers else 0.0,
        })
    return out


def _groups(slots: list[dict], per: int, in_layers: int) -> list[dict]:
    labels = group_labels()
    acc: dict[str, dict] = {}
    for s in slots:
        g = acc.setdefault(s["group"], {"group": s["group"], "label": labels.get(s["group"], s["group"]),
                                        "time_ns": 0, "slots": []})
        g["time_ns"] += s["time_ns"]
        g["slots"].append(s["slot"])
    out = [dict(g, ns_per_layer=g["time_ns"] / per, share=g["time_ns"] / in_layers if in_layers else 0.0)
           for g in acc.values()]
    return sorted(out, key=lambda g: (-g["time_ns"], g["group"]))


def _outside(c: dict[str, list], rows: list[int], total: int) -> list[dict]:
    acc: dict[str, list] = defaultdict(lambda: [0, 0, None])
    for i in rows:
        a = acc[c["display_name"][i]]
        a[0] += c["dur_ns"][i]
        a[1] += 1
        a[2] = a[2] or c["family"][i]
    top = sorted(acc.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_OUTSIDE]
    return [{"name": n, "family": f, "time_ns": t, "launches": k, "share": t / total if total else 0.0}
            for n, (t, k, f) in top]


def _variants(c: dict[str, list], rows: list[int]) -> list[dict]:
    """Layers whose set of slots differs from the most common one: which slots they lack or add."""
    per_layer: dict[tuple, set] = defaultdict(set)
    for i in rows:
        per_layer[(c["layer_pass"][i], c["layer"][i])].add(c["slot"][i])
    shapes = Counter(frozenset(v) for v in per_layer.values())
    if len(shapes) < 2:
        return []
    usual = shapes.most_common(1)[0][0]
    grouped: dict[frozenset, list] = defaultdict(list)
    for (p, layer), slots in sorted(per_layer.items()):
        if frozenset(slots) != usual:
            grouped[frozenset(slots)].append(layer)
    return [{"layers": sorted(set(layers)), "occurrences": len(layers), "missing_slots": sorted(usual - shape),
             "extra_slots": sorted(shape - usual)} for shape, layers in grouped.items()]


def layer_table(kernels: Kernels, info: dict | None = None) -> dict | None:
    """``stages[].layers`` for one stage's kernels (records carrying the layer keys); None when the
    stage has no layer structure (`info["reason"]` says why)."""
    c = _columns(kernels)
    n = len(c["dur_ns"])
    total = sum(c["dur_ns"])
    inside = [i for i in range(n) if c["layer"][i] is not None]
    if not inside:
        return None
    passes = {c["layer_pass"][i] for i in inside}
    count = max(c["layer"][i] for i in inside) + 1
    per = count * len(passes)
    in_layers = sum(c["dur_ns"][i] for i in inside)
    per_layer = in_layers // per
    outside_rows = [i for i in range(n) if c["layer"][i] is None]
    slots = _slots(c, inside, per, in_layers)
    sources = Counter(c["layer_source"][i] for i in inside)
    return {
        "count": count, "forward_passes": len(passes), "source": sources.most_common(1)[0][0],
        "kernel_time_ns": total, "in_layers_ns": in_layers, "per_layer_ns": per_layer,
        "remainder_ns": in_layers - per * per_layer, "outside_ns": total - in_layers, "rule": RULE,
        "slots": slots, "groups": _groups(slots, per, in_layers), "outside": _outside(c, outside_rows, total),
        "variants": _variants(c, inside), "excluded_passes": (info or {}).get("excluded_passes", 0),
    }


def combine(parts: dict) -> dict | None:
    """One table from per-rank tables of the same stage (same template): times and passes summed, the
    rule recomputed on the sums (``outside[]`` merges each rank's top kernels, so it is a lower bound)."""
    present = [p for p in parts.values() if p]
    if not present:
        return None
    first = present[0]
    passes = sum(p["forward_passes"] for p in present)
    per = first["count"] * passes
    total = sum(p["kernel_time_ns"] for p in present)
    in_layers = sum(p["in_layers_ns"] for p in present)
    slots: dict[int, dict] = {}
    for p in present:
        for s in p["slots"]:
            acc = slots.setdefault(s["slot"], dict(s, time_ns=0, launches=0.0, layers=0))
            acc["time_ns"] += s["time_ns"]
            acc["launches"] += s["launches_per_layer"] * p["count"] * p["forward_passes"]
            acc["layers"] += s["layers"]
    merged = []
    for s in sorted(slots.values(), key=lambda s: s["slot"]):
        launches = s.pop("launches")
        merged.append(dict(s, ns_per_layer=s["time_ns"] / per, launches_per_layer=launches / per,
                           share=s["time_ns"] / in_layers if in_layers else 0.0))
    acc: dict[str, dict] = {}
    for o in (o for p in present for o in p["outside"]):
        a = acc.setdefault(o["name"], dict(o, time_ns=0, launches=0))
        a["time_ns"] += o["time_ns"]
        a["launches"] += o["launches"]
    outside = [dict(o, share=o["time_ns"] / total if total else 0.0)
               for o in sorted(acc.values(), key=lambda o: (-o["time_ns"], o["name"]))[:TOP_OUTSIDE]]
    return {**first, "forward_passes": passes, "kernel_time_ns": total, "in_layers_ns": in_layers,
            "per_layer_ns": in_layers // per, "remainder_ns": in_layers - per * (in_layers // per),
            "outside_ns": total - in_layers, "slots": merged, "groups": _groups(merged, per, in_layers),
            "outside": outside, "variants": [v for p in present for v in p["variants"]],
            "excluded_passes": sum(p["excluded_passes"] for p in present)}
