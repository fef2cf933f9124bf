"""The diff's rules on hand-made inputs, expectations worked out by hand: noise and significance,
the matching cascade, fusion and launch-group changes."""

from __future__ import annotations

import math

import pytest

from pipeline.diff.changes import fusions, launch_groups
from pipeline.diff.match import match_rows
from pipeline.diff.noise import K, Samples, judge, noise_of
from pipeline.diff.sides import Row


def test_noise_is_k_standard_errors_of_the_difference_of_the_means() -> None:
    base = Samples(36, (10, 12, 14))  # mean 12, sample variance 4
    variant = Samples(66, (20, 22, 24))  # mean 22, sample variance 4
    assert noise_of(base, variant) == pytest.approx(K * math.sqrt(4 / 3 + 4 / 3))
    v = judge(base, variant, per_step=True)
    assert (v.base_ns, v.variant_ns, v.delta_ns) == (12, 22, 10)
    assert v.noise_ns == round(3 * math.sqrt(8 / 3)) and v.significant and v.change == "slower"


def test_a_side_with_one_step_borrows_the_other_sides_spread() -> None:
    base = Samples(36, (10, 12, 14))
    variant = Samples(13, (13,))
    assert noise_of(base, variant) == pytest.approx(3 * math.sqrt(4 / 3 + 4 / 1))
    v = judge(base, variant, per_step=True)
    assert v.delta_ns == 1 and not v.significant and v.change == "same"  # 1 ns is inside ~7.4 ns of noise


def test_with_one_step_per_side_the_noise_is_unknown_and_nothing_is_significant() -> None:
    v = judge(Samples(100, (100,)), Samples(150, (150,)), per_step=True)
    assert v.noise_ns is None and not v.significant and v.change == "slower" and v.delta_ns == 50


def test_totals_are_compared_when_a_side_has_no_steps() -> None:
    v = judge(Samples(1000, ()), Samples(900, ()), per_step=False)
    assert (v.base_ns, v.variant_ns, v.delta_ns, v.noise_ns, v.change) == (1000, 900, -100, None, "faster")


def test_per_step_means_make_different_step_counts_comparable() -> None:
    v = judge(Samples(300, (100, 100, 100)), Samples(500, (100, 100, 100, 100, 100)), per_step=True)
    assert v.delta_ns == 0 and v.change == "same" and not v.significant


def test_a_change_under_one_percent_is_not_significant_even_without_spread() -> None:
    same = judge(Samples(3000, (1000, 1000, 1000)), Samples(3015, (1005, 1005, 1005)), per_step=True)
    assert same.noise_ns == 0 and not same.significant and same.change == "same"  # 0.5 %
    moved = judge(Samples(3000, (1000, 1000, 1000)), Samples(3060, (1020, 1020, 1020)), per_step=True)
    assert moved.significant and moved.change == "slower"  # 2 %


def test_new_and_gone() -> None:
    absent = Samples(0, (0, 0), present=False)
    new = judge(absent, Samples(40, (20, 20)), per_step=True)
    gone = judge(Samples(40, (20, 20)), absent, per_step=True)
    assert (new.change, new.delta_ns, gone.change, gone.delta_ns) == ("new", 20, "gone", -20)
    assert new.significant and gone.significant  # no spread on either side, 100 % change


def _row(name: str, family: str, site: str, total: int, first: int, slot: int | None = None) -> Row:
    return Row(name, family, site, total_ns=total, launches=1, first_seq=first, slot=slot)


def _pairs(base: list[Row], variant: list[Row]) -> set[tuple]:
    return {(p.base.name if p.base else None, p.variant.name if p.variant else None, p.rule)
            for p in match_rows(base, variant)}


def test_matching_prefers_name_and_site_then_name() -> None:
    base = [_row("gemm_a", "gemm", "linear.py:10", 100, 0), _row("norm", "norm", "(graph replay, unmapped)", 50, 1)]
    variant = [_row("gemm_a", "gemm", "linear.py:10", 90, 0), _row("norm", "norm", "layernorm.py:5", 50, 1)]
    assert _pairs(base, variant) == {("gemm_a", "gemm_a", "site"), ("norm", "norm", "name")}


def test_renamed_kernels_pair_by_order_of_first_appearance_within_the_family() -> None:
    base = [_row("gemm_tile0_q", "gemm", "s", 10, 0), _row("attn", "attention", "s", 30, 1),
            _row("gemm_tile0_o", "gemm", "s", 20, 2), _row("old_act", "activation", "s", 5, 3)]
    variant = [_row("gemm_tile1_q", "gemm", "s", 11, 0), _row("attn", "attention", "s", 30, 1),
               _row("gemm_tile1_o", "gemm", "s", 21, 2), _row("new_norm", "norm", "s", 5, 3)]
    assert _pairs(base, variant) == {("gemm_tile0_q", "gemm_tile1_q", "order"), ("attn", "attn", "site"),
                                     ("gemm_tile0_o", "gemm_tile1_o", "order"), ("old_act", None, None),
                                     (None, "new_norm", None)}


def test_a_slot_decides_before_the_order_and_different_slots_never_pair() -> None:
    # by order the variant's first GEMM would pair with the base's first; the slots say otherwise
    base = [_row("g0", "gemm", "s", 10, 0, slot=1), _row("g1", "gemm", "s", 20, 1, slot=4),
            _row("g2", "gemm", "s", 20, 2, slot=6)]
    variant = [_row("h1", "gemm", "s", 20, 0, slot=4), _row("h0", "gemm", "s", 10, 1, slot=1),
               _row("h9", "gemm", "s", 20, 2, slot=9)]
    assert _pairs(base, variant) == {("g0", "h0", "slot"), ("g1", "h1", "slot"), ("g2", None, None),
                                     (None, "h9", None)}


def _fusion(pattern: str, status: str, time_ns: int) -> dict:
    return {"pattern": pattern, "title": pattern.upper(), "status": status, "time_ns": time_ns}


def test_fusions_whose_status_changed() -> None:
    base = {"fusions": [_fusion("a", "split", 50), _fusion("b", "fused", 10), _fusion("c", "split", 5)]}
    variant = {"fusions": [_fusion("a", "fused", 40), _fusion("b", "fused", 10), _fusion("d", "both", 7)]}
    got = {(f["pattern"], f["base_status"], f["variant_status"], f["change"]) for f in fusions(base, variant)}
    assert got == {("a", "split", "fused", "fused"), ("c", "split", None, "gone"), ("d", None, "both", "new")}


def _group(op: str, kernels: list[str], time_ns: int) -> dict:
    return {"cpu_op": op, "site": "x.py:1 f", "kernels": kernels, "occurrences": 3, "time_ns": time_ns}


def test_launch_groups_that_changed() -> None:
    base = {"launch_groups": [_group("mm", ["gemm", "splitK"], 90), _group("fwd", ["prep", "fa", "combine"], 50),
                              _group("scan", ["init", "scan"], 4)]}
    variant = {"launch_groups": [_group("mm", ["gemm"], 80), _group("fwd", ["prep", "fa", "combine"], 55),
                                 _group("topk", ["a", "b"], 9)]}
    got = {(g["cpu_op"], tuple(g["base_kernels"] or ()), tuple(g["variant_kernels"] or ()), g["change"])
           for g in launch_groups(base, variant)}
    assert got == {("mm", ("gemm", "splitK"), ("gemm",), "changed"), ("scan", ("init", "scan"), (), "gone"),
                   ("topk", (), ("a", "b"), "new")}
