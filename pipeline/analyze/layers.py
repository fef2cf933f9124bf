"""The per-layer stage analyzer (`stages[].layers`, docs/layers.md) over the layer keys the facts
carry (`pipeline.layers.assign_layers`); per rank, one table each, combined over several ranks."""

from __future__ import annotations

from pipeline.analyze.protocol import StagePart
from pipeline.layers.table import combine, layer_table


def _info(part: StagePart) -> dict | None:
    return (part.ctx.notes.get(part.stage) or {}).get("layers")


def no_layer_warnings(notes: dict) -> list[str]:
    """One warning per stage without decoder layers, saying why (the JSON `layers` is then null)."""
    return [f"stage {stage}: no per-layer table: {n['layers']['reason']}"
            for stage, n in sorted(notes.items()) if (n.get("layers") or {}).get("reason")]


class LayerTable:
    """Stage field ``layers``: layers per forward pass, the mean layer, its slots and groups, what lies
    outside the layers (null when the stage has no decoder layers)."""

    name = "layers"

    def run(self, part: StagePart, done: dict) -> dict:
        return {"layers": layer_table(part.table, _info(part))}

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict:
        return {"layers": combine({r: p["layers"] for r, p in parts.items()})}
