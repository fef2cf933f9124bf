"""What a reader of a diff chooses: the per-row cutoff (applied to the kernel rows of each stage)."""

from __future__ import annotations

CUTOFF_RULE = ("per-row: kernel rows whose |delta_ns| is below the cutoff % of the stage's base_ns (the variant's "
               "when the base lacks the stage) are hidden, unless significant")


def apply_cutoff(diff: dict, cutoff_pct: float, limit: int | None = None) -> dict:
    """Hide small kernel rows of every stage (in place) and say in ``cutoff`` what was hidden; returns `diff`."""
    for stage in diff["stages"]:
        scale = stage["base_ns"] or stage["variant_ns"]
        floor = scale * cutoff_pct / 100.0
        rows = stage["kernels"]
        shown = [r for r in rows if r["significant"] or abs(r["delta_ns"]) >= floor] if cutoff_pct > 0 else list(rows)
        if limit and limit > 0:
            shown = shown[:limit]
        kept = {id(r) for r in shown}
        hidden = [r for r in rows if id(r) not in kept]
        stage["kernels"] = shown
        stage["cutoff"] = {"cutoff_pct": cutoff_pct, "rule": CUTOFF_RULE, "row_limit": limit,
                           "hidden_rows": len(hidden), "hidden_delta_ns": sum(r["delta_ns"] for r in hidden),
                           "hidden_abs_delta_ns": sum(abs(r["delta_ns"]) for r in hidden)}
    return diff


def render_diff_markdown(diff: dict, heading_level: int = 1) -> str:
    """A diff (cutoff applied) as markdown (`templates/diff.md.j2`)."""
    from pipeline.render.markdown import render

    return render("diff.md.j2", diff=diff, heading_level=heading_level)
