"""Compare two sides stage by stage: totals, kernel rows (matched, `pipeline.diff.match`), families,
fusions, launch groups, coverage and alignment, each difference judged against the noise
(`pipeline.diff.noise`). The result is the JSON of docs/json-schema.md "diff" with every row; the
cutoff is applied by the reader (`pipeline.diff.present`)."""

from __future__ import annotations

from collections import defaultdict

from pipeline.diff import changes
from pipeline.diff.match import MATCH_RULES, Pair, match_rows
from pipeline.diff.noise import MIN_CHANGE, NOISE_RULE, K, Samples, Verdict, judge, samples, summed, unknown_reason
from pipeline.diff.sides import Row, Side, StageSide
from pipeline.report.headline import fmt_ns

DIFF_SCHEMA_VERSION = 1
DIFF_VERSION = 1  # bump when the comparison changes what it stores
OPTIONAL_KERNEL_FIELDS = ("base_name", "base_site")  # present only when they differ from name / site


def _samples(row: Row | None, steps: list) -> Samples:
    if row is None:
        return Samples(0, tuple(0 for _ in steps), present=False)
    return samples(row.total_ns, row.steps, steps)


def _stage_samples(side: StageSide) -> Samples:
    per_step: dict = defaultdict(int)
    for row in side.rows:
        for step, ns in row.steps.items():
            per_step[step] += ns
    return samples(side.total_ns, per_step, side.steps, present=side.report is not None)


def _basis(b: StageSide, v: StageSide) -> bool:
    """Per step when every side that has the stage has steps."""
    present = [s for s in (b, v) if s.report is not None]
    return bool(present) and all(s.steps for s in present)


def _impact(delta_ns: int, stage_base_ns: int) -> float | None:
    return delta_ns / stage_base_ns if stage_base_ns else None


def _judged(verdict: Verdict) -> dict:
    return {"base_ns": verdict.base_ns, "variant_ns": verdict.variant_ns, "delta_ns": verdict.delta_ns,
            "noise_ns": verdict.noise_ns}


def _kernel_row(pair: Pair, b: StageSide, v: StageSide, per_step: bool, stage_base_ns: int) -> dict:
    verdict = judge(_samples(pair.base, b.steps), _samples(pair.variant, v.steps), per_step)
    main = pair.variant or pair.base
    row = {"name": main.name, "family": main.family, "site": main.site, "match": pair.rule,
           "base_name": pair.base.name if pair.base and pair.variant and pair.base.name != main.name else None,
           "base_site": pair.base.site if pair.base and pair.variant and pair.base.site != main.site else None,
           **_judged(verdict),
           "base_launches": pair.base.launches if pair.base else 0,
           "variant_launches": pair.variant.launches if pair.variant else 0,
           "change": verdict.change, "significant": verdict.significant,
           "impact": _impact(verdict.delta_ns, stage_base_ns),
           "base_total_ns": pair.base.total_ns if pair.base else 0,
           "variant_total_ns": pair.variant.total_ns if pair.variant else 0}
    return {k: val for k, val in row.items() if val is not None or k not in OPTIONAL_KERNEL_FIELDS}


def _by_delta(row: dict) -> tuple:
    return (-abs(row["delta_ns"]), -max(row["base_ns"], row["variant_ns"]), row.get("name") or row.get("family"),
            row.get("site") or "")


def _family_rows(b: StageSide, v: StageSide, per_step: bool, stage_base_ns: int) -> list[dict]:
    fams_b: dict[str, list[Row]] = defaultdict(list)
    fams_v: dict[str, list[Row]] = defaultdict(list)
    for row in b.rows:
        fams_b[row.family].append(row)
    for row in v.rows:
        fams_v[row.family].append(row)
    out = []
    for family in sorted(set(fams_b) | set(fams_v)):
        sb = summed([_samples(r, b.steps) for r in fams_b.get(family, [])], len(b.steps))
        sv = summed([_samples(r, v.steps) for r in fams_v.get(family, [])], len(v.steps))
        verdict = judge(sb, sv, per_step)
        row = {"family": family, **_judged(verdict),
               "base_launches": sum(r.launches for r in fams_b.get(family, [])),
               "variant_launches": sum(r.launches for r in fams_v.get(family, [])),
               "change": verdict.change, "significant": verdict.significant,
               "impact": _impact(verdict.delta_ns, stage_base_ns)}
        out.append(row)
    return sorted(out, key=_by_delta)


