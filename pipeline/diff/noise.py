"""Run-to-run noise, and whether a difference exceeds it (docs/diff.md "Noise").

A quantity (a kernel row, a family, a stage) has on each side its time in every step of the stage
(0 in a step where it does not run). The comparison is per step when both sides have steps (the
mean per step: total / steps), else of the totals. Its noise is the spread of the per-step values:

    noise_ns = K × sqrt(s_base² / n_base + s_variant² / n_variant)

with s² the sample variance over a side's n steps — K standard errors of the difference of the two
means. A side with fewer than two steps borrows the other side's variance; with fewer than two steps
on both sides (or no steps) the noise is unknown. A difference is significant when
|delta| > noise_ns and |delta| ≥ MIN_CHANGE × the larger side; with the noise unknown, nothing is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

K = 3.0  # standard errors a difference must exceed
MIN_CHANGE = 0.01  # and at least this share of the larger side (below it, a change is "same")
NOISE_RULE = (f"noise_ns = {K:g} × sqrt(s_base²/n_base + s_variant²/n_variant), s² the sample variance of the "
              "per-step time over a side's n steps (a side with one step borrows the other side's s²); "
              f"significant when |delta_ns| > noise_ns and |delta_ns| ≥ {MIN_CHANGE:.0%} of the larger side")


@dataclass(frozen=True)
class Samples:
    """A quantity's time on one side: the stage total and its value in each of the stage's steps."""

    total_ns: int
    per_step: tuple[int, ...]  # one value per step of the stage (0 where absent)
    present: bool = True

    @property
    def steps(self) -> int:
        return len(self.per_step)

    def level(self, per_step: bool) -> float:
        """The compared figure: mean per step (total / steps) or the total."""
        return self.total_ns / self.steps if per_step and self.steps else float(self.total_ns)

    def variance(self) -> float | None:
        """Sample variance of the per-step values (None with fewer than two steps)."""
        n = self.steps
        if n < 2:
            return None
        mean = sum(self.per_step) / n
        return sum((v - mean) ** 2 for v in self.per_step) / (n - 1)


def samples(total_ns: int, per_step: dict, steps: Sequence, present: bool = True) -> Samples:
    """`Samples` of a quantity whose per-step times are `per_step` (step → ns) over the stage's `steps`."""
    return Samples(int(total_ns), tuple(int(per_step.get(s, 0)) for s in steps), present)


def summed(parts: Iterable[Samples], steps: int) -> Samples:
    """The samples of a sum of quantities (a family: its rows) over one side's `steps` steps."""
    parts = list(parts)
    per_step = tuple(sum(p.per_step[i] for p in parts) for i in range(steps))
    return Samples(sum(p.total_ns for p in parts), per_step, any(p.present for p in parts))


@dataclass(frozen=True)
class Verdict:
    """One compared quantity: both sides on one basis, the difference, its noise and the call."""

    base_ns: int
    variant_ns: int
    delta_ns: int
    noise_ns: int | None
    significant: bool
    change: str  # same | faster | slower | new | gone


def noise_of(base: Samples, variant: Samples) -> float | None:
    """K standard errors of the difference of the two per-step means (None: unknown)."""
    vb, vv = base.variance(), variant.variance()
    if vb is None and vv is None:
        return None
    vb = vv if vb is None else vb
    vv = vb if vv is None else vv
    return K * math.sqrt(vb / max(base.steps, 1) + vv / max(variant.steps, 1))


def judge(base: Samples, variant: Samples, per_step: bool) -> Verdict:
    """Compare one quantity across the sides (basis: per step, or totals)."""
    b, v = base.level(per_step), variant.level(per_step)
    delta = v - b
    noise = noise_of(base, variant) if per_step else None
    significant = (noise is not None and abs(delta) > noise
                   and abs(delta) >= MIN_CHANGE * max(abs(b), abs(v)))
    if not base.present:
        change = "new"
    elif not variant.present:
        change = "gone"
    elif delta == 0 or (noise is not None and not significant):
        change = "same"
    else:
        change = "slower" if delta > 0 else "faster"
    return Verdict(round(b), round(v), round(v) - round(b), None if noise is None else round(noise),
                   significant, change)


def unknown_reason(base_steps: int, variant_steps: int) -> str | None:
    """Why the noise of a stage is unknown, in a few words (None when it is known)."""
    if not base_steps or not variant_steps:
        return "a side has no step annotations"
    if base_steps < 2 and variant_steps < 2:
        return "one step per side"
    return None