def _signed_ns(ns: float) -> str:
    return ("+" if ns >= 0 else "−") + fmt_ns(abs(ns))


def summary_line(stage: dict) -> str:
    """'decode +6.2 % (+1.30 ms per step), 3 significant changes' — computed from the stage's figures."""
    name, unit = stage["stage"], "per step" if stage["basis"] == "per_step" else "in total"
    if stage["present"] != "both":
        side = stage["present"]
        ns = stage["base_ns"] if side == "base" else stage["variant_ns"]
        return f"{name}: only in the {side} ({fmt_ns(ns)} {unit})"
    share = stage["delta_share"]
    pct = "n/a" if share is None else f"{share * 100:+.1f} %"
    n = stage["significant_count"]
    line = f"{name} {pct} ({_signed_ns(stage['delta_ns'])} {unit})"
    if stage.get("noise_ns") is None:
        reason = stage["noise_note"].removeprefix("noise unknown: ").split(",")[0]
        return f"{line}, noise unknown ({reason}): no change is called significant"
    return f"{line}, {n} significant change{'' if n == 1 else 's'}"


def compare_stage(b: StageSide, v: StageSide) -> dict:
    """The diff of one stage (every kernel row; the cutoff is applied on read)."""
    per_step = _basis(b, v)
    whole = judge(_stage_samples(b), _stage_samples(v), per_step)
    stage_base = whole.base_ns
    kernels = sorted((_kernel_row(p, b, v, per_step, stage_base) for p in match_rows(b.rows, v.rows)), key=_by_delta)
    reason = unknown_reason(len(b.steps), len(v.steps)) if whole.noise_ns is None else None
    note = f"noise unknown: {reason or 'no step-to-step spread'}, so no difference is called significant" \
        if whole.noise_ns is None else None
    out = {"stage": b.stage, "present": "both" if b.report and v.report else "base" if b.report else "variant",
           "basis": "per_step" if per_step else "total", "base_steps": len(b.steps), "variant_steps": len(v.steps),
           "base_ns": whole.base_ns, "variant_ns": whole.variant_ns, "delta_ns": whole.delta_ns,
           "delta_share": whole.delta_ns / whole.base_ns if whole.base_ns else None,
           "noise_ns": whole.noise_ns, "noise_note": note, "significant": whole.significant,
           "significant_count": sum(1 for k in kernels if k["significant"])}
    out["summary"] = summary_line(out)
    out.update({"totals": changes.totals(b.report, v.report), "coverage": changes.coverage(b.report, v.report),
                "alignment": changes.alignment(b.report, v.report), "kernels": kernels,
                "families": _family_rows(b, v, per_step, stage_base),
                "fusions": changes.fusions(b.report, v.report),
                "launch_groups": changes.launch_groups(b.report, v.report)})
    return out


def rule() -> dict:
    """The rules a diff applies (the JSON `rule` object)."""
    return {"noise": NOISE_RULE, "k": K, "min_change": MIN_CHANGE, "matching": list(MATCH_RULES),
            "basis": "per step (total / steps) when both sides have step annotations, else stage totals"}


def _warnings(base: Side, variant: Side) -> list[str]:
    out = []
    for side, name in ((base, "base"), (variant, "variant")):
        if side.report.get("rejected"):
            out.append(f"{name} {side.root} was rejected ({side.report['rejected']}): it has no stage to compare")
    for key in ("framework", "model"):
        if base.info[key] != variant.info[key]:
            out.append(f"the sides differ in {key}: base {base.info[key]!r}, variant {variant.info[key]!r}")
    if base.view != variant.view:
        out.append(f"the sides are read in different views: base {base.view!r}, variant {variant.view!r}")
    return out


def diff_sides(base: Side, variant: Side, stage: str | None = None) -> dict:
    """The diff of two sides (every stage either has, or only `stage`), every row kept."""
    names = list(base.stages) + [s for s in variant.stages if s not in base.stages]
    if stage is not None:
        if stage not in names:
            raise KeyError(f"--stage {stage}: neither side has it (stages: {', '.join(names) or 'none'})")
        names = [stage]
    return {"schema_version": DIFF_SCHEMA_VERSION, "tool": "proftriage", "kind": "diff",
            "base": base.info, "variant": variant.info, "rule": rule(), "warnings": _warnings(base, variant),
            "stages": [compare_stage(base.stage(s), variant.stage(s)) for s in names]}
